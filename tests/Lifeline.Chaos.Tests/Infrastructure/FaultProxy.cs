using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Lifeline.Chaos.Tests.Infrastructure;

/// <summary>What <see cref="FaultProxy"/> does to the bytes it forwards.</summary>
public sealed record FaultOptions
{
    /// <summary>Added to every byte in each direction (one-way latency); order and throughput are kept.</summary>
    public TimeSpan Latency { get; init; }

    /// <summary>Every byte is written with its own send call (TCP_NODELAY on), in both directions.</summary>
    public bool OneByteWrites { get; init; }
}

/// <summary>
/// A fault-injecting TCP proxy on 127.0.0.1 for the faults the kernel cannot express here (issue 5): added latency,
/// frames split into 1-byte writes, half-close. Each accepted connection is forwarded to <c>target</c> by two pumps,
/// one per direction; a pump reads what arrives, stamps it with the time it may leave (now + latency), and a single
/// writer per direction sends it when due, so order is kept. The end of a stream (FIN) is forwarded as a FIN; a reset
/// or failure on one side resets the other (SO_LINGER 0). Disposing stops the listener and resets every connection.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly FaultOptions _options;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<ProxiedConnection> _connections = new();
    private readonly Channel<ProxiedConnection> _accepted = Channel.CreateUnbounded<ProxiedConnection>();
    private readonly Task _acceptLoop;

    public FaultProxy(IPEndPoint target, FaultOptions options)
    {
        _target = target;
        _options = options;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary><paramref name="url"/> with the proxy's port instead of the server's.</summary>
    public Uri Through(Uri url) => new UriBuilder(url) { Host = "127.0.0.1", Port = Port }.Uri;

    /// <summary>Every connection accepted so far, in order.</summary>
    public IReadOnlyList<ProxiedConnection> Connections => [.. _connections];

    /// <summary>The next connection accepted (in accept order across calls), or a failure after <paramref name="limit"/>.</summary>
    public async Task<ProxiedConnection> NextConnectionAsync(TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        return await _accepted.Reader.ReadAsync(cts.Token);
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptSocketAsync(_stop.Token);
                var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await server.ConnectAsync(_target, _stop.Token);
                }
                catch (Exception ex) when (ex is SocketException or OperationCanceledException)
                {
                    ProxiedConnection.Reset(client);
                    server.Dispose();
                    continue;
                }

                if (_options.OneByteWrites)
                {
                    client.NoDelay = true;
                    server.NoDelay = true;
                }

                var connection = new ProxiedConnection(client, server, _options, _stop.Token);
                _connections.Enqueue(connection);
                _accepted.Writer.TryWrite(connection);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // stopped
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _acceptLoop;
        foreach (var c in _connections)
        {
            c.Abort();
            await c.Completed.WaitAsync(TimeSpan.FromSeconds(5));
        }

        _stop.Dispose();
    }
}

/// <summary>One proxied TCP connection: the client's socket (downstream), the proxy's socket to the server (upstream).</summary>
public sealed class ProxiedConnection
{
    private readonly Socket _client;
    private readonly Socket _server;
    private readonly FaultOptions _options;
    private readonly CancellationTokenSource _upstreamCut = new();
    private int _aborted;
    private long _bytesUp;
    private long _bytesDown;
    private long _writesUp;
    private long _writesDown;

    internal ProxiedConnection(Socket client, Socket server, FaultOptions options, CancellationToken stop)
    {
        _client = client;
        _server = server;
        _options = options;
        ClientEndPoint = (IPEndPoint)client.RemoteEndPoint!;
        UpstreamLocalEndPoint = (IPEndPoint)server.LocalEndPoint!;
        var up = PumpAsync(_client, _server, upstream: true, stop);
        var down = PumpAsync(_server, _client, upstream: false, stop);
        Completed = Task.WhenAll(up, down).ContinueWith(_ => Dispose(), TaskScheduler.Default);
    }

    /// <summary>The client's address as the proxy sees it.</summary>
    public IPEndPoint ClientEndPoint { get; }

    /// <summary>The proxy's own address towards the server: what the server sees as its peer.</summary>
    public IPEndPoint UpstreamLocalEndPoint { get; }

    /// <summary>Bytes forwarded client -> server, and the number of send calls that carried them.</summary>
    public (long Bytes, long Writes) Up => (Interlocked.Read(ref _bytesUp), Interlocked.Read(ref _writesUp));

    /// <summary>Bytes forwarded server -> client, and the number of send calls that carried them.</summary>
    public (long Bytes, long Writes) Down => (Interlocked.Read(ref _bytesDown), Interlocked.Read(ref _writesDown));

    /// <summary>Both pumps ended and both sockets are closed.</summary>
    public Task Completed { get; }

    /// <summary>Set when the server side ended (FIN or reset) while the client side was kept silent.</summary>
    public TaskCompletionSource ServerSideEnded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Half-close: a FIN to the server on the client's behalf, without a WebSocket close frame; whatever the client
    /// sends afterwards is read and dropped. The client's side is kept open and silent: when the server then ends the
    /// connection, nothing is forwarded to the client (it must find out by itself, with its watchdog).
    /// </summary>
    public void HalfCloseToServer()
    {
        _upstreamCut.Cancel();
        try
        {
            _server.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Resets both sides.</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        Reset(_client);
        Reset(_server);
    }

    internal static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool upstream, CancellationToken stop)
    {
        var queue = Channel.CreateUnbounded<(long Due, byte[] Data)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var writer = WriteAsync(queue.Reader, to, upstream, stop);
        var buffer = new byte[16 * 1024];
        var failed = false;
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, stop);
                if (n == 0)
                {
                    break; // FIN
                }

                if (upstream && _upstreamCut.IsCancellationRequested)
                {
                    continue; // half-closed towards the server: the client's bytes go nowhere
                }

                var due = Environment.TickCount64 + (long)_options.Latency.TotalMilliseconds;
                queue.Writer.TryWrite((due, buffer.AsSpan(0, n).ToArray()));
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            failed = true;
        }

        queue.Writer.TryComplete();
        var writeFailed = !await writer;
        if (!upstream && _upstreamCut.IsCancellationRequested)
        {
            ServerSideEnded.TrySetResult(); // the server ended it; the client is left with a silent connection
            return;
        }

        if (failed || writeFailed)
        {
            Abort();
        }
        else if (!(upstream && _upstreamCut.IsCancellationRequested))
        {
            try
            {
                to.Shutdown(SocketShutdown.Send); // forward the FIN
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>Sends what the pump queued, each chunk when it is due; false when the destination failed.</summary>
    private async Task<bool> WriteAsync(ChannelReader<(long Due, byte[] Data)> queue, Socket to, bool upstream, CancellationToken stop)
    {
        try
        {
            await foreach (var (due, data) in queue.ReadAllAsync(stop))
            {
                var wait = due - Environment.TickCount64;
                if (wait > 0)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(wait), stop);
                }

                if (upstream && _upstreamCut.IsCancellationRequested)
                {
                    continue;
                }

                var step = _options.OneByteWrites ? 1 : data.Length;
                for (var offset = 0; offset < data.Length; offset += step)
                {
                    var sent = await to.SendAsync(data.AsMemory(offset, Math.Min(step, data.Length - offset)), SocketFlags.None, stop);
                    if (sent != Math.Min(step, data.Length - offset))
                    {
                        return false; // a blocking socket sends everything or fails
                    }

                    Interlocked.Increment(ref upstream ? ref _writesUp : ref _writesDown);
                }

                Interlocked.Add(ref upstream ? ref _bytesUp : ref _bytesDown, data.Length);
            }

            return true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            return false;
        }
    }

    private void Dispose()
    {
        _client.Dispose();
        _server.Dispose();
        _upstreamCut.Dispose();
    }
}
