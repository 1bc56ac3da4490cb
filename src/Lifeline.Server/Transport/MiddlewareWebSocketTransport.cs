using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Lifeline.Server.Transport;

/// <summary>
/// The WebSocket transport behind <c>MapLifeline</c>: the ASP.NET Core WebSockets middleware did the upgrade, the
/// request (<see cref="HttpContext"/>) lives as long as the connection; a reset aborts the request (Kestrel resets the
/// TCP connection), a graceful end closes the <see cref="AbortGate"/>.
/// </summary>
internal sealed class MiddlewareWebSocketTransport : WebSocketTransport
{
    private readonly HttpContext _http;

    public MiddlewareWebSocketTransport(WebSocket socket, HttpContext http, TimeProvider time)
        : base(socket, time)
    {
        _http = http;
        RemoteEndPoint = http.Connection.RemoteIpAddress is { } ip ? new IPEndPoint(ip, http.Connection.RemotePort) : null;
    }

    public override IPEndPoint? RemoteEndPoint { get; }

    public override HttpContext Request => _http;

    protected override IFeatureCollection ConnectionFeatures => _http.Features;

    protected override void AbortConnection() => _http.Abort();

    protected override void KeepGraceful() => (_http.Features.Get<IHttpRequestLifetimeFeature>() as AbortGate)?.Suppress();
}
