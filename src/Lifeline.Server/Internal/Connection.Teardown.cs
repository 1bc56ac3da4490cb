using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using Lifeline.Protocol;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Lifeline.Server.Internal;

/// <summary>
/// The one teardown path. Whatever ends the connection (client close, receive or send error, heartbeat timeout,
/// bad input, slow consumer, shutdown, kick) calls <see cref="StartTeardown"/>; the first call wins atomically and
/// the steps run once, in the order DESIGN.md gives.
/// </summary>
internal sealed partial class Connection
{
    private int _teardownStarted;
    private bool _gracefulAfterFault;

    /// <summary>Starts teardown (once) without waiting for it; its failures are logged, never lost.</summary>
    public void StartTeardown(CloseCode code, DisconnectInitiator initiator, Exception? error = null) =>
        _ = TeardownAsync(code, initiator, error);

    /// <summary>Tears the connection down; later calls return the first call's task.</summary>
    public Task TeardownAsync(CloseCode code, DisconnectInitiator initiator, Exception? error = null)
    {
        if (Interlocked.Exchange(ref _teardownStarted, 1) != 0)
        {
            return _closed.Task;
        }

        return RunTeardownAsync(code, initiator, error);
    }

    private async Task RunTeardownAsync(CloseCode code, DisconnectInitiator initiator, Exception? error)
    {
        var wasOpen = false;
        try
        {
            // 1. mark Closing; cancel the connection's token (stops its loops, fails its pending operations)
            wasOpen = TryChangeState(ConnectionState.Open, ConnectionState.Closing);
            TryChangeState(ConnectionState.Handshaking, ConnectionState.Closing);
            LeaveHandshakeSlot();
            Log.Closing(_runtime.Logger, Now(), Id, UserId, RemoteEndPoint, code.Code, code.Reason, initiator);
            await _cts.CancelAsync();

            // 2. drop the heartbeat registration
            _runtime.Scheduler.Unregister(this);

            // 3. close handshake within its bound, else abort with a TCP reset; the socket is disposed on every path
            CloseSendQueue();
            await CloseSocketAsync(code);

            // 4. leave the registry and every channel
            _runtime.Registry.Remove(this);

            // 5. presence: the leaves follow after the grace period unless the session resumes
            await LeaveChannelsAsync(code);
            if (SessionToken is not null)
            {
                await StoreSessionAsync(code);
            }

            // 6. the application's hook, bounded, its exceptions logged
            if (wasOpen)
            {
                await RunDisconnectedHookAsync(code, initiator, error);
            }
        }
        catch (Exception ex)
        {
            Log.TeardownFailed(_runtime.Logger, ex, Id);
            _runtime.Registry.Remove(this);
        }
        finally
        {
            LeaveHandshakeSlot();
            ReleaseConnectionCounts();

            // 7. metrics and one log line
            var elapsed = Elapsed;
            _runtime.Metrics.ConnectionClosed(code, initiator, wasOpen, elapsed);
            Volatile.Write(ref _state, (int)ConnectionState.Closed);
            Log.Closed(_runtime.Logger, Now(), Id, UserId, RemoteEndPoint, code.Code, code.Reason, initiator, (long)elapsed.TotalMilliseconds);
            _cts.Dispose();
            _closed.TrySetResult();
        }
    }

    private async Task CloseSocketAsync(CloseCode code)
    {
        var clean = false;
        if (code.Code != CloseCode.Abnormal.Code && _socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            // A peer declared dead (no pong) gets the close frame best-effort within a short bound, not a whole
            // close handshake: then the reset below. Anyone else gets CloseHandshakeTimeout to answer.
            var limit = code.Code == CloseCode.HeartbeatTimeout.Code
                ? TimeSpan.FromTicks(Math.Min(LifelineOptions.DeadPeerCloseTimeout.Ticks, _runtime.Options.CloseHandshakeTimeout.Ticks))
                : _runtime.Options.CloseHandshakeTimeout;
            using var bound = new CancellationTokenSource(limit, _runtime.Time);
            try
            {
                await _socket.CloseOutputAsync((WebSocketCloseStatus)code.Code, Truncate(code.Reason), bound.Token);
                await _closeReceived.Task.WaitAsync(bound.Token);
                clean = _socket.State == WebSocketState.Closed;
            }
            catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                // close frame could not go out, or no answer within the bound: the peer is presumed dead
            }
        }

        if (_gracefulAfterFault)
        {
            (_http.Features.Get<IHttpRequestLifetimeFeature>() as AbortGate)?.Suppress();
        }
        else if (!clean)
        {
            AbortWithReset();
        }

        _socket.Dispose();
    }

    /// <summary>
    /// Aborts the TCP connection with a reset (SO_LINGER 0): nothing lingers in FIN-WAIT or CLOSE_WAIT for a peer
    /// that is gone, and a send blocked on a full TCP window fails at once.
    /// </summary>
    private void AbortWithReset()
    {
        try
        {
            if (_http.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket)
            {
                socket.LingerState = new LingerOption(true, 0);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // already gone
        }

        Log.Reset(_runtime.Logger, Now(), Id, RemoteEndPoint);
        _socket.Abort();
        _http.Abort();
    }

    /// <summary>
    /// TEST HOOK ONLY (used by the convergence test in Lifeline.Client.Tests): resets the TCP connection under this
    /// connection the way a network failure would, without starting teardown. The receive loop sees the failure and
    /// tears down through the one teardown path (code 1006, initiator <see cref="DisconnectInitiator.Network"/>).
    /// </summary>
    internal void AbortTransportForTest()
    {
        try
        {
            if (_http.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket)
            {
                socket.LingerState = new LingerOption(true, 0);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // already gone
        }

        _http.Abort();
    }

    private async Task RunDisconnectedHookAsync(CloseCode code, DisconnectInitiator initiator, Exception? error)
    {
        using var timeout = new CancellationTokenSource(_runtime.Options.DisconnectedHookTimeout, _runtime.Time);
        var context = new DisconnectedContext(Id, UserId, RemoteEndPoint, code, code.Reason, initiator, Elapsed, error, timeout.Token);
        try
        {
            await _runtime.Options.Events.DisconnectedAsync(context).AsTask().WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            Log.HookTimedOut(_runtime.Logger, Id, "OnDisconnected", _runtime.Options.DisconnectedHookTimeout);
        }
        catch (Exception ex)
        {
            Log.HookFailed(_runtime.Logger, ex, Id, "OnDisconnected");
        }
    }

    /// <summary>A close reason is at most 123 UTF-8 bytes (RFC 6455 5.5.1).</summary>
    private static string Truncate(string reason) =>
        System.Text.Encoding.UTF8.GetByteCount(reason) <= 123 ? reason : reason[..Math.Min(reason.Length, 40)];
}
