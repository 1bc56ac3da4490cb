using System.Net.WebSockets;
using Lifeline.Server.Connections;
using Lifeline.Server.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lifeline.Server;

/// <summary>Maps the Lifeline WebSocket endpoint.</summary>
public static partial class LifelineEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the WebSocket endpoint at <paramref name="pattern"/> (default <c>/ws</c>). Requests that are not
    /// WebSocket upgrades get 400; upgrades during shutdown get 503. WebSocket-level keep-alive pings are off:
    /// Lifeline's application-level heartbeat replaces them. Compression (permessage-deflate) is off. Upgrades from a
    /// browser origin that is neither the server's own nor in <see cref="LifelineOptions.AllowedOrigins"/> get 403;
    /// upgrades while <see cref="LifelineOptions.MaxPendingHandshakes"/> connections await their hello get 503.
    /// </summary>
    /// <param name="endpoints">The route builder.</param>
    /// <param name="pattern">The path.</param>
    /// <returns>The endpoint convention builder.</returns>
    public static IEndpointConventionBuilder MapLifeline(this IEndpointRouteBuilder endpoints, string pattern = Protocol.ProtocolConstants.DefaultPath)
    {
        var runtime = endpoints.ServiceProvider.GetRequiredService<LifelineRuntime>();
        // Like SignalR's MapConnections: a branch with the WebSockets middleware, so the app need not call UseWebSockets.
        var app = endpoints.CreateApplicationBuilder();
        app.Use(next => context =>
        {
            // Installed before the WebSockets middleware so that its abort-on-dispose goes through the gate.
            if (context.Features.Get<IHttpRequestLifetimeFeature>() is { } lifetime)
            {
                context.Features.Set<IHttpRequestLifetimeFeature>(new AbortGate(lifetime));
            }

            return next(context);
        });
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });
        app.Run(context => HandleAsync(context, runtime));
        return endpoints.Map(pattern, app.Build()).WithDisplayName("Lifeline WebSocket");
    }

    private static async Task HandleAsync(HttpContext context, LifelineRuntime runtime)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("Lifeline: WebSocket upgrade expected\n");
            return;
        }

        if (runtime.Draining)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "1";
            return;
        }

        if (!OriginPolicy.IsAllowed(context.Request, runtime.Options.AllowedOrigins))
        {
            UpgradeLog.OriginRefused(runtime.UpgradeLogger, context.Request.Headers.Origin.ToString(), context.Connection.RemoteIpAddress?.ToString());
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return;
        }

        if (!runtime.Limits.TryEnterHandshake(runtime.Options.MaxPendingHandshakes))
        {
            UpgradeLog.TooManyHandshakes(runtime.UpgradeLogger, runtime.Options.MaxPendingHandshakes, context.Connection.RemoteIpAddress?.ToString());
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "1";
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
