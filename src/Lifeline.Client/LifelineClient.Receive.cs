using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using Lifeline.Client.Internal;
using Lifeline.Protocol;

namespace Lifeline.Client;

// The message loop: one per connection. It re-arms the watchdog on every frame, splits frames on line feeds,
// answers pings, and hands each message to its channel. A malformed message is reported and dropped; nothing a
// message or a handler does stops the loop.
public sealed partial class LifelineClient
{
    private const int ReceiveChunkSize = 16 * 1024;

    private async Task ReceiveLoopAsync(ClientConnection conn)
    {
        var buffer = new ArrayBufferWriter<byte>(ReceiveChunkSize);
        try
        {
            while (true)
            {
                buffer.ResetWrittenCount();
                var result = await conn.Transport.ReceiveAsync(buffer, conn.RearmWatchdog, conn.Token).ConfigureAwait(false);
                if (result.Kind == TransportReceiveKind.Close)
                {
                    var info = DisconnectInfo.FromServerClose(result.CloseStatus, result.CloseDescription, _options.ReconnectOnNormalClose);
                    Log.ServerClosed(_logger, conn.Id, info.CloseCode, info.Reason);
                    conn.Fail(info, abort: false);
                    return;
                }

                if (result.Kind == TransportReceiveKind.Binary)
                {
                    Log.BinaryFrameDropped(_logger, conn.Id, buffer.WrittenCount);
                    ReportError(new LifelineErrorEventArgs(LifelineErrorEventArgs.BinaryFrame, "a binary frame was received and dropped"));
                    continue;
                }

                foreach (var line in ServerMessageParser.SplitFrame(buffer.WrittenMemory))
                {
                    if (conn.IsEnded)
                    {
                        // Stale: this socket is no longer the client's connection; its messages must not reach handlers.
                        return;
                    }

                    await HandleMessageAsync(conn, line).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (conn.IsEnded)
        {
            // The connection was already ended (watchdog, teardown, send failure): the receive was cancelled.
            _ = ex;
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            conn.Fail(DisconnectInfo.Lost($"connection_lost: {ex.Message}", ex), abort: true);
        }
        catch (Exception ex)
        {
            Log.ReceiveLoopFailed(_logger, conn.Id, ex);
            conn.Fail(DisconnectInfo.Lost($"receive_failed: {ex.Message}", ex), abort: true);
        }
    }

    private async ValueTask HandleMessageAsync(ClientConnection conn, ReadOnlyMemory<byte> utf8)
    {
        ServerMessage? message;
        string? error;
        try
        {
            if (!ServerMessageParser.TryParse(utf8, out message, out error))
            {
                ReportMalformed(conn, error ?? "unreadable message");
                return;
            }
        }
        catch (Exception ex)
        {
            // The deserializer can throw more than JsonException on odd shapes: still just one bad message.
            ReportMalformed(conn, ex.Message);
            return;
        }

        if (message is null)
        {
            // Unknown type: ignored for forward compatibility.
            Log.UnknownMessageType(_logger, conn.Id);
            return;
        }

        if (!IsWellFormed(message, out var problem))
        {
            ReportMalformed(conn, problem);
            return;
        }

        Raise(ServerMessageReceived, new ServerMessageEventArgs(message), nameof(ServerMessageReceived));
        try
        {
            switch (message)
            {
                case ServerPing ping:
                    // Answered from the application's message loop, as PROTOCOL.md requires: proves the client alive.
                    await TrySendAsync(conn, new PongMessage(ping.N)).ConfigureAwait(false);
                    break;
                case ServerPong pong:
                    OnPong(conn, pong);
                    break;
                case WelcomeMessage welcome:
                    OnWelcome(conn, welcome);
                    break;
                case SubscribedMessage subscribed:
                    if (_channels.TryGetValue(subscribed.Channel, out var subscribedChannel))
                    {
                        subscribedChannel.OnSubscribed(conn, subscribed);
                    }

                    CompleteRequest(conn, subscribed.Id, subscribed);
                    break;
                case SnapshotMessage snapshot:
                    if (_channels.TryGetValue(snapshot.Channel, out var snapshotChannel))
                    {
                        snapshotChannel.OnSnapshot(snapshot);
                    }

                    break;
                case DeltaMessage delta:
                    if (_channels.TryGetValue(delta.Channel, out var deltaChannel) && deltaChannel.OnDelta(conn, delta))
                    {
                        // A gap: recover from the last applied position.
                        StartSubscribe(conn, deltaChannel, resync: true);
                    }

                    break;
                case PresenceMessage presence:
                    if (_channels.TryGetValue(presence.Channel, out var presenceChannel))
                    {
                        presenceChannel.OnPresence(presence);
                    }

                    break;
                case EventMessage channelEvent:
                    if (_channels.TryGetValue(channelEvent.Channel, out var eventChannel))
                    {
                        eventChannel.OnEvent(channelEvent);
                    }

                    break;
                case DirectMessage direct:
                    Raise(MessageReceived, new UserMessageEventArgs(direct.Data, direct.Ts), nameof(MessageReceived));
                    break;
                case ReplyMessage reply:
                    CompleteRequest(conn, reply.Id, reply);
                    break;
                case ErrorMessage serverError:
                    Log.ServerError(_logger, conn.Id, serverError.Code, serverError.Message, serverError.Id);
                    if (!CompleteRequest(conn, serverError.Id, serverError))
                    {
                        ReportError(new LifelineErrorEventArgs(serverError.Code, serverError.Message, serverError.Id));
                    }

                    break;
            }
        }
        catch (Exception ex)
        {
            // A bug in handling one message must not stop the loop: log it, report it, go on with the next.
            Log.MessageHandlingFailed(_logger, conn.Id, message.Type, ex);
            ReportError(new LifelineErrorEventArgs(LifelineErrorEventArgs.MalformedMessage, $"{message.Type} could not be handled: {ex.Message}"));
        }
    }

    private void ReportMalformed(ClientConnection conn, string problem)
    {
        Log.MalformedMessage(_logger, conn.Id, problem);
        ReportError(new LifelineErrorEventArgs(LifelineErrorEventArgs.MalformedMessage, problem));
    }

    /// <summary>Checks what the deserializer cannot: members the client relies on are present and of the right shape.</summary>
    private static bool IsWellFormed(ServerMessage message, out string problem)
    {
        problem = message switch
        {
            WelcomeMessage w when string.IsNullOrEmpty(w.Session) => "welcome.session is missing",
            WelcomeMessage w when w.Heartbeat is null || w.Heartbeat.IntervalMs <= 0 || w.Heartbeat.TimeoutMs < 0 => "welcome.heartbeat is missing or invalid",
            SubscribedMessage s when string.IsNullOrEmpty(s.Channel) || s.Epoch is null || s.Offset < 0 => "subscribed needs channel, epoch and offset",
            SnapshotMessage s when string.IsNullOrEmpty(s.Channel) || s.Epoch is null || s.Offset < 0 || s.State.ValueKind != JsonValueKind.Object
                => "snapshot needs channel, epoch, offset and an object state",
            DeltaMessage d when string.IsNullOrEmpty(d.Channel) || d.Offset < 0 || d.Patch.ValueKind != JsonValueKind.Object
                => "delta needs channel, offset and an object patch",
            PresenceMessage p when string.IsNullOrEmpty(p.Channel) || p.Event is null || p.User is null => "presence needs channel, event and user",
            EventMessage e when string.IsNullOrEmpty(e.Channel) || e.Data.ValueKind == JsonValueKind.Undefined => "event needs channel and data",
            DirectMessage m when m.Data.ValueKind == JsonValueKind.Undefined => "message needs data",
            ErrorMessage e when e.Code is null => "error.code is missing",
            _ => string.Empty,
        };
        return problem.Length == 0;
    }

    private void OnWelcome(ClientConnection conn, WelcomeMessage welcome)
    {
        if (!conn.TrySetWelcome(welcome, _time.GetTimestamp()))
        {
            Log.DuplicateWelcome(_logger, conn.Id);
            return;
        }

        // Nothing at all received for intervalMs + timeoutMs (+ slack): the connection is dead even if the socket
        // looks open (half-open TCP, a proxy that dropped it). Every received frame re-arms the timer.
        var timeout = TimeSpan.FromMilliseconds(welcome.Heartbeat.IntervalMs + welcome.Heartbeat.TimeoutMs) + _options.WatchdogSlack;
        conn.ArmWatchdog(_time, timeout, _onWatchdogExpired ??= OnWatchdogExpired);
    }

    private TimerCallback? _onWatchdogExpired;

    private void OnWatchdogExpired(object? state)
    {
        var conn = (ClientConnection)state!;
        if (conn.IsEnded)
        {
            return;
        }

        Log.WatchdogFired(_logger, conn.Id, (long)conn.WatchdogTimeout.TotalMilliseconds);
        conn.Fail(DisconnectInfo.Lost("watchdog"), abort: true);
    }

    /// <summary>Completes the request <paramref name="id"/> waiting on this connection, if any.</summary>
    private bool CompleteRequest(ClientConnection conn, long? id, ServerMessage reply)
    {
        if (id is not { } requestId || !conn.Pending.TryRemove(requestId, out var pending))
        {
            return false;
        }

        pending.DisconnectRegistration.Dispose();
        if (pending.Publish is { } publish)
        {
            CompletePublish(publish, reply);
        }
        else
        {
            pending.Reply.TrySetResult(reply);
        }

        return true;
    }
}
