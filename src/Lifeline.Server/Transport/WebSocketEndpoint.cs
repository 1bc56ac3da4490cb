using System.Net.WebSockets;
using Lifeline.Server.Connections;
using Microsoft.AspNetCore.Http;

namespace Lifeline.Server.Transport;

/// <summary>
/// The WebSocket upgrade behind <c>MapLifeline</c>: refusals before the upgrade (400 not an upgrade, 503 draining or
/// too many pending handshakes, 403 origin), then the accept, then one <see cref="Connection"/> over a
/// <see cref="MiddlewareWebSocketTransport"/> for the rest of the request. Logs: <see cref="UpgradeLog"/>.
/// </summary>
internal static class WebSocketEndpoint
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
        await new Connection(new MiddlewareWebSocketTransport(socket, context, runtime.Time), runtime).RunAsync();
    }
}
