using Lifeline.Protocol;

namespace Lifeline.Server.Connections;

/// <summary>
/// <c>refresh</c> on an open connection (PROTOCOL.md "refresh"): the new token goes to the same
/// <see cref="ILifelineAuthenticator"/> as the hello's. It must name the same user and not be expired: then the reply is
/// <c>ok</c> with the new <c>tokenExpiresInMs</c> and the connection's expiry and claims move
/// (<see cref="ConnectionCredentials"/>); otherwise <c>ok:false</c> <c>forbidden</c> and the old expiry stands (the
/// heartbeat sweep closes the connection with 4002 when it passes). The connection stays open either way. Also the
/// one place that turns an authenticator's <see cref="AuthenticationResult.ExpiresAt"/> into a deadline.
/// </summary>
internal static class TokenRefresh
{
    /// <summary>The result label of a refresh that was accepted (<c>ws_token_refreshes_total{result}</c>).</summary>
    public const string Ok = LifelineMetrics.RefreshOk;

    /// <summary>The result label of a refresh that was refused.</summary>
    public const string Forbidden = LifelineMetrics.RefreshForbidden;

    public static async Task HandleAsync(Connection connection, LifelineRuntime runtime, RefreshMessage refresh)
    {
        var (verdict, failure) = await AuthenticatorCall.RunAsync(connection, runtime, refresh.Token);
        if (failure is not null)
        {
            Refuse(connection, runtime, refresh.Id, "authenticator_failed");
            return;
        }

        if (verdict is not { } auth)
        {
            return; // the connection went away meanwhile
        }

        if (!auth.Succeeded)
        {
            Refuse(connection, runtime, refresh.Id, auth.IsExpired ? AuthenticationResult.ExpiredReason : "invalid_token");
            return;
        }

        if (!string.Equals(auth.UserId, connection.UserId, StringComparison.Ordinal))
        {
            Refuse(connection, runtime, refresh.Id, "another_user");
            return;
        }

        if (!TryDeadline(runtime, auth, out var expiresAt, out var expiresInMs))
        {
            Refuse(connection, runtime, refresh.Id, AuthenticationResult.ExpiredReason);
            return;
        }

        connection.AcceptCredentials(expiresAt, auth.Claims);
        runtime.Metrics.TokenRefreshed(ok: true);
        ConnectionLog.TokenRefresh(runtime.Logger, LogTime.Now(runtime.Time), connection.Id, connection.UserId, Ok, "accepted", expiresInMs);
        connection.Enqueue(new ReplyMessage(refresh.Id, true) { TokenExpiresInMs = expiresInMs });
    }

    /// <summary>
    /// The deadline of an accepted token: <paramref name="expiresAt"/> as a timestamp (0 when the token does not expire)
    /// and <paramref name="expiresInMs"/> for the client (relative, from now). False when the expiry has already passed.
    /// </summary>
    public static bool TryDeadline(LifelineRuntime runtime, AuthenticationResult auth, out long expiresAt, out long? expiresInMs)
    {
        expiresAt = 0;
        expiresInMs = null;
        if (auth.ExpiresAt is not { } at)
        {
            return true;
        }

        var left = at - runtime.Time.GetUtcNow();
        if (left <= TimeSpan.Zero)
        {
            return false;
        }

        var now = runtime.Time.GetTimestamp();
        expiresAt = now + Math.Max(1, runtime.ToTimestampTicks(left));
        expiresInMs = Math.Max(1, (long)left.TotalMilliseconds);
        return true;
    }

    private static void Refuse(Connection connection, LifelineRuntime runtime, long? id, string why)
    {
        runtime.Metrics.TokenRefreshed(ok: false);
        ConnectionLog.TokenRefresh(runtime.Logger, LogTime.Now(runtime.Time), connection.Id, connection.UserId, Forbidden, why, null);
        ChannelRequests.Refuse(connection, id, ErrorCodes.Forbidden, "token refused: " + why);
    }
}
