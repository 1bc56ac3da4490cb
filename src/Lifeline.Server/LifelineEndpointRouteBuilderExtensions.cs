using Lifeline.Server.Connections;
using Lifeline.Server.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server;

/// <summary>Maps the Lifeline endpoints: the WebSocket and, unless turned off, the HTTP transport.</summary>
public static class LifelineEndpointRouteBuilderExtensions
{
    private static readonly string[] Preflight = [HttpMethods.Options];

    /// <summary>
    /// Maps the WebSocket endpoint at <paramref name="pattern"/> (default <c>/ws</c>). Requests that are not
    /// WebSocket upgrades get 400; upgrades during shutdown get 503. WebSocket-level keep-alive pings are off:
    /// Lifeline's application-level heartbeat replaces them. Compression (permessage-deflate) is off. Upgrades from a
    /// browser origin that is neither the server's own nor in <see cref="LifelineOptions.AllowedOrigins"/> get 403;
    /// upgrades while <see cref="LifelineOptions.MaxPendingHandshakes"/> connections await their hello get 503.
    /// Unless <see cref="LifelineOptions.EnableHttpTransport"/> is false, the HTTP transport is mapped beside it:
    /// <c>POST {pattern}/stream</c>, <c>POST {pattern}/send</c> and <c>POST {pattern}/poll</c> (the same origin check,
    /// limits and authentication; a GET there gets 405; <c>OPTIONS</c> there is the CORS preflight of a page of an origin
    /// in <see cref="LifelineOptions.AllowedOrigins"/>, 204, or 403 for any other). Conventions on the returned builder
    /// apply to all of them.
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
        var webSocket = endpoints.Map(pattern, app.Build()).WithDisplayName("Lifeline WebSocket");
        if (!runtime.Options.EnableHttpTransport)
        {
            return webSocket;
        }

        // The HTTP transport: POST only (a GET on these paths is answered 405 by routing).
        var path = pattern.TrimEnd('/');
        return new CompositeConventionBuilder(
        [
            webSocket,
            endpoints.MapPost(path + "/stream", context => HttpEndpoint.StreamAsync(context, runtime)).WithDisplayName("Lifeline HTTP stream"),
            endpoints.MapPost(path + "/send", context => HttpEndpoint.SendAsync(context, runtime)).WithDisplayName("Lifeline HTTP send"),
            endpoints.MapPost(path + "/poll", context => HttpEndpoint.PollAsync(context, runtime)).WithDisplayName("Lifeline HTTP poll"),
            endpoints.MapMethods(path + "/stream", Preflight, context => HttpCors.PreflightAsync(context, runtime)).WithDisplayName("Lifeline HTTP stream preflight"),
            endpoints.MapMethods(path + "/send", Preflight, context => HttpCors.PreflightAsync(context, runtime)).WithDisplayName("Lifeline HTTP send preflight"),
            endpoints.MapMethods(path + "/poll", Preflight, context => HttpCors.PreflightAsync(context, runtime)).WithDisplayName("Lifeline HTTP poll preflight"),
        ]);
    }

    /// <summary>Applies a convention (authorization, CORS, metadata) to every endpoint <c>MapLifeline</c> mapped.</summary>
    private sealed class CompositeConventionBuilder(IEndpointConventionBuilder[] builders) : IEndpointConventionBuilder
    {
        public void Add(Action<EndpointBuilder> convention)
        {
            foreach (var builder in builders)
            {
                builder.Add(convention);
            }
        }

        public void Finally(Action<EndpointBuilder> finallyConvention)
        {
            foreach (var builder in builders)
            {
                builder.Finally(finallyConvention);
            }
        }
    }
}
