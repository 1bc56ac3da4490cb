using System.Net;
using System.Net.WebSockets;
using Lifeline.Protocol;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Lifeline.Server.Transport;

/// <summary>
/// The WebSocket transport of the lean listener (<see cref="LifelineListenOptionsExtensions.UseLifeline"/>): the
/// upgrade was done in Kestrel connection middleware, and the WebSocket runs straight over the connection's pipes
/// (<see cref="ConnectionStream"/>). No HTTP object lives under an idle connection: the request rebuilt from the
/// upgrade's head is kept only until the welcome (for the hello's authenticator); a later <c>refresh</c>'s
/// authenticator sees a request with only the path and the addresses (no headers, no query: nothing of the head is
/// kept per connection). A reset aborts the Kestrel connection; a graceful end is the middleware's return.
/// </summary>
internal sealed class LeanWebSocketTransport : WebSocketTransport
{
    private readonly ConnectionContext _connection;
    private readonly string _path;
    private HttpContext? _head; // until the welcome

    public LeanWebSocketTransport(WebSocket socket, ConnectionContext connection, HttpContext head, string path, TimeProvider time)
        : base(socket, time)
    {
        _connection = connection;
        _head = head;
        _path = path;
    }

    public override IPEndPoint? RemoteEndPoint => _connection.RemoteEndPoint as IPEndPoint;

    public override HttpContext Request => Volatile.Read(ref _head) ?? AfterWelcome();

    /// <summary>The hello was accepted: the head's request is no longer needed (a refresh gets <see cref="AfterWelcome"/>).</summary>
    public override WelcomeMessage Announce(WelcomeMessage welcome)
    {
        Volatile.Write(ref _head, null);
        return welcome;
    }

    protected override IFeatureCollection ConnectionFeatures => _connection.Features;

    protected override void AbortConnection() => _connection.Abort();

    protected override void KeepGraceful()
    {
        // nothing to do: the lean connection is never aborted on its own, it ends with the middleware's return (FIN)
    }

    /// <summary>What a refresh's authenticator sees on the lean path: GET of the path, the addresses and the connection id.</summary>
    private DefaultHttpContext AfterWelcome()
    {
        var context = new DefaultHttpContext();
        context.Request.Method = HttpMethods.Get;
        context.Request.Path = _path;
        LeanListener.SetConnection(context, _connection);
        return context;
    }
}
