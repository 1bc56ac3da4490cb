using Lifeline.Protocol;

namespace Lifeline.Server.Connections;

/// <summary>
/// The one teardown path. Whatever ends the connection (client close, receive or send failure, heartbeat timeout,
/// bad input, slow consumer, shutdown, kick) calls <see cref="StartTeardown"/> or <see cref="TeardownAsync"/>; the
/// first call moves the state to Closing atomically and runs the steps once, in the order DESIGN.md gives. This file
/// declares no fields: it changes the state only through <c>TryBeginClosing</c> and <c>MarkClosed</c>.
/// </summary>
internal sealed partial class Connection
{
    /// <summary>Starts teardown (once) without waiting for it; its failures are logged, never lost.</summary>
    public void StartTeardown(CloseCode code, DisconnectInitiator initiator, Exception? error = null) =>
        _ = TeardownAsync(code, initiator, error);

    /// <summary>Tears the connection down; later calls return the first call's task.</summary>
    public Task TeardownAsync(CloseCode code, DisconnectInitiator initiator, Exception? error = null) =>
        TryBeginClosing(out var wasOpen) ? RunTeardownAsync(code, initiator, error, wasOpen) : Closed;

    private async Task RunTeardownAsync(CloseCode code, DisconnectInitiator initiator, Exception? error, bool wasOpen)
    {
        try
        {
            // 1. Closing (the state moved in TryBeginClosing); cancel the connection's token (stops its loops, fails its pending operations)
            Counts.LeaveHandshakeSlot();
            ConnectionLog.Closing(_runtime.Logger, Now(), Id, UserId, RemoteEndPoint, code.Code, code.Reason, initiator);
            await _cts.CancelAsync();

            // 2. drop the heartbeat registration
            _runtime.Scheduler.Unregister(this);

            // 3. close within its bound, else reset; the transport is released on every path. A peer declared dead
            //    (no pong) gets the close best-effort within a short bound, not a whole close handshake.
            _queue.Close();
            var bound = code.Code == CloseCode.HeartbeatTimeout.Code
                ? TimeSpan.FromTicks(Math.Min(LifelineOptions.DeadPeerCloseTimeout.Ticks, _runtime.Options.CloseHandshakeTimeout.Ticks))
                : _runtime.Options.CloseHandshakeTimeout;
            if (await _transport.CloseAsync(code, bound))
            {
                ConnectionLog.Reset(_runtime.Logger, Now(), Id, RemoteEndPoint);
            }

            // 4. leave the registry, the user's observers (no more messages or disconnect orders) and every channel
            _runtime.Registry.Remove(this);
            await StopObservingUserAsync();

            // 5. presence: the leaves follow after the grace period unless the session resumes
            await Subscriptions.LeaveAllAsync(UserId, SessionId, normalClose: code.Code == CloseCode.Normal.Code);
            if (SessionToken is not null)
            {
                await Handshake.StoreSessionAsync(_runtime, SessionToken, UserId, CancellationToken.None);
            }

            // 6. the application's hook, bounded, its exceptions logged
            if (wasOpen)
            {
                await RunDisconnectedHookAsync(code, initiator, error);
            }
        }
        catch (Exception ex)
        {
            ConnectionLog.TeardownFailed(_runtime.Logger, ex, Id);
            _runtime.Registry.Remove(this);
            await StopObservingUserAsync();
        }
        finally
        {
            Counts.LeaveHandshakeSlot();
            await Counts.ReleaseAsync(_runtime.Engine);

            // 7. metrics and one log line
            var elapsed = Elapsed;
            _runtime.Metrics.ConnectionClosed(code, initiator, wasOpen, elapsed, _transport.Name);
            MarkClosed();
            ConnectionLog.Closed(_runtime.Logger, Now(), Id, UserId, RemoteEndPoint, code.Code, code.Reason, initiator, (long)elapsed.TotalMilliseconds);
            _cts.Dispose();
            SignalClosed();
        }
    }

    private async Task RunDisconnectedHookAsync(CloseCode code, DisconnectInitiator initiator, Exception? error)
    {
        // The bound is armed only when the hook is still running after its synchronous part: the default hook and
        // most hooks complete at once, and then a churn of thousands of connections arms no timer at all (W4).
        using var timeout = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _runtime.Time);
        var context = new DisconnectedContext(Id, UserId, RemoteEndPoint, code, code.Reason, initiator, Elapsed, error, timeout.Token);
        try
        {
            var hook = _runtime.Options.Events.DisconnectedAsync(context);
            if (!hook.IsCompleted)
            {
                timeout.CancelAfter(_runtime.Options.DisconnectedHookTimeout);
                await hook.AsTask().WaitAsync(timeout.Token);
            }
            else
            {
                await hook; // completed: surfaces its exception, if any
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            ConnectionLog.HookTimedOut(_runtime.Logger, Id, "OnDisconnected", _runtime.Options.DisconnectedHookTimeout);
        }
        catch (Exception ex)
        {
            ConnectionLog.HookFailed(_runtime.Logger, ex, Id, "OnDisconnected");
        }
    }
}
