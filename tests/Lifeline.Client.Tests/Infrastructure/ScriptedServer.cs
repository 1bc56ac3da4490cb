using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Lifeline.Client.Tests.Infrastructure;

/// <summary>
/// A Kestrel WebSocket endpoint on 127.0.0.1 that hands every accepted socket to the test as a <see cref="ScriptedPeer"/>,
/// so a test can play the server frame by frame: protocol edges a real server never produces on demand.
/// </summary>
internal sealed class ScriptedServer : IAsyncDisposable
{
    private TestKestrel _kestrel = null!;
    private readonly Channel<ScriptedPeer> _peers = Channel.CreateUnbounded<ScriptedPeer>();
    private readonly ConcurrentBag<ScriptedPeer> _all = [];
    private int _connections;
    private int _disposed;

    public Uri Url { get; private set; } = null!;

    public int Port => Url.Port;

    /// <summary>How many WebSocket connections were accepted so far.</summary>
    public int ConnectionCount => Volatile.Read(ref _connections);

    public static async Task<ScriptedServer> StartAsync(int port = 0)
    {
        var server = new ScriptedServer();
        server._kestrel = await TestKestrel.StartAsync(
            configureBuilder: null,
            app =>
            {
                app.UseWebSockets();
                app.Map("/ws", server.HandleAsync);
            },
            port: port);
        server.Url = server._kestrel.WebSocketUri();
        return server;
    }

    /// <summary>Waits for the client's next connection.</summary>
    public async Task<ScriptedPeer> AcceptAsync(TimeSpan? timeout = null) =>
        await _peers.Reader.ReadAsync().AsTask().WaitAsync(timeout ?? TestTimeouts.Default);

    /// <summary>True when a connection is waiting to be accepted.</summary>
    public bool TryAccept(out ScriptedPeer? peer) => _peers.Reader.TryRead(out peer);

    private async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        var socket = await context.WebSockets.AcceptWebSocketAsync();
        Interlocked.Increment(ref _connections);
        var peer = new ScriptedPeer(socket, context);
        _all.Add(peer);
        _peers.Writer.TryWrite(peer);

        // Keep the request alive until the test is done with this socket.
        await peer.Done;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var peer in _all)
        {
            peer.Abort();
        }

        await _kestrel.DisposeAsync();
    }
}
