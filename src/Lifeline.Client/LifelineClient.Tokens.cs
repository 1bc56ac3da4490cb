using Lifeline.Client.Internal;
using Lifeline.Protocol;

namespace Lifeline.Client;

// Token refresh on a live connection (PROTOCOL.md "refresh", issue 14). One loop per connection whose welcome announced
// an expiry, tracked by the connection and cancelled with it: it waits until the refresh is due (TokenRefreshSchedule),
// sends a refresh with a token from the provider, and on success starts over from the reply's tokenExpiresInMs. A
// failure (provider or server) is reported and retried with the reconnect policy's delays, each try before the expiry;
// when none fits, the loop ends and the server closes with 4002, after which the supervisor reconnects at once.
public sealed partial class LifelineClient
{
    private void StartTokenRefresh(ClientConnection conn, long expiresInMs)
    {
        if (conn.IsEnded)
        {
            return;
        }

        if (!_tokens.CanRefresh)
        {
            // A fixed token (or none) cannot be refreshed: the server closes with 4002 at the expiry.
            Log.TokenNotRefreshable(_logger, conn.Id, expiresInMs);
            return;
        }

        conn.Track(RefreshLoopAsync(conn, expiresInMs, conn.WelcomeTimestamp));
    }

    private async Task RefreshLoopAsync(ClientConnection conn, long lifetimeMs, long lifetimeStart)
    {
        try
        {
            while (true)
            {
                var lifetime = TimeSpan.FromMilliseconds(Math.Max(0, lifetimeMs));
                var due = TokenRefreshSchedule.RefreshDue(lifetime, _options.TokenRefreshRatio, _options.TokenRefreshMargin) - _time.GetElapsedTime(lifetimeStart);
                if (due < TimeSpan.Zero)
                {
                    due = TimeSpan.Zero;
                }

                // The timer exists before it is logged: a test on fake time advances once it sees the log line.
                var wait = Task.Delay(due, _time, conn.Token);
                Log.TokenRefreshScheduled(_logger, conn.Id, (long)due.TotalMilliseconds, lifetimeMs);
                await wait.ConfigureAwait(false);

                if (await RefreshWithRetriesAsync(conn, lifetime, lifetimeStart).ConfigureAwait(false) is not { } renewed)
                {
                    return;
                }

                (lifetimeMs, lifetimeStart) = renewed;
            }
        }
        catch (Exception) when (conn.IsEnded)
        {
            // The connection ended (its token cancelled the wait, the provider call or the reply): nothing to refresh.
        }
        catch (Exception ex)
        {
            Log.TokenRefreshLoopFailed(_logger, conn.Id, ex);
        }
    }

    /// <summary>Refreshes until the server accepts a token or no try fits before the expiry.</summary>
    /// <returns>The new lifetime and when it began; null when there is nothing more to do on this connection.</returns>
    private async Task<(long LifetimeMs, long Start)?> RefreshWithRetriesAsync(ClientConnection conn, TimeSpan lifetime, long lifetimeStart)
    {
        var failures = 0;
        var firstFailure = 0L;
        while (true)
        {
            Exception failure;
            try
            {
                var token = await _tokens.GetAsync(_options.ConnectTimeout, _time, conn.Token).ConfigureAwait(false);
                var reply = await SendRequestAsync(conn, id => new RefreshMessage(token!) { Id = id }).ConfigureAwait(false);
                var ok = EnsureOk<ReplyMessage>(await reply.ConfigureAwait(false));
                var start = _time.GetTimestamp();
                Log.TokenRefreshed(_logger, conn.Id, ok.TokenExpiresInMs, failures);

                // No tokenExpiresInMs: the new token does not expire, so there is no next refresh.
                return ok.TokenExpiresInMs is { } ms ? (ms, start) : null;
            }
            catch (Exception) when (conn.IsEnded)
            {
                return null;
            }
            catch (Exception ex)
            {
                failure = ex;
            }

            if (failures++ == 0)
            {
                firstFailure = _time.GetTimestamp();
            }

            var remaining = lifetime - _time.GetElapsedTime(lifetimeStart);
            var code = (failure as LifelineRequestException)?.ErrorCode;
            ReportError(new LifelineErrorEventArgs(LifelineErrorEventArgs.TokenRefreshFailed, $"refreshing the token failed: {failure.Message}") { Exception = failure });

            TimeSpan? policyDelay;
            try
            {
                policyDelay = _options.ReconnectPolicy.NextRetryDelay(new RetryContext(failures - 1, _time.GetElapsedTime(firstFailure), "token_refresh_failed", null));
            }
            catch (Exception ex)
            {
                Log.RetryPolicyFailed(_logger, ex);
                policyDelay = null;
            }

            if (TokenRefreshSchedule.RetryDelay(policyDelay, remaining) is not { } delay)
            {
                Log.TokenRefreshGaveUp(_logger, conn.Id, failures, (long)remaining.TotalMilliseconds, code, failure);
                return null;
            }

            var wait = Task.Delay(delay, _time, conn.Token);
            Log.TokenRefreshFailed(_logger, conn.Id, failures, (long)delay.TotalMilliseconds, (long)remaining.TotalMilliseconds, code, failure);
            await wait.ConfigureAwait(false);
        }
    }
}
