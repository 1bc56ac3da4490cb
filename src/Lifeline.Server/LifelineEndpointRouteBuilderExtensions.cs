using Lifeline.Server.Connections;
using Lifeline.Server.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server;

/// <summary>Maps the Lifeline WebSocket endpoint.</summary>
public static class LifelineEndpointRouteBuilderExtensions
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
        app.Run(context => WebSocketEndpoint.HandleAsync(context, runtime));
        return endpoints.Map(pattern, app.Build()).WithDisplayName("Lifeline WebSocket");
    }
}
