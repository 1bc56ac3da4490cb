using System.Diagnostics;
using System.Net;
using Lifeline.Bench.Measure;
using Lifeline.Bench.Net;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Protocols;

/// <summary>
/// One generator connection: a <see cref="RawWebSocket"/> speaking one server's protocol through an
/// <see cref="IProtocolAdapter"/>. Answers heartbeats, waits for handshake and subscribe replies, sends publishes
/// within a window of unacknowledged ones, and reports deliveries to a <see cref="DeliverySink"/>.
/// </summary>
internal sealed class BenchClient : IFrameHandler
{
    private readonly IProtocolAdapter _adapter;
    private readonly DeliverySink? _sink;
    private IBenchConnection? _socket;
    private TaskCompletionSource<bool>? _waiter;
    private SemaphoreSlim? _window;
    private int _pings;
    private int _errors;
    private long _closedAt;
    private long _lastSentMs;

    private BenchClient(IProtocolAdapter adapter, DeliverySink? sink)
    {
        _adapter = adapter;
        _sink = sink;
    }

    /// <summary>Called once when the connection ends, from the receive loop.</summary>
    public Action<BenchClient>? Closed { get; set; }

    public bool IsClosed => _socket?.IsClosed ?? true;

    /// <summary>Stopwatch timestamp of the end of the connection; 0 while open.</summary>
    public long ClosedAt => Interlocked.Read(ref _closedAt);

    /// <summary>Heartbeat pings answered by the adapter (Lifeline, SignalR); ws pings are answered by the socket.</summary>
    public int Pings => Volatile.Read(ref _pings);

    /// <summary>Refused requests (error replies).</summary>
    public int Errors => Volatile.Read(ref _errors);

    /// <summary>Connects, upgrades, performs the protocol's handshake and waits for its reply.</summary>
    public static async Task<BenchClient> ConnectAsync(IProtocolAdapter adapter, IPEndPoint server, IPAddress? local, DeliverySink? sink, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var client = new BenchClient(adapter, sink);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var waiter = adapter.ReadyOnOpen ? null : client.NewWaiter();
        client._socket = adapter.Kind switch
        {
            ServerKind.LifelineHttp => await HttpEventStream.OpenLifelineAsync(server, local, adapter.Path, adapter.OpenMessage.ToArray(), m => client.OnMessages(m.Span), client.OnEnded, cts.Token),
            ServerKind.SignalRSse => await HttpEventStream.OpenSignalRAsync(server, local, adapter.Path, adapter.OpenMessage.ToArray(), m => client.OnMessages(m.Span), client.OnEnded, cts.Token),
            _ => await RawWebSocket.ConnectAsync(server, local, adapter.Path, client, cts.Token),
        };
        try
        {
            if (waiter is not null)
            {
                if (adapter.Kind is not (ServerKind.LifelineHttp or ServerKind.SignalRSse))
                {
                    client.Send(adapter.OpenMessage); // over HTTP the open message went with the stream request
                }

                if (!await waiter.WaitAsync(cts.Token))
                {
                    throw new IOException($"{adapter.Kind} handshake refused");
                }
            }
        }
        catch
        {
            client.Abort();
            throw;
        }

        return client;
    }

    public bool Send(ReadOnlySpan<byte> message)
    {
        _lastSentMs = Environment.TickCount64;
        return _socket?.SendText(message) ?? false;
    }

    /// <summary>Subscribes and waits for the server's confirmation.</summary>
    public async Task<bool> SubscribeAsync(string channel, int id, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var waiter = NewWaiter();
        if (!Send(_adapter.Subscribe(channel, id)))
        {
            return false;
        }

        return await waiter.WaitAsync(timeout, cancellationToken);
    }

    /// <summary>Allows up to <paramref name="window"/> publishes awaiting their reply.</summary>
    public void EnablePublishing(int window) => _window = new SemaphoreSlim(window);

    /// <summary>Waits for room in the window, then sends a publish stamped now.</summary>
    public async Task<bool> PublishAsync(string channel, int id, int payloadLength, CancellationToken cancellationToken)
    {
        var window = _window ?? throw new InvalidOperationException("EnablePublishing first");
        await window.WaitAsync(cancellationToken);
        return Send(_adapter.Publish(channel, id, Payload.Create(payloadLength)));
    }

    /// <summary>Waits for room in the window (shared with publishes), then sends an event stamped now.</summary>
    public async Task<bool> EmitAsync(string channel, int id, int payloadLength, CancellationToken cancellationToken)
    {
        var window = _window ?? throw new InvalidOperationException("EnablePublishing first");
        await window.WaitAsync(cancellationToken);
        return Send(_adapter.Emit(channel, id, Payload.Create(payloadLength)));
    }

    /// <summary>Waits until every publish has been acknowledged (or the time is up).</summary>
    public async Task<bool> DrainPublishesAsync(int window, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var sem = _window ?? throw new InvalidOperationException("EnablePublishing first");
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (sem.CurrentCount < window && Stopwatch.GetTimestamp() < deadline && !IsClosed)
        {
            await Task.Delay(5, cancellationToken);
        }

        return sem.CurrentCount >= window;
    }

    public void Abort() => _socket?.Abort();

    public void Reset() => _socket?.Reset();

    void IFrameHandler.OnText(RawWebSocket socket, ReadOnlySpan<byte> payload)
    {
        _socket ??= socket;
        OnMessages(payload);
    }

    /// <summary>One received text (a WebSocket message, or one event of an HTTP event stream).</summary>
    private void OnMessages(ReadOnlySpan<byte> payload)
    {
        if (_adapter.KeepAliveAfterMs > 0 && Environment.TickCount64 - _lastSentMs > _adapter.KeepAliveAfterMs)
        {
            Send(_adapter.KeepAliveMessage);
        }

        var separator = _adapter.Separator;
        while (!payload.IsEmpty)
        {
            ReadOnlySpan<byte> message;
            var end = separator == 0 ? -1 : payload.IndexOf(separator);
            if (end < 0)
            {
                message = payload;
                payload = default;
            }
            else
            {
                message = payload[..end];
                payload = payload[(end + 1)..];
            }

            if (Payload.TryReadTimestamp(message, out var sent))
            {
                _sink?.Record(sent);
            }
            else
            {
                _adapter.OnControl(this, message);
            }
        }
    }

    void IFrameHandler.OnClosed(RawWebSocket socket) => OnEnded();

    private void OnEnded()
    {
        Interlocked.Exchange(ref _closedAt, Stopwatch.GetTimestamp());
        SignalWaiter(false);
        Closed?.Invoke(this);
    }

    internal void CountPing() => Interlocked.Increment(ref _pings);

    /// <summary>Completes the pending handshake or subscribe wait; false when none was pending.</summary>
    internal bool SignalWaiter(bool ok)
    {
        var waiter = Interlocked.Exchange(ref _waiter, null);
        if (waiter is null)
        {
            return false;
        }

        if (!ok)
        {
            Interlocked.Increment(ref _errors);
        }

        waiter.TrySetResult(ok);
        return true;
    }

    internal void SignalAck(bool ok)
    {
        if (!ok)
        {
            Interlocked.Increment(ref _errors);
        }

        _window?.Release();
    }

    private Task<bool> NewWaiter()
    {
        var waiter = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _waiter, waiter);
        return waiter.Task;
    }
}
