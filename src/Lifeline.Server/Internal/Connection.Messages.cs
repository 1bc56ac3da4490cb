using Lifeline.Protocol;

namespace Lifeline.Server.Internal;

/// <summary>What the connection does with each client message: the hello handshake, heartbeats, requests.</summary>
internal sealed partial class Connection
{
    private long _helloAt; // when the hello was received: the start of state_sync_latency_seconds{phase="resync"}

    private async Task HandleFrameAsync(ReadOnlyMemory<byte> payload)
    {
        var parsed = ClientMessageParser.Parse(payload, _runtime.Options.MaxJsonDepth);
        if (parsed.IsFatal)
        {
            Log.BadInput(_runtime.Logger, Now(), Id, RemoteEndPoint, CloseCode.InvalidPayload.Code, parsed.ErrorMessage!);
            StartTeardown(CloseCode.InvalidPayload, DisconnectInitiator.Server);
            return;
        }

        if (State == ConnectionState.Handshaking)
        {
            await HandleHelloAsync(parsed);
            return;
        }

        if (!TakeRateToken(parsed.Message is PongMessage))
        {
            if (State == ConnectionState.Open)
            {
                Refuse(parsed.Id, ErrorCodes.RateLimited, $"over {_runtime.Options.MaxMessagesPerSecond} messages per second");
            }

            return;
        }

        if (!parsed.IsSuccess)
        {
            Send(new ErrorMessage(parsed.Id, parsed.ErrorCode!, parsed.ErrorMessage!));
            return;
        }

        switch (parsed.Message)
        {
            case PongMessage pong:
                OnPong(pong.N);
                break;
            case PingMessage ping:
                Send(new ServerPong(ping.N));
                break;
            case HelloMessage hello:
                Send(new ErrorMessage(hello.Id, ErrorCodes.InvalidMessage, "hello was already received on this connection"));
                break;
            default:
                await HandleRequestAsync(parsed.Message!);
                break;
        }
    }

    /// <summary>The first message must be a valid hello with v=1 (else 1002); the authenticator may refuse (4001).</summary>
    private async Task HandleHelloAsync(ParseResult parsed)
    {
        _helloAt = _runtime.Time.GetTimestamp();
        if (parsed.Message is not HelloMessage hello)
        {
            var why = parsed.IsSuccess ? $"expected hello, got {parsed.Type}" : $"bad hello: {parsed.ErrorMessage}";
            Log.BadInput(_runtime.Logger, Now(), Id, RemoteEndPoint, CloseCode.ProtocolError.Code, why);
            StartTeardown(CloseCode.ProtocolError.WithReason(parsed.IsSuccess || parsed.Type != "hello" ? "hello_expected" : "bad_hello"), DisconnectInitiator.Server);
            return;
        }

        if (hello.V != ProtocolConstants.Version)
        {
            Log.BadInput(_runtime.Logger, Now(), Id, RemoteEndPoint, CloseCode.ProtocolError.Code, $"unsupported version {hello.V}");
            StartTeardown(CloseCode.ProtocolError.WithReason("unsupported_version"), DisconnectInitiator.Server);
            return;
        }

        AuthenticationResult auth;
        try
        {
            auth = await _runtime.Authenticator.AuthenticateAsync(new AuthenticationContext(hello.Token, _http), Aborted);
        }
        catch (OperationCanceledException) when (Aborted.IsCancellationRequested)
        {
            return;
        }
        catch (Exception ex)
        {
            Log.AuthenticatorFailed(_runtime.Logger, ex, Id);
            StartTeardown(CloseCode.InternalError, DisconnectInitiator.Server, ex);
            return;
        }

        if (!auth.Succeeded)
        {
            var reason = string.IsNullOrEmpty(auth.FailureReason) ? CloseCode.Unauthorized.Reason : auth.FailureReason;
            Log.Unauthorized(_runtime.Logger, Now(), Id, RemoteEndPoint, reason);
            StartTeardown(CloseCode.Unauthorized.WithReason(reason), DisconnectInitiator.Server);
            return;
        }

        UserId = auth.UserId;
        if (UserId is not null)
        {
            if (!_runtime.Limits.TryAcquireUser(UserId, _runtime.Options.MaxConnectionsPerUser))
            {
                Log.TooManyConnections(_runtime.Logger, Now(), Id, RemoteEndPoint, "user", _runtime.Options.MaxConnectionsPerUser);
                StartTeardown(CloseCode.PolicyViolation.WithReason("too_many_connections"), DisconnectInitiator.Server);
                return;
            }

            _countedUser = UserId;
            if (State != ConnectionState.Handshaking)
            {
                ReleaseConnectionCounts(); // teardown already ran its release; give this one back too
                return;
            }
        }

        var resumed = await TryResumeAsync(hello.Resume);
        if (!resumed)
        {
            SessionToken = Ids.NewSessionToken();
            await StoreSessionAsync(null);
        }

        SessionId = Ids.SessionId(SessionToken!);
        if (!TryChangeState(ConnectionState.Handshaking, ConnectionState.Open))
        {
            return; // teardown began meanwhile (hello deadline, shutdown)
        }

        LeaveHandshakeSlot();
        _runtime.Metrics.ConnectionOpened();
        var options = _runtime.Options;
        if (resumed)
        {
            _runtime.Metrics.SessionResumed();
        }

        Send(new WelcomeMessage(
            SessionToken!,
            Id,
            UserId,
            resumed,
            new HeartbeatInfo((long)options.HeartbeatInterval.TotalMilliseconds, (long)options.HeartbeatTimeout.TotalMilliseconds),
            (long)options.ResumeWindow.TotalMilliseconds));
        StartHeartbeat();
        Log.Opened(_runtime.Logger, Now(), Id, UserId, RemoteEndPoint, resumed);
        await RunConnectedHookAsync(resumed);
    }

    /// <summary>
    /// Resumes the session named by <c>hello.resume</c> when it is still within its resume window and belongs to the
    /// same user; otherwise (unknown, expired, another user's) a fresh session starts and nothing is revealed.
    /// </summary>
    private async Task<bool> TryResumeAsync(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 256)
        {
            return false;
        }

        try
        {
            var session = await _runtime.Engine.FindSessionAsync(token, Aborted);
            if (session is null || session.User != UserId)
            {
                return false;
            }

            SessionToken = session.Token;
            return true;
        }
        catch (Lifeline.Engine.EngineUnavailableException)
        {
            return false;
        }
    }

    /// <summary>Stores the session so that it can be resumed for the resume window after this connection ends.</summary>
    private async Task StoreSessionAsync(CloseCode? closing)
    {
        try
        {
            var record = new Lifeline.Engine.SessionRecord(SessionToken!, UserId, _runtime.Time.GetUtcNow());
            await _runtime.Engine.StoreSessionAsync(record, _runtime.Time.GetUtcNow() + _runtime.Options.ResumeWindow, closing is null ? Aborted : CancellationToken.None);
        }
        catch (Exception ex) when (ex is Lifeline.Engine.EngineUnavailableException or OperationCanceledException or ObjectDisposedException)
        {
            // without the engine (down, or disposed at host shutdown) the session simply cannot be resumed; the client gets a fresh one
        }
    }

    private async Task RunConnectedHookAsync(bool resumed)
    {
        try
        {
            await _runtime.Options.Events.ConnectedAsync(new ConnectedContext(Id, UserId, SessionId!, resumed, RemoteEndPoint));
        }
        catch (Exception ex)
        {
            Log.HookFailed(_runtime.Logger, ex, Id, "OnConnected");
        }
    }

}
