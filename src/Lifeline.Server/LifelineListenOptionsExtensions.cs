using Lifeline.Server.Connections;
using Lifeline.Server.Transport;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server;

/// <summary>The lean listener: Lifeline's own WebSocket upgrade on a Kestrel endpoint.</summary>
public static class LifelineListenOptionsExtensions
{
    /// <summary>
    /// Makes Lifeline do the WebSocket upgrade for <paramref name="path"/> itself, in Kestrel connection middleware on
    /// this endpoint, instead of through ASP.NET Core's HTTP pipeline (<c>MapLifeline</c>): an idle connection then holds
    /// no HTTP objects, only the socket, the WebSocket and the Lifeline connection. Everything above the transport
    /// (the hello, authentication by <see cref="ILifelineAuthenticator"/>, channels, heartbeats, limits, metrics) is the
    /// same. Every other request on the endpoint (other paths, <c>POST {path}/stream</c> of the HTTP transport, a GET of
    /// <paramref name="path"/> without <c>Upgrade: websocket</c>) goes on to the HTTP pipeline unchanged, so
    /// <c>MapLifeline</c> and the application's endpoints keep working on the same port.
    /// </summary>
    /// <remarks>
    /// <para>
    /// What it gives up: no HTTP middleware runs for the upgrade (ASP.NET Core authentication, authorization, CORS,
    /// the endpoint's conventions), so <see cref="HttpContextUserAuthenticator"/> sees no authenticated user there: the
    /// hello's token carries authentication. The authenticator gets a request rebuilt from the upgrade's head (method,
    /// path, query, headers, addresses; <c>RequestServices</c> is the application's root provider) for the hello; a
    /// later <c>refresh</c> sees only the path and the addresses (the head is not kept per connection). Only
    /// HTTP/1.1 upgrades to exactly <paramref name="path"/> (case-sensitive) are taken. Origin is checked as by
    /// <c>MapLifeline</c> (<see cref="LifelineOptions.AllowedOrigins"/>; the scheme is https when the endpoint has TLS:
    /// call <c>UseHttps</c> before <c>UseLifeline</c>).
    /// </para>
    /// <para>
    /// Answers for a request to <paramref name="path"/>: 405 when not GET; 400 when not HTTP/1.1, malformed, without
    /// exactly one Host, without <c>Connection: Upgrade</c>, without a <c>Sec-WebSocket-Key</c> that is the base64 of 16
    /// bytes or without <c>Sec-WebSocket-Version</c>; 426 with <c>Sec-WebSocket-Version: 13</c> for another version;
    /// 431 for a head longer than Kestrel's <c>MaxRequestLineSize</c> plus <c>MaxRequestHeadersTotalSize</c>; 503
    /// while draining or at <see cref="LifelineOptions.MaxPendingHandshakes"/>; 403 for a foreign Origin. A connection
    /// whose first request head (for any path) is not complete within <see cref="LifelineOptions.HandshakeTimeout"/>
    /// of the accept is closed. Bytes sent after the head (a hello in the same packet) are the first WebSocket frame.
    /// </para>
    /// </remarks>
    /// <param name="listen">The Kestrel endpoint (HTTP/1.1; with TLS, after <c>UseHttps</c>).</param>
    /// <param name="path">The WebSocket path; the default is <c>/ws</c>.</param>
    /// <returns><paramref name="listen"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is not an absolute path of visible ASCII without a query.</exception>
    public static ListenOptions UseLifeline(this ListenOptions listen, string path = Protocol.ProtocolConstants.DefaultPath)
    {
        ArgumentNullException.ThrowIfNull(listen);
        if (!LeanListener.IsValidPath(path))
        {
            throw new ArgumentException($"'{path}' is not a path for UseLifeline: it must start with '/' and hold visible ASCII only, without a query", nameof(path));
        }

        listen.Use(next =>
        {
            var services = listen.ApplicationServices;
            var runtime = services.GetService<LifelineRuntime>()
                ?? throw new InvalidOperationException("UseLifeline needs the Lifeline services: call services.AddLifeline() first");
            var listener = new LeanListener(runtime, path, listen.KestrelServerOptions.Limits, services);
            return connection => listener.OnConnectionAsync(connection, next);
        });
        return listen;
    }
}
