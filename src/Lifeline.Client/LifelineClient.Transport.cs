using Lifeline.Client.Internal;
using Lifeline.Protocol;
using Microsoft.Extensions.Logging;

namespace Lifeline.Client;

// The transport under each connection (issue 17, PROTOCOL.md "HTTP transport"): which one the next attempt uses, the
// fallback when an attempt ends before its welcome, and the background probe that moves back to the WebSocket.
public sealed partial class LifelineClient
{
    private TransportLadder? _ladder;
    private volatile int _transport = -1;

    /// <summary>
    /// The transport of the current connection: <see cref="LifelineTransport.WebSocket"/> normally, an HTTP transport
    /// where the WebSocket does not get through (see <see cref="LifelineClientOptions.Transports"/>). Before the first
    /// attempt it is the transport that attempt will use. A switch shows as a <see cref="StateChanged"/> event
    /// (<see cref="StateChangedEventArgs.Transport"/>); nothing else changes for the application.
    /// </summary>
    public LifelineTransport Transport => _transport is var t and >= 0 ? (LifelineTransport)t : Ladder.Next;

    private TransportLadder Ladder => LazyInitializer.EnsureInitialized(ref _ladder, () => new TransportLadder(_url, _options.Transports));

    private IClientTransport CreateTransport(LifelineTransport kind)
    {
        _transport = (int)kind;
        return kind == LifelineTransport.WebSocket
            ? new WebSocketTransport(_url, _options.ConfigureWebSocket)
            : new HttpTransport(_url, kind, _options);
    }

    /// <summary>
    /// An attempt ended before its welcome: the ladder decides whether the next one falls back (at once). An attempt
    /// abandoned because the network changed (issue 15: <c>offline</c>, <c>online</c>) says nothing about the transport.
    /// </summary>
    private void OnAttemptFailed(ClientConnection conn, bool timedOut)
    {
        var transport = conn.Transport;
        if (conn.Ended.IsCompletedSuccessfully && conn.Ended.Result.Reason is "offline" or "online")
        {
            return;
        }

        if (Ladder.Failed(transport, timedOut) is { } next)
        {
            TransportLog.FallingBack(_logger, transport.Kind, next, timedOut ? "no welcome before the connect timeout" : "the WebSocket upgrade was refused with an HTTP status");
        }
    }

    /// <summary>The connection got its welcome: remember its transport; on HTTP, start probing the WebSocket.</summary>
    private void OnTransportWelcomed(ClientConnection conn)
    {
        var kind = conn.Transport.Kind;
        Ladder.Welcomed(kind);
        TransportLog.TransportOpened(_logger, conn.Id, kind);
        if (Ladder.Probes(kind))
        {
            conn.Track(Task.Run(() => ProbeWebSocketAsync(conn), CancellationToken.None));
        }
    }

    /// <summary>
    /// While the connection runs over HTTP: every <see cref="LifelineClientOptions.TransportProbeInterval"/>, tries the
    /// WebSocket upgrade alone (no hello). When it gets through, the connection is ended with reason
    /// <c>transport_switch</c> and the next attempt, at once, uses the WebSocket: the session resumes and every channel
    /// resubscribes from its position, so nothing is lost or repeated; publishes in flight are re-sent with their keys.
    /// </summary>
    private async Task ProbeWebSocketAsync(ClientConnection conn)
    {
        try
        {
            while (!conn.IsEnded)
            {
                await Task.Delay(_options.TransportProbeInterval, _time, conn.Token).ConfigureAwait(false);
                using var probe = new WebSocketTransport(_url, _options.ConfigureWebSocket);
                using var timeout = new CancellationTokenSource(_options.ConnectTimeout, _time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, conn.Token);
                try
                {
                    await probe.ConnectAsync(linked.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (!conn.IsEnded)
                {
                    TransportLog.ProbeFailed(_logger, conn.Id, ex.Message);
                    continue;
                }

                try
                {
                    using var bound = new CancellationTokenSource(_options.CloseTimeout, _time);
                    await probe.CloseOutputAsync(CloseCode.Normal.Code, "probe", bound.Token).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    // The probe proved the upgrade gets through; how it ends does not matter.
                    _ = ex;
                }

                if (conn.IsEnded)
                {
                    return;
                }

                Ladder.SwitchToWebSocket();
                TransportLog.MovingBack(_logger, conn.Id, conn.Transport.Kind);
                conn.Fail(DisconnectInfo.Lost("transport_switch"), abort: true);
                return;
            }
        }
        catch (Exception) when (conn.IsEnded)
        {
            // The connection ended (its token cancelled the wait or the probe).
        }
    }

    private static partial class TransportLog
    {
        [LoggerMessage(1370, LogLevel.Warning, "The {From} transport did not get through ({Why}); falling back to {To} at once", EventName = "TransportFallback")]
        public static partial void FallingBack(ILogger logger, LifelineTransport from, LifelineTransport to, string why);

        [LoggerMessage(1371, LogLevel.Information, "Connection {ConnectionNumber} runs over {Transport}", EventName = "TransportOpened")]
        public static partial void TransportOpened(ILogger logger, long connectionNumber, LifelineTransport transport);

        [LoggerMessage(1372, LogLevel.Debug, "The WebSocket probe of connection {ConnectionNumber} did not get through: {Problem}", EventName = "TransportProbeFailed")]
        public static partial void ProbeFailed(ILogger logger, long connectionNumber, string problem);

        [LoggerMessage(1373, LogLevel.Information, "The WebSocket gets through again: connection {ConnectionNumber} moves from {Transport} back to it (resumed, nothing lost)", EventName = "TransportSwitchBack")]
        public static partial void MovingBack(ILogger logger, long connectionNumber, LifelineTransport transport);
    }
}
