using Lifeline.Engine;
using Lifeline.Protocol;
using Lifeline.Server.Channels;

namespace Lifeline.Server.Internal;

/// <summary>Channel requests: subscribe, unsubscribe, publish, presence. Each validates before anything changes.</summary>
internal sealed partial class Connection
{
    // Guarded by _subscriptions, like the two fields below it.
    private readonly Dictionary<string, Subscription> _subscriptions = new(StringComparer.Ordinal);

    // The channels whose presence membership this connection holds (counted by PresenceTracker.SubscribedAsync).
    private readonly HashSet<string> _presenceCounted = new(StringComparer.Ordinal);

    // Set by teardown when it leaves every channel: a subscribe that completes later must undo itself.
    private bool _channelsClosed;

    /// <summary>The channels this connection is subscribed to.</summary>
    public IReadOnlyCollection<string> SubscribedChannels
    {
        get
        {
            lock (_subscriptions)
            {
                return [.. _subscriptions.Keys];
            }
        }
    }

    private async Task HandleRequestAsync(ClientMessage message)
    {
        try
        {
            switch (message)
            {
                case SubscribeMessage subscribe:
                    await SubscribeAsync(subscribe);
                    break;
                case UnsubscribeMessage unsubscribe:
                    await UnsubscribeAsync(unsubscribe);
                    break;
                case PublishMessage publish:
                    await PublishAsync(publish);
                    break;
                case PresenceRequestMessage presence:
                    await PresenceAsync(presence);
                    break;
                default:
                    Send(new ErrorMessage(message.Id, ErrorCodes.UnknownType, $"unknown message type '{message.Type}'"));
                    break;
            }
        }
        catch (OperationCanceledException) when (Aborted.IsCancellationRequested)
        {
            // the connection is going away; nobody is left to answer
        }
        catch (EngineUnavailableException ex)
        {
            Refuse(message.Id, ErrorCodes.Unavailable, ex.Message);
        }
    }

    private async Task SubscribeAsync(SubscribeMessage request)
    {
        if (!await AdmitAsync(request.Id, ChannelOperation.Subscribe, request.Channel, default))
        {
            return;
        }

        lock (_subscriptions)
        {
            if (!_subscriptions.ContainsKey(request.Channel) && _subscriptions.Count >= _runtime.Options.MaxSubscriptionsPerConnection)
            {
                Refuse(request.Id, ErrorCodes.LimitExceeded, $"at most {_runtime.Options.MaxSubscriptionsPerConnection} subscriptions per connection");
                return;
            }
        }

        Subscription? previous;
        bool counted;
        lock (_subscriptions)
        {
            if (_channelsClosed)
            {
                return; // torn down meanwhile
            }

            _subscriptions.Remove(request.Channel, out previous);
            counted = _presenceCounted.Contains(request.Channel);
        }

        if (previous is not null)
        {
            // A second subscribe to the same channel is a resync request (the client saw a hole): replace it.
            await _runtime.Hub.DetachAsync(previous);
        }

        // Teardown runs concurrently with this handler. Whatever it has already left (it sets _channelsClosed under the
        // lock as it collects the subscriptions and memberships) this subscribe must undo itself, or the subscription
        // stays attached to the channel and the membership stays counted after the connection is gone.
        var subscription = await _runtime.Hub.SubscribeAsync(this, request.Id, request.Channel, request.Since, Aborted);
        bool closed;
        lock (_subscriptions)
        {
            closed = _channelsClosed;
            if (!closed)
            {
                _subscriptions[request.Channel] = subscription;
            }
        }

        if (closed)
        {
            await _runtime.Hub.DetachAsync(subscription);
            return;
        }

        if (previous is null && request.Since is not null)
        {
            // A reconnecting client resubscribing from its last position: its catch-up for this channel is queued;
            // the resync latency (hello received -> catch-up written) is recorded once it is on the socket.
            // A later subscribe to the same channel (previous is not null) is a hole repair, not a reconnect: not counted.
            MarkResyncWhenWritten(_helloAt);
        }

        if (counted)
        {
            return;
        }

        await _runtime.Presence.SubscribedAsync(UserId, SessionId!, request.Channel, Aborted);
        lock (_subscriptions)
        {
            closed = _channelsClosed;
            if (!closed)
            {
                _presenceCounted.Add(request.Channel);
            }
        }

        if (closed)
        {
            _runtime.Presence.ConnectionGone(UserId, SessionId!, [request.Channel], normalClose: false);
        }
    }

    private async Task UnsubscribeAsync(UnsubscribeMessage request)
    {
        Subscription? subscription;
        bool counted;
        lock (_subscriptions)
        {
            _subscriptions.Remove(request.Channel, out subscription);
            counted = subscription is not null && _presenceCounted.Remove(request.Channel);
        }

        if (subscription is null)
        {
            Refuse(request.Id, ErrorCodes.NotSubscribed, $"not subscribed to '{request.Channel}'");
            return;
        }

        await _runtime.Hub.DetachAsync(subscription);
        if (counted)
        {
            await _runtime.Presence.UnsubscribedAsync(UserId, SessionId!, request.Channel);
        }

        Send(new ReplyMessage(request.Id, true));
    }

    private async Task PublishAsync(PublishMessage request)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(request.Patch.GetRawText()) > _runtime.Options.MaxPatchSize)
        {
            Refuse(request.Id, ErrorCodes.LimitExceeded, $"publish.patch is larger than {_runtime.Options.MaxPatchSize} bytes");
            return;
        }

        if (!await AdmitAsync(request.Id, ChannelOperation.Publish, request.Channel, request.Patch))
        {
            return;
        }

        var scope = UserId ?? "session:" + SessionId;
        var result = await _runtime.Engine.PublishAsync(new PublishRequest(request.Channel, request.Patch, scope, request.Key), Aborted);
        Send(new ReplyMessage(request.Id, true) { Offset = result.Offset });
    }

    private async Task PresenceAsync(PresenceRequestMessage request)
    {
        if (!await AdmitAsync(request.Id, ChannelOperation.Presence, request.Channel, default))
        {
            return;
        }

        var members = await _runtime.Engine.GetPresenceAsync(request.Channel, Aborted);
        Send(new ReplyMessage(request.Id, true) { Members = members });
    }

    /// <summary>Channel-name rules, then the application's policy. Refusals are answered here.</summary>
    private async Task<bool> AdmitAsync(long? id, ChannelOperation operation, string channel, System.Text.Json.JsonElement patch)
    {
        if (ChannelNames.Validate(channel, _runtime.Options.MaxChannelNameLength) is { } problem)
        {
            Refuse(id, ErrorCodes.InvalidChannel, problem);
            return false;
        }

        var decision = await _runtime.ChannelPolicy.DecideAsync(new ChannelRequest(operation, channel, UserId, Id, patch), Aborted);
        if (!decision.Allowed)
        {
            Refuse(id, decision.Code, decision.Message);
            return false;
        }

        return true;
    }

    private void Refuse(long? id, string code, string message)
    {
        if (id is null)
        {
            Send(new ErrorMessage(null, code, message));
        }
        else
        {
            Send(new ReplyMessage(id, false) { Error = new ErrorInfo(code, message) });
        }
    }

    /// <summary>Teardown step 4-5: leave every channel; presence leaves follow after the grace period.</summary>
    private async Task LeaveChannelsAsync(CloseCode code)
    {
        List<Subscription> subscriptions;
        List<string> memberships;
        lock (_subscriptions)
        {
            _channelsClosed = true;
            subscriptions = [.. _subscriptions.Values];
            _subscriptions.Clear();
            memberships = [.. _presenceCounted];
            _presenceCounted.Clear();
        }

        foreach (var subscription in subscriptions)
        {
            await _runtime.Hub.DetachAsync(subscription);
        }

        // Only the memberships this connection counted: a subscribe cut short before its membership was counted must
        // not decrement another connection's (the session's resumed connection would then be reported as gone).
        if (SessionId is not null)
        {
            _runtime.Presence.ConnectionGone(UserId, SessionId, memberships, normalClose: code.Code == CloseCode.Normal.Code);
        }
    }
}
