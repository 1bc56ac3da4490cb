using Lifeline.Engine;
using Lifeline.Protocol;

namespace Lifeline.Server.Connections;

/// <summary>
/// The hello: version check (1002), authentication (4001; an expired token 4002), the cluster-wide per-user limit (1008; 1013
/// when the engine cannot count), the user's message observer, resume or a new session, then
/// the welcome and the move to Open (<see cref="Connection.TryOpen"/>), then the application's OnConnected hook.
/// </summary>
internal static class Handshake
{
    /// <summary>Handles the first message of a connection; anything but a valid hello with v=1 closes it with 1002.</summary>
    public static async Task RunAsync(Connection connection, LifelineRuntime runtime, ParseResult parsed)
    {
        var helloAt = runtime.Time.GetTimestamp();
        var logger = runtime.Logger;
        if (parsed.Message is not HelloMessage hello)
        {
            var why = parsed.IsSuccess ? $"expected hello, got {parsed.Type}" : $"bad hello: {parsed.ErrorMessage}";
            ConnectionLog.BadInput(logger, LogTime.Now(runtime.Time), connection.Id, connection.RemoteEndPoint, CloseCode.ProtocolError.Code, why);
            connection.StartTeardown(CloseCode.ProtocolError.WithReason(parsed.IsSuccess || parsed.Type != "hello" ? "hello_expected" : "bad_hello"), DisconnectInitiator.Server);
            return;
        }

        if (hello.V != ProtocolConstants.Version)
        {
            ConnectionLog.BadInput(logger, LogTime.Now(runtime.Time), connection.Id, connection.RemoteEndPoint, CloseCode.ProtocolError.Code, $"unsupported version {hello.V}");
            connection.StartTeardown(CloseCode.ProtocolError.WithReason("unsupported_version"), DisconnectInitiator.Server);
            return;
        }

        var (verdict, failure) = await AuthenticatorCall.RunAsync(connection, runtime, hello.Token);
        if (failure is not null)
        {
            connection.StartTeardown(CloseCode.InternalError, DisconnectInitiator.Server, failure);
            return;
        }

        if (verdict is not { } auth)
        {
            return; // the connection went away meanwhile
        }

        long expiresAt = 0;
        long? expiresInMs = null;
        if (auth.IsExpired || (auth.Succeeded && !TokenRefresh.TryDeadline(runtime, auth, out expiresAt, out expiresInMs)))
        {
            ConnectionLog.TokenExpired(logger, LogTime.Now(runtime.Time), connection.Id, auth.UserId, connection.RemoteEndPoint);
            connection.StartTeardown(CloseCode.TokenExpired, DisconnectInitiator.Server);
            return;
        }

        if (!auth.Succeeded)
        {
            var reason = string.IsNullOrEmpty(auth.FailureReason) ? CloseCode.Unauthorized.Reason : auth.FailureReason;
            ConnectionLog.Unauthorized(logger, LogTime.Now(runtime.Time), connection.Id, connection.RemoteEndPoint, reason);
            connection.StartTeardown(CloseCode.Unauthorized.WithReason(reason), DisconnectInitiator.Server);
            return;
        }

        connection.Authenticated(auth, expiresAt);
        if (auth.UserId is { } user)
        {
            var outcome = await connection.Counts.TryAcquireAsync(runtime.Engine, ConnectionSlotKind.User, user, runtime.Options.MaxConnectionsPerUser);
            if (!connection.RefuseUnlessAcquired(outcome, "user", runtime.Options.MaxConnectionsPerUser) || connection.State != ConnectionState.Handshaking)
            {
                return; // refused, or teardown began meanwhile (it gives the slot back, whichever finished last)
            }

            // Before the welcome, so that a message sent to the user once the client has its welcome reaches it.
            if (!await connection.ObserveUserAsync(user))
            {
                return;
            }
        }

        var resumed = await FindSessionAsync(runtime, connection, hello.Resume);
        if (resumed is null)
        {
            connection.AssignSession(Ids.NewSessionToken());
            await StoreSessionAsync(runtime, connection.SessionToken!, auth.UserId, connection.Aborted);
        }
        else
        {
            connection.AssignSession(resumed);
        }

        var options = runtime.Options;
        var welcome = new WelcomeMessage(
            connection.SessionToken!,
            connection.Id,
            auth.UserId,
            resumed is not null,
            new HeartbeatInfo((long)options.HeartbeatInterval.TotalMilliseconds, (long)options.HeartbeatTimeout.TotalMilliseconds),
            (long)options.ResumeWindow.TotalMilliseconds)
        {
            TokenExpiresInMs = expiresInMs is null ? null : RemainingMs(runtime, expiresAt),
        };
        if (!connection.TryOpen(welcome, helloAt))
        {
            return; // teardown began meanwhile (hello deadline, shutdown)
        }

        ConnectionLog.Opened(logger, LogTime.Now(runtime.Time), connection.Id, auth.UserId, connection.RemoteEndPoint, resumed is not null);
        try
        {
            await options.Events.ConnectedAsync(new ConnectedContext(connection.Id, auth.UserId, connection.SessionId!, resumed is not null, connection.RemoteEndPoint));
        }
        catch (Exception ex)
        {
            ConnectionLog.HookFailed(logger, ex, connection.Id, "OnConnected");
        }
    }

    /// <summary>The token's time left at the welcome (the session lookup took some since the authenticator ran), at least 1 ms.</summary>
    private static long RemainingMs(LifelineRuntime runtime, long expiresAt) =>
        Math.Max(1, (long)((expiresAt - runtime.Time.GetTimestamp()) * 1000.0 / runtime.Time.TimestampFrequency));

    /// <summary>Stores the session so that it can be resumed for the resume window after the connection ends.</summary>
    public static async Task StoreSessionAsync(LifelineRuntime runtime, string token, string? user, CancellationToken cancellationToken)
    {
        try
        {
            var record = new SessionRecord(token, user, runtime.Time.GetUtcNow());
            await runtime.Engine.StoreSessionAsync(record, runtime.Time.GetUtcNow() + runtime.Options.ResumeWindow, cancellationToken);
        }
        catch (Exception ex) when (ex is EngineUnavailableException or OperationCanceledException or ObjectDisposedException)
        {
            // without the engine (down, or disposed at host shutdown) the session simply cannot be resumed; the client gets a fresh one
        }
    }

    /// <summary>
    /// The session named by <c>hello.resume</c> when it is still within its resume window and belongs to the same
    /// user; otherwise (unknown, expired, another user's) null: a fresh session starts and nothing is revealed.
    /// </summary>
    private static async Task<string?> FindSessionAsync(LifelineRuntime runtime, Connection connection, string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 256)
        {
            return null;
        }

        try
        {
            var session = await runtime.Engine.FindSessionAsync(token, connection.Aborted);
            return session is null || session.User != connection.UserId ? null : session.Token;
        }
        catch (EngineUnavailableException)
        {
            return null;
        }
    }
}
