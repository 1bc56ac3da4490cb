using Lifeline.Protocol;

namespace Lifeline.Server.Connections;

/// <summary>
/// What a connection does with each client message: the first one goes to <see cref="Handshake"/>; after it, the
/// rate limit, then heartbeats, token refreshes (<see cref="TokenRefresh"/>) and requests (<see cref="ChannelRequests"/>). Runs on the receive loop only, one
/// message at a time.
/// </summary>
internal sealed class MessageDispatcher(Connection connection, LifelineRuntime runtime)
{
    private RateLimiter? _rate; // created with the first message after the hello

    public async Task HandleAsync(ReadOnlyMemory<byte> payload)
    {
        var parsed = ClientMessageParser.Parse(payload, runtime.Options.MaxJsonDepth);
        if (parsed.IsFatal)
        {
            ConnectionLog.BadInput(runtime.Logger, LogTime.Now(runtime.Time), connection.Id, connection.RemoteEndPoint, CloseCode.InvalidPayload.Code, parsed.ErrorMessage!);
            connection.StartTeardown(CloseCode.InvalidPayload, DisconnectInitiator.Server);
            return;
        }

        if (connection.State == ConnectionState.Handshaking)
        {
            await Handshake.RunAsync(connection, runtime, parsed);
            return;
        }

        switch ((_rate ??= new RateLimiter(runtime.Options, runtime.Time)).Take(exempt: parsed.Message is PongMessage))
        {
            case RateDecision.Abused:
                ConnectionLog.RateLimitAbused(runtime.Logger, LogTime.Now(runtime.Time), connection.Id, connection.UserId, connection.RemoteEndPoint);
                connection.StartTeardown(CloseCode.PolicyViolation.WithReason("rate_limit_abused"), DisconnectInitiator.Server);
                return;
            case RateDecision.Refused:
                if (connection.State == ConnectionState.Open)
                {
                    ChannelRequests.Refuse(connection, parsed.Id, ErrorCodes.RateLimited, $"over {runtime.Options.MaxMessagesPerSecond} messages per second");
                }

                return;
        }

        if (!parsed.IsSuccess)
        {
            connection.Enqueue(new ErrorMessage(parsed.Id, parsed.ErrorCode!, parsed.ErrorMessage!));
            return;
        }

        switch (parsed.Message)
        {
            case PongMessage pong:
                connection.OnPong(pong.N);
                break;
            case PingMessage ping:
                connection.Enqueue(new ServerPong(ping.N));
                break;
            case HelloMessage hello:
                connection.Enqueue(new ErrorMessage(hello.Id, ErrorCodes.InvalidMessage, "hello was already received on this connection"));
                break;
            case RefreshMessage refresh:
                await TokenRefresh.HandleAsync(connection, runtime, refresh);
                break;
            default:
                await ChannelRequests.HandleAsync(connection, runtime, parsed.Message!);
                break;
        }
    }
}
