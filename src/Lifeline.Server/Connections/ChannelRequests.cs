using System.Text.Json;
using Lifeline.Engine;
using Lifeline.Protocol;
using Lifeline.Server.Channels;

namespace Lifeline.Server.Connections;

/// <summary>Channel requests of an open connection: subscribe, unsubscribe, publish, emit, presence. Each validates before anything changes.</summary>
internal static class ChannelRequests
{
    public static async Task HandleAsync(Connection connection, LifelineRuntime runtime, ClientMessage message)
    {
        try
        {
            switch (message)
            {
                case SubscribeMessage subscribe:
                    await SubscribeAsync(connection, runtime, subscribe);
                    break;
                case UnsubscribeMessage unsubscribe:
                    if (await connection.Subscriptions.UnsubscribeAsync(unsubscribe.Channel, connection.UserId, connection.SessionId!))
                    {
                        connection.Enqueue(new ReplyMessage(unsubscribe.Id, true));
                    }
                    else
                    {
                        Refuse(connection, unsubscribe.Id, ErrorCodes.NotSubscribed, $"not subscribed to '{unsubscribe.Channel}'");
                    }

                    break;
                case PublishMessage publish:
                    await PublishAsync(connection, runtime, publish);
                    break;
                case EmitMessage emit:
                    await EmitAsync(connection, runtime, emit);
                    break;
                case PresenceRequestMessage presence:
                    if (await AdmitAsync(connection, runtime, presence.Id, ChannelOperation.Presence, presence.Channel, default))
                    {
                        var members = await runtime.Engine.GetPresenceAsync(presence.Channel, connection.Aborted);
                        connection.Enqueue(new ReplyMessage(presence.Id, true) { Members = members });
                    }

                    break;
                default:
                    connection.Enqueue(new ErrorMessage(message.Id, ErrorCodes.UnknownType, $"unknown message type '{message.Type}'"));
                    break;
            }
        }
        catch (OperationCanceledException) when (connection.Aborted.IsCancellationRequested)
        {
            // the connection is going away; nobody is left to answer
        }
        catch (EngineUnavailableException ex)
        {
            Refuse(connection, message.Id, ErrorCodes.Unavailable, ex.Message);
        }
    }

    /// <summary>Answers a request with <c>ok:false</c> (or an <c>error</c> when it had no id).</summary>
    public static void Refuse(Connection connection, long? id, string code, string message) => connection.Enqueue(Refusal(id, code, message));

    private static ServerMessage Refusal(long? id, string code, string message) =>
        id is null ? new ErrorMessage(null, code, message) : new ReplyMessage(id, false) { Error = new ErrorInfo(code, message) };

    private static async Task SubscribeAsync(Connection connection, LifelineRuntime runtime, SubscribeMessage request)
    {
        if (!await AdmitAsync(connection, runtime, request.Id, ChannelOperation.Subscribe, request.Channel, default))
        {
            return;
        }

        var max = runtime.Options.MaxSubscriptionsPerConnection;
        var outcome = await connection.Subscriptions.SubscribeAsync(request.Id, request.Channel, request.Since, max, connection.UserId, connection.SessionId!, connection.MarkResyncWhenWritten);
        if (outcome == SubscribeOutcome.LimitExceeded)
        {
            Refuse(connection, request.Id, ErrorCodes.LimitExceeded, $"at most {max} subscriptions per connection");
        }
    }

    private static async Task PublishAsync(Connection connection, LifelineRuntime runtime, PublishMessage request)
    {
        if (runtime.PublishValidator.Validate(request.Patch, request.Key) is { } problem)
        {
            Refuse(connection, request.Id, problem.Code, problem.Message);
            return;
        }

        if (!await AdmitAsync(connection, runtime, request.Id, ChannelOperation.Publish, request.Channel, request.Patch))
        {
            return;
        }

        // The reply's place is taken before the engine runs: the embedded engine fans the delta out (to this connection
        // too) inside PublishAsync, and PROTOCOL.md promises the reply first.
        var slot = connection.ReserveReply();
        ServerMessage? reply = null;
        var applied = false;
        try
        {
            var scope = connection.UserId ?? "session:" + connection.SessionId;
            var result = await runtime.Engine.PublishAsync(new PublishRequest(request.Channel, request.Patch, scope, request.Key, request.If), connection.Aborted);
            applied = !result.Conflict;
            reply = result.Conflict
                ? PublishConflict.Reply(request.Id, result)
                : new ReplyMessage(request.Id, true) { Offset = result.Offset };
        }
        catch (EngineUnavailableException ex)
        {
            reply = Refusal(request.Id, ErrorCodes.Unavailable, ex.Message);
        }
        finally
        {
            connection.FillReply(slot, reply);
        }

        // Flow control: the reply is queued (ahead of the delta); the connection reads its next message once the channel's
        // fan-out backlog is under LifelineOptions.PublishBacklogLimit, so a client publishing flat out is paced too. Its own
        // subscription does not count: while held it is not read, and a client blocked on sending may stop reading.
        if (applied)
        {
            await runtime.Hub.WaitForBacklogAsync(request.Channel, connection, connection.Aborted);
        }
    }

    /// <summary>
    /// An <c>emit</c> (PROTOCOL.md "emit / event"): the channel name, the data's size (as a patch's: an oversized emit is
    /// <c>limit_exceeded</c> whether or not the connection subscribed), a subscription to the channel (<c>not_subscribed</c>
    /// otherwise: a connection emits only where it listens), the application's policy (<see cref="ChannelOperation.Emit"/>); the rate limit was taken by the dispatcher. Then the engine fans it
    /// out to every subscriber but this connection, and the reply follows. Nothing is stored.
    /// </summary>
    private static async Task EmitAsync(Connection connection, LifelineRuntime runtime, EmitMessage request)
    {
        if (ChannelNames.Validate(request.Channel, runtime.Options.MaxChannelNameLength) is { } badName)
        {
            Refuse(connection, request.Id, ErrorCodes.InvalidChannel, badName);
            return;
        }

        if (runtime.PublishValidator.ValidateData(request.Data) is { } problem)
        {
            Refuse(connection, request.Id, problem.Code, problem.Message);
            return;
        }

        if (!connection.Subscriptions.IsSubscribed(request.Channel))
        {
            Refuse(connection, request.Id, ErrorCodes.NotSubscribed, $"not subscribed to '{request.Channel}': subscribe before emitting");
            return;
        }

        if (!await AdmitAsync(connection, runtime, request.Id, ChannelOperation.Emit, request.Channel, request.Data))
        {
            return;
        }

        var ts = runtime.Time.GetUtcNow().ToUnixTimeMilliseconds();
        await runtime.Engine.EmitAsync(new ChannelEvent(request.Channel, connection.UserId, request.Data, ts, connection.Id), connection.Aborted);
        connection.Enqueue(new ReplyMessage(request.Id, true));
    }

    /// <summary>Channel-name rules, then the application's policy. Refusals are answered here.</summary>
    private static async Task<bool> AdmitAsync(Connection connection, LifelineRuntime runtime, long? id, ChannelOperation operation, string channel, JsonElement patch)
    {
        if (ChannelNames.Validate(channel, runtime.Options.MaxChannelNameLength) is { } problem)
        {
            Refuse(connection, id, ErrorCodes.InvalidChannel, problem);
            return false;
        }

        var decision = await runtime.ChannelPolicy.DecideAsync(new ChannelRequest(operation, channel, connection.UserId, connection.Id, patch) { Claims = connection.Credentials.Claims }, connection.Aborted);
        if (!decision.Allowed)
        {
            Refuse(connection, id, decision.Code, decision.Message);
            return false;
        }

        return true;
    }
}
