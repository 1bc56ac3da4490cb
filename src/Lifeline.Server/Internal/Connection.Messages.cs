using Lifeline.Protocol;

namespace Lifeline.Server.Internal;

/// <summary>What the connection does with each client message: the hello handshake, heartbeats, requests.</summary>
internal sealed partial class Connection
{
    private async Task HandleFrameAsync(ReadOnlyMemory<byte> payload)
    {
        var parsed = ClientMessageParser.Parse(payload);
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
        var resumed = false;
        SessionToken = Ids.NewSessionToken();
        if (!TryChangeState(ConnectionState.Handshaking, ConnectionState.Open))
        {
            return; // teardown began meanwhile (hello deadline, shutdown)
        }

        _runtime.Metrics.ConnectionOpened();
        var options = _runtime.Options;
        Send(new WelcomeMessage(
            SessionToken,
            Id,
            UserId,
            resumed,
            new HeartbeatInfo((long)options.HeartbeatInterval.TotalMilliseconds, (long)options.HeartbeatTimeout.TotalMilliseconds),
            (long)options.ResumeWindow.TotalMilliseconds));
        StartHeartbeat();
        Log.Opened(_runtime.Logger, Now(), Id, UserId, RemoteEndPoint, resumed);
        await RunConnectedHookAsync(resumed);
    }

    private async Task RunConnectedHookAsync(bool resumed)
    {
        try
        {
            await _runtime.Options.Events.ConnectedAsync(new ConnectedContext(Id, UserId, Id, resumed, RemoteEndPoint));
        }
        catch (Exception ex)
        {
            Log.HookFailed(_runtime.Logger, ex, Id, "OnConnected");
        }
    }

    /// <summary>Channel requests (subscribe, unsubscribe, publish, presence).</summary>
    private Task HandleRequestAsync(ClientMessage message)
    {
        Send(new ErrorMessage(message.Id, ErrorCodes.Unavailable, $"{message.Type} is not available on this server"));
        return Task.CompletedTask;
    }
}
