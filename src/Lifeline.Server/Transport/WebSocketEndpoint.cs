using System.Net.WebSockets;
using Lifeline.Server.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Lifeline.Server.Transport;

/// <summary>
/// The WebSocket upgrade behind <c>MapLifeline</c>: refusals before the upgrade (400 not an upgrade, 503 draining or
/// too many pending handshakes, 403 origin), then the accept, then one <see cref="Connection"/> over a
/// <see cref="WebSocketTransport"/> for the rest of the request. Log ids 20-29.
/// </summary>
internal static partial class WebSocketEndpoint
{
    public static async Task HandleAsync(HttpContext context, LifelineRuntime runtime)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("Lifeline: WebSocket upgrade expected\n");
            return;
        }

        if (!ConnectionAdmission.TryAdmit(context, runtime, UpgradeLog.OriginRefused, UpgradeLog.TooManyHandshakes))
        {
            return;
        }

        WebSocket socket;
        try
        {
            socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                DangerousEnableCompression = false,
                KeepAliveInterval = TimeSpan.Zero,
            });
        }
        catch
        {
            runtime.Limits.ExitHandshake();
            throw;
        }

        // The connection owns the handshake slot from here: it leaves it when its hello is accepted or at teardown.
        await new Connection(new WebSocketTransport(socket, context, runtime.Time), context, runtime).RunAsync();
    }

    private static partial class UpgradeLog
    {
        [LoggerMessage(20, LogLevel.Warning, "WebSocket upgrade refused with 403: origin {Origin} is not allowed remote={RemoteAddress}", EventName = "OriginRefused")]
        public static partial void OriginRefused(ILogger logger, string origin, string? remoteAddress);

        [LoggerMessage(21, LogLevel.Warning, "WebSocket upgrade refused with 503: {Max} connections are already waiting for their hello remote={RemoteAddress}", EventName = "TooManyHandshakes")]
        public static partial void TooManyHandshakes(ILogger logger, int max, string? remoteAddress);
    }
}
