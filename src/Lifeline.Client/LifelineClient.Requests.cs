using System.Net.WebSockets;
using System.Text.Json;
using Lifeline.Client.Internal;
using Lifeline.Protocol;

namespace Lifeline.Client;

// Requests and the publish queue. Publishes live in one client-wide queue until acknowledged: made while disconnected
// they wait there; in flight when a connection drops they stay there and are re-sent, with the same key, on the next
// connection. Other requests are tied to their connection's token and fail with LifelineDisconnectedException when
// it ends: never left pending forever.
public sealed partial class LifelineClient
{
    /// <summary>The connection requests may be sent on now (welcome received), or null.</summary>
    internal ClientConnection? ReadyConnection
    {
        get
        {
            lock (_lock)
            {
                return _current is { Ready: true, IsEnded: false } c ? c : null;
            }
        }
    }

    /// <summary>Sends one message; a failure ends the connection and throws <see cref="LifelineDisconnectedException"/>.</summary>
    internal static async Task SendAsync(ClientConnection conn, ClientMessage message)
    {
        var bytes = ProtocolSerializer.Serialize(message);
        try
        {
            await conn.SendLock.WaitAsync(conn.Token).ConfigureAwait(false);
            try
            {
                await conn.Transport.SendAsync(bytes, conn.Token).ConfigureAwait(false);
            }
            finally
            {
                conn.SendLock.Release();
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            conn.Fail(DisconnectInfo.Lost($"send_failed: {ex.Message}", ex), abort: true);
            throw new LifelineDisconnectedException("the connection was lost while sending", ex);
        }
    }

    /// <summary>Sends and swallows a disconnect: for fire-and-forget messages (pong) whose failure the connection already records.</summary>
    private static async ValueTask TrySendAsync(ClientConnection conn, ClientMessage message)
    {
        try
        {
            await SendAsync(conn, message).ConfigureAwait(false);
        }
        catch (LifelineDisconnectedException)
        {
        }
    }

    /// <summary>
    /// Sends a request on <paramref name="conn"/> and returns, once it is sent, a task for its reply. The reply task
    /// faults with <see cref="LifelineDisconnectedException"/> when the connection ends first (its token is cancelled).
    /// </summary>
    internal async Task<Task<ServerMessage>> SendRequestAsync(ClientConnection conn, Func<long, ClientMessage> build)
    {
        var id = NextRequestId();
        var pending = new PendingRequest();
        pending.DisconnectRegistration = conn.Token.Register(
            static state => ((PendingRequest)state!).Reply.TrySetException(new LifelineDisconnectedException("the connection was lost before the server replied")),
            pending);
        conn.Pending[id] = pending;
        try
        {
            await SendAsync(conn, build(id)).ConfigureAwait(false);
        }
        catch
        {
            conn.Pending.TryRemove(id, out _);
            pending.DisconnectRegistration.Dispose();
            throw;
        }

        return pending.Reply.Task;
    }

    /// <summary>Turns a reply into its result: throws <see cref="LifelineRequestException"/> for a refusal.</summary>
    internal static T EnsureOk<T>(ServerMessage reply)
        where T : ServerMessage
    {
        return reply switch
        {
            T ok when ok is not ReplyMessage { Ok: false } => ok,
            ReplyMessage { Ok: false } refused => throw new LifelineRequestException(refused.Error?.Code ?? "refused", refused.Error?.Message ?? "the server refused the request"),
            ErrorMessage error => throw new LifelineRequestException(error.Code, error.Message),
            _ => throw new LifelineRequestException(ErrorCodes.InvalidMessage, $"unexpected reply of type {reply.Type}"),
        };
    }

    /// <summary>Re-subscribes every channel the application subscribed, with <c>since</c> = its last position.</summary>
    private async Task ResubscribeAllAsync(ClientConnection conn)
    {
        lock (_lock)
        {
            // From here on SubscribeAsync sends on this connection itself; channels it marked before are covered below.
            conn.Ready = true;
        }

        foreach (var channel in _channels.Values)
        {
            if (channel.TryBeginSubscribe(conn))
            {
                await SubscribeOnAsync(conn, channel, resync: false).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Starts a subscribe without waiting for it (gap recovery, SubscribeAsync).</summary>
    internal void StartSubscribe(ClientConnection conn, LifelineChannel channel, bool resync)
    {
        if (resync && !channel.TryBeginSubscribe(conn))
        {
            return;
        }

        conn.Track(SubscribeOnAsync(conn, channel, resync));
    }

    /// <summary>Sends <c>subscribe</c> and lets a background task observe the reply; never throws.</summary>
    private async Task SubscribeOnAsync(ClientConnection conn, LifelineChannel channel, bool resync)
    {
        var since = channel.Position;
        if (resync)
        {
            Log.Resubscribing(_logger, channel.Name, since?.Epoch, since?.Offset);
        }

        Task<ServerMessage> reply;
        try
        {
            reply = await SendRequestAsync(conn, id => new SubscribeMessage(channel.Name, since) { Id = id }).ConfigureAwait(false);
        }
        catch (LifelineDisconnectedException ex)
        {
            channel.OnSubscribeEnded(conn, ex, refused: false);
            return;
        }

        conn.Track(ObserveSubscribeAsync(conn, channel, reply));
    }

    private async Task ObserveSubscribeAsync(ClientConnection conn, LifelineChannel channel, Task<ServerMessage> reply)
    {
        try
        {
            EnsureOk<SubscribedMessage>(await reply.ConfigureAwait(false));
            channel.OnSubscribeEnded(conn, null, refused: false);
        }
        catch (LifelineRequestException ex)
        {
            Log.SubscribeRefused(_logger, channel.Name, ex.ErrorCode, ex.Message);
            channel.OnSubscribeEnded(conn, ex, refused: true);
        }
        catch (Exception ex)
        {
            channel.OnSubscribeEnded(conn, ex, refused: false);
        }
    }

    /// <summary>Queues a publish and sends it at once when the connection is open and its queue already flushed.</summary>
    internal async Task<long> PublishAsync(string channel, JsonElement patch, CancellationToken cancellationToken, Position? expected = null, bool supersedeEarly = false)
    {
        if (patch.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("a patch must be a JSON object (RFC 7396 merge patch)", nameof(patch));
        }

        var publish = new PendingPublish(channel, patch.Clone(), NextPublishKey()) { If = expected, SupersedeEarly = supersedeEarly && expected is not null };
        ClientConnection? sendNow = null;
        long id = 0;
        LifelineChannel? optimisticChannel = null;
        ChannelChangedEventArgs? optimisticChange = null;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_state == ClientState.Closed)
            {
                throw new InvalidOperationException("the client is closed; call ConnectAsync first");
            }

            if (_publishQueue.Count >= _options.OfflineQueueLimit)
            {
                throw new LifelineQueueFullException($"{_publishQueue.Count} publishes are already waiting for acknowledgement (OfflineQueueLimit)");
            }

            publish.Node = _publishQueue.AddLast(publish);
            if (_options.Optimistic && _channels.TryGetValue(channel, out optimisticChannel))
            {
                optimisticChange = optimisticChannel.AddOptimistic(publish);
            }

            if (_current is { Ready: true, Flushed: true, IsEnded: false } conn)
            {
                sendNow = conn;
                id = NextRequestId();
                publish.SentOn = conn;
                conn.Pending[id] = new PendingRequest(publish);
            }
        }

        if (optimisticChange is not null)
        {
            // Shown at once (issue 15), before anything is sent.
            optimisticChannel!.RaiseChanged(optimisticChange);
        }

        // Cancelling stops waiting and drops the publish from the queue; one already sent may still be applied.
        using var registration = cancellationToken.Register(
            static state =>
            {
                var (client, p) = ((LifelineClient, PendingPublish))state!;
                client.RemoveFromQueue(p);
                p.Completion.TrySetCanceled();
            },
            (this, publish));

        if (sendNow is not null)
        {
            // A failure ends the connection; the publish stays queued and is re-sent on the next one.
            await SendPublishAsync(sendNow, id, publish).ConfigureAwait(false);
        }

        try
        {
            return await publish.Completion.Task.ConfigureAwait(false);
        }
        finally
        {
            // Before the caller sees the outcome: a refused or cancelled publish is already rolled back (issue 15).
            optimisticChannel?.OnOptimisticSettled(publish, publish.Completion.Task);
        }
    }

    private static async Task SendPublishAsync(ClientConnection conn, long id, PendingPublish publish)
    {
        try
        {
            await SendAsync(conn, new PublishMessage(publish.Channel, publish.Patch, publish.Key, publish.If) { Id = id }).ConfigureAwait(false);
        }
        catch (LifelineDisconnectedException)
        {
        }
    }

    /// <summary>Sends, in order, every queued publish not yet sent on this connection; then new publishes go out directly.</summary>
    private async Task FlushPublishesAsync(ClientConnection conn)
    {
        var count = 0;
        while (!conn.IsEnded)
        {
            List<(long Id, PendingPublish Publish)> batch = [];
            lock (_lock)
            {
                foreach (var publish in _publishQueue)
                {
                    if (publish.SentOn != conn)
                    {
                        var id = NextRequestId();
                        publish.SentOn = conn;
                        conn.Pending[id] = new PendingRequest(publish);
                        batch.Add((id, publish));
                    }
                }

                if (batch.Count == 0)
                {
                    conn.Flushed = true;
                    break;
                }
            }

            foreach (var (id, publish) in batch)
            {
                try
                {
                    await SendAsync(conn, new PublishMessage(publish.Channel, publish.Patch, publish.Key, publish.If) { Id = id }).ConfigureAwait(false);
                    count++;
                }
                catch (LifelineDisconnectedException)
                {
                    return;
                }
            }
        }

        if (count > 0)
        {
            Log.QueueFlushed(_logger, conn.Id, count);
        }
    }

    private void CompletePublish(PendingPublish publish, ServerMessage reply)
    {
        RemoveFromQueue(publish);
        switch (reply)
        {
            case ReplyMessage { Ok: true } ok:
                publish.Completion.TrySetResult(ok.Offset ?? -1);
                break;
            case ReplyMessage refused:
                publish.Completion.TrySetException(LifelineConflictException.ForRefusal(refused.Error));
                break;
            case ErrorMessage error:
                publish.Completion.TrySetException(new LifelinePublishException(error.Code, error.Message));
                break;
            default:
                publish.Completion.TrySetException(new LifelinePublishException(ErrorCodes.InvalidMessage, $"unexpected reply of type {reply.Type}"));
                break;
        }
    }

    private void RemoveFromQueue(PendingPublish publish)
    {
        lock (_lock)
        {
            if (publish.Node is { } node)
            {
                _publishQueue.Remove(node);
                publish.Node = null;
            }
        }
    }

    /// <summary>When the client stops: every queued publish and every subscribe waiter fails; nothing waits forever.</summary>
    private void FailAllWaiting(Exception exception)
    {
        List<PendingPublish> publishes;
        lock (_lock)
        {
            publishes = [.. _publishQueue];
            _publishQueue.Clear();
            foreach (var p in publishes)
            {
                p.Node = null;
            }
        }

        foreach (var p in publishes)
        {
            p.Completion.TrySetException(exception);
        }

        foreach (var channel in _channels.Values)
        {
            channel.FailWaiters(exception);
        }
    }
}
