using Lifeline.Client.Internal;
using Lifeline.Protocol;

namespace Lifeline.Client;

// The supervisor: one loop per run that owns the state machine. Exactly one connection attempt is in flight at a time
// because only this loop starts them, and it starts the next only after the previous connection has been torn down.
public sealed partial class LifelineClient
{
    private async Task RunAsync(RunContext run)
    {
        var retries = 0;
        var lostAt = _time.GetTimestamp();
        var finished = false;

        // PROTOCOL.md close codes: after 4002 one attempt at once, with a fresh token; then the usual backoff. Once per
        // loss: a token that is already expired at hello again does not buy a second immediate attempt.
        var immediateAttemptUsed = false;

        // A fallback decided by an attempt that then ended the previous run (a 4001 after it) does not skip this run's backoff.
        Ladder.TakeImmediate();
        using var network = WatchNetwork(run);
        try
        {
            while (!run.IsStopRequested)
            {
                run.ResetWake();
                var info = await RunConnectionAsync(run, retries).ConfigureAwait(false);
                if (run.IsStopRequested)
                {
                    break;
                }

                if (info.WasOpen)
                {
                    retries = 0;
                    lostAt = _time.GetTimestamp();
                    immediateAttemptUsed = false;
                }

                Log.ConnectionEnded(_logger, info.Reason, info.CloseCode, info.ShouldReconnect, info.Exception);
                if (!info.ShouldReconnect)
                {
                    // Never reconnect after a non-retryable close code (PROTOCOL.md close-code table).
                    Finish(run, info.Reason, info.CloseCode, new LifelineException($"the server closed the connection: {info.CloseCode} {info.Reason}", info.CloseCode, info.Exception));
                    finished = true;
                    return;
                }

                var context = new RetryContext(retries, _time.GetElapsedTime(lostAt), info.Reason, info.CloseCode);
                TimeSpan? delay;
                try
                {
                    if (Ladder.TakeImmediate())
                    {
                        // A fallback to another transport, or the move back to the WebSocket: not a retry of the same
                        // thing, so no backoff (PROTOCOL.md "HTTP transport", "Choosing").
                        delay = TimeSpan.Zero;
                    }
                    else if (info.CloseCode == CloseCode.TokenExpired.Code && !immediateAttemptUsed)
                    {
                        // The token expired, not the network: nothing to wait for. The attempt still counts as one.
                        immediateAttemptUsed = true;
                        delay = TimeSpan.Zero;
                    }
                    else
                    {
                        delay = _options.ReconnectPolicy.NextRetryDelay(context);
                    }
                }
                catch (Exception ex)
                {
                    // A policy that throws means stop (STYLE.md 8).
                    Log.RetryPolicyFailed(_logger, ex);
                    Finish(run, "retry_policy_failed", info.CloseCode, new LifelineException("the reconnect policy failed", info.CloseCode, ex));
                    finished = true;
                    return;
                }

                if (delay is null)
                {
                    Log.RetryGaveUp(_logger, retries, info.Reason);
                    Finish(run, "retry_gave_up", info.CloseCode, new LifelineException($"gave up reconnecting after {retries} retries; last failure: {info.Reason}", info.CloseCode, info.Exception));
                    finished = true;
                    return;
                }

                var wait = delay.Value < TimeSpan.Zero ? TimeSpan.Zero : delay.Value;
                if (info.RetryAfter is { } hint)
                {
                    // 1001 with retry_after_ms=N: the server asked for N ms; the policy's jitter comes on top.
                    wait += hint;
                }

                // Create the timer before announcing Reconnecting, so a test that advances fake time on the event
                // advances a timer that already exists.
                using var waitCancel = CancellationTokenSource.CreateLinkedTokenSource(run.StopToken);
                var delayTask = Task.Delay(wait, _time, waitCancel.Token);
                ChangeState(ClientState.Reconnecting, info.Reason, info.CloseCode, info.Exception);
                Log.ReconnectScheduled(_logger, retries + 1, (long)wait.TotalMilliseconds, info.Reason);
                try
                {
                    // The network came back or changed (issue 15): the wait ends at once.
                    if (await Task.WhenAny(delayTask, run.Woken).ConfigureAwait(false) != delayTask && !delayTask.IsCompleted)
                    {
                        await waitCancel.CancelAsync().ConfigureAwait(false);
                        Log.ReconnectWaitCut(_logger);

                        if (run.TakeResetBackoff())
                        {
                            // The network is back: the backoff starts over (retries becomes 0 below).
                            retries = -1;
                        }
                    }
                    else
                    {
                        await delayTask.ConfigureAwait(false);
                    }
                }
                catch (OperationCanceledException) when (run.IsStopRequested)
                {
                    break;
                }

                if (run.IsStopRequested)
                {
                    break;
                }

                retries++;
            }

            Finish(run, "client_closed", CloseCode.Normal.Code, null);
            finished = true;
        }
        catch (Exception ex)
        {
            Log.SupervisorFailed(_logger, ex);
            if (!finished)
            {
                Finish(run, "internal_error", null, new LifelineException("the client failed unexpectedly", null, ex));
            }
        }
        finally
        {
            run.Dispose();
        }
    }

    /// <summary>Ends a run: fails whatever waits, then (last) moves to Closed.</summary>
    private void Finish(RunContext run, string reason, int? closeCode, Exception? connectFailure)
    {
        Exception waiting = run.Disposing
            ? new ObjectDisposedException(nameof(LifelineClient))
            : new LifelineDisconnectedException($"the client is closed ({reason})");
        FailAllWaiting(waiting);

        Exception firstOpenFailure = run.IsStopRequested
            ? new OperationCanceledException("the client was closed before it connected")
            : connectFailure ?? new LifelineException(reason, closeCode);
        run.FirstOpen.TrySetException(firstOpenFailure);

        ChangeState(ClientState.Closed, reason, closeCode, connectFailure?.InnerException);
    }

    /// <summary>One connection: connect, hello/welcome, re-subscribe, flush, then wait until it ends; always torn down.</summary>
    private async Task<DisconnectInfo> RunConnectionAsync(RunContext run, int attempt)
    {
        // The provider is asked before every attempt (issue 14): after an outage longer than a token's life the next
        // hello carries a fresh one. Its failure is a failed attempt, never a crash or a silent stop.
        string? token;
        try
        {
            token = await _tokens.GetAsync(_options.ConnectTimeout, _time, run.StopToken).ConfigureAwait(false);
        }
        catch (Exception) when (run.IsStopRequested)
        {
            return DisconnectInfo.ClientClosed;
        }
        catch (Exception ex)
        {
            Log.TokenProviderFailed(_logger, attempt, ex);
            ReportError(new LifelineErrorEventArgs(LifelineErrorEventArgs.TokenProviderFailed, $"the token provider failed before connection attempt {attempt}: {ex.Message}") { Exception = ex });
            return DisconnectInfo.TokenProviderFailed(ex);
        }

        var transport = CreateTransport(Ladder.Next);
        var conn = new ClientConnection(Interlocked.Increment(ref _connectionIds), transport);
        var wasOpen = false;
        Log.Connecting(_logger, _url, conn.Id, attempt);
        lock (_lock)
        {
            _current = conn;
        }

        using var attemptTimeout = new CancellationTokenSource(_options.ConnectTimeout, _time);
        using var connectToken = CancellationTokenSource.CreateLinkedTokenSource(attemptTimeout.Token, run.StopToken);
        try
        {
            try
            {
                await transport.ConnectAsync(connectToken.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (!run.IsStopRequested)
            {
                var reason = attemptTimeout.IsCancellationRequested ? "connect_timeout" : $"connect_failed: {ex.Message}";
                conn.Fail(DisconnectInfo.Lost(reason, ex), abort: true);
                OnAttemptFailed(conn, attemptTimeout.IsCancellationRequested);
                return await conn.Ended.ConfigureAwait(false);
            }
            catch (Exception) when (run.IsStopRequested)
            {
                conn.Fail(DisconnectInfo.ClientClosed, abort: true);
                return DisconnectInfo.ClientClosed;
            }

            conn.ReceiveLoop = Task.Run(() => ReceiveLoopAsync(conn), CancellationToken.None);
            try
            {
                await SendAsync(conn, new HelloMessage(ProtocolConstants.Version, token, _session, _options.ClientName)).ConfigureAwait(false);
            }
            catch (LifelineDisconnectedException)
            {
                // The connection already recorded why it ended.
            }

            // Wait for welcome, the end of the connection, the attempt's timeout or a stop request.
            var timeoutTask = Task.Delay(Timeout.InfiniteTimeSpan, attemptTimeout.Token);
            var first = await Task.WhenAny(conn.Welcome, conn.Ended, run.StopRequested, timeoutTask).ConfigureAwait(false);
            if (first == timeoutTask)
            {
                conn.Fail(DisconnectInfo.Lost("handshake_timeout"), abort: true);
            }

            if (first != conn.Welcome)
            {
                if (!run.IsStopRequested)
                {
                    OnAttemptFailed(conn, first == timeoutTask);
                }

                return run.IsStopRequested ? DisconnectInfo.ClientClosed : await conn.Ended.ConfigureAwait(false);
            }

            var welcome = await conn.Welcome.ConfigureAwait(false);
            wasOpen = true;
            OnTransportWelcomed(conn);
            _session = welcome.Session;
            _connectionId = welcome.Connection;
            _userId = welcome.User;
            _resumed = welcome.Resumed;
            Log.Welcomed(_logger, conn.Id, welcome.Connection, welcome.User, welcome.Resumed, welcome.Heartbeat.IntervalMs, welcome.Heartbeat.TimeoutMs);

            // PROTOCOL.md "Reconnection": re-subscribe every channel with since = last position, then flush the queue.
            await ResubscribeAllAsync(conn).ConfigureAwait(false);
            await FlushPublishesAsync(conn).ConfigureAwait(false);
            if (!conn.IsEnded)
            {
                ChangeState(ClientState.Open, welcome.Resumed ? "resumed" : "connected", null);
                run.FirstOpen.TrySetResult();
            }

            if (welcome.TokenExpiresInMs is { } expiresInMs)
            {
                StartTokenRefresh(conn, expiresInMs);
            }

            await Task.WhenAny(conn.Ended, run.StopRequested).ConfigureAwait(false);
            return run.IsStopRequested && !conn.IsEnded
                ? DisconnectInfo.ClientClosed
                : (await conn.Ended.ConfigureAwait(false)) with { WasOpen = true };
        }
        finally
        {
            await TeardownAsync(conn, graceful: run.IsStopRequested).ConfigureAwait(false);
            if (wasOpen)
            {
                Log.Disconnected(_logger, conn.Id);
            }
        }
    }

    /// <summary>
    /// Ends a connection for good: close handshake (bounded by <see cref="LifelineClientOptions.CloseTimeout"/>) when
    /// the socket is still usable, then abort and dispose whatever is left, and wait for its loops.
    /// </summary>
    private async Task TeardownAsync(ClientConnection conn, bool graceful)
    {
        lock (_lock)
        {
            conn.Ready = false;
            if (_current == conn)
            {
                _current = null;
            }
        }

        var transport = conn.Transport;
        if ((graceful && transport.IsOpen) || transport.AwaitsCloseEcho)
        {
            using var bound = new CancellationTokenSource(_options.CloseTimeout, _time);
            try
            {
                var echo = transport.AwaitsCloseEcho;
                var status = echo ? transport.CloseStatus ?? CloseCode.Normal.Code : CloseCode.Normal.Code;
                await conn.SendLock.WaitAsync(bound.Token).ConfigureAwait(false);
                try
                {
                    await transport.CloseOutputAsync(status, echo ? null : "client_closed", bound.Token).ConfigureAwait(false);
                }
                finally
                {
                    conn.SendLock.Release();
                }

                // The server answers our close; the receive loop sees it and ends.
                await conn.ReceiveLoop.WaitAsync(bound.Token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.CloseHandshakeFailed(_logger, conn.Id, ex);
            }
        }

        conn.Fail(graceful ? DisconnectInfo.ClientClosed : DisconnectInfo.Lost("teardown"), abort: true);

        // Another thread may still be inside Fail (cancelling the token): it completes Ended when done; only then may
        // the token source be disposed below.
        await conn.Ended.ConfigureAwait(false);
        foreach (var channel in _channels.Values)
        {
            channel.OnConnectionEnded(conn);
        }

        try
        {
            await conn.ReceiveLoop.ConfigureAwait(false);
            await Task.WhenAll(conn.Background).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.SupervisorFailed(_logger, ex);
        }

        conn.Pending.Clear();
        conn.Dispose();
    }
}
