using Lifeline.Protocol;

namespace Lifeline.Server.Connections;

/// <summary>
/// What a connection does with each client message: the first one goes to <see cref="Handshake"/>; after it, the
/// rate limit, then heartbeats, token refreshes (<see cref="TokenRefresh"/>) and requests (<see cref="ChannelRequests"/>). Runs on the receive loop only, one
/// message at a time. Stateless (the token bucket is the connection's): no object per connection.
/// </summary>
internal static class MessageDispatcher
{
    public static Task HandleAsync(Connection connection, LifelineRuntime runtime, ReadOnlyMemory<byte> payload)
    {
        // The heartbeat's answer, every interval from every idle connection: a canonical pong is recognised without the
        // JSON parser. It is what the full path below does with it (pongs are exempt from the rate limit: they only take
        // a token when the bucket exists); anything else, valid or not, takes the full path.
        if (connection.State == ConnectionState.Open && HeartbeatFrames.TryReadPong(payload.Span, out var n))
        {
            connection.ExistingRateLimiter?.Take(exempt: true);
            connection.OnPong(n);
            return Task.CompletedTask;
        }

        return HandleParsedAsync(connection, runtime, payload);
    }

    private static async Task HandleParsedAsync(Connection connection, LifelineRuntime runtime, ReadOnlyMemory<byte> payload)
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

        var decision = parsed.Message is PongMessage
            ? connection.ExistingRateLimiter?.Take(exempt: true) ?? RateDecision.Allowed
            : connection.RateLimiter.Take(exempt: false);
        switch (decision)
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
