using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Lifeline.Bench.Net;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Workloads;

/// <summary>What the storm clients report: timestamps (Stopwatch) of connect attempts, upgrades and resyncs.</summary>
internal sealed class StormLog
{
    public System.Collections.Concurrent.ConcurrentQueue<long> Attempts { get; private set; } = new();

    public System.Collections.Concurrent.ConcurrentQueue<long> Upgrades { get; private set; } = new();

    public int Hinted;

    public void Reset()
    {
        Attempts = new();
        Upgrades = new();
        Hinted = 0;
    }
}

/// <summary>
/// A client of the reconnect storm (W5), following PROTOCOL.md "Reconnection" for every server alike: after a lost
/// connection, attempt k waits a uniformly random delay in [0, min(cap, base * 2^k)) (full jitter; base 1 s, cap 30 s),
/// or the server's <c>retry_after_ms</c> hint of a 1001 close for the first attempt; one attempt in flight at a time.
/// A resync is: Lifeline hello (with resume) then subscribe with <c>since</c> = last {epoch, offset} until the
/// snapshot (or a recovered subscribe); SignalR handshake then the hub's Subscribe; ws the subscribe message.
/// </summary>
internal sealed class StormClient
{
    private const double BaseMs = 1000;
    private const double CapMs = 30_000;
    private readonly ServerKind _kind;
    private readonly IPEndPoint _server;
    private readonly IPAddress _local;
    private readonly string _channel;
    private readonly StormLog _log;
    private StormConnection? _current;
    private long _resyncedAt;

    public StormClient(ServerKind kind, IPEndPoint server, IPAddress local, string channel, StormLog log)
    {
        _kind = kind;
        _server = server;
        _local = local;
        _channel = channel;
        _log = log;
    }

    /// <summary>Stopwatch timestamp of the latest completed (re)sync.</summary>
    public long ResyncedAt => Interlocked.Read(ref _resyncedAt);

    public string? Session { get; set; }

    public string? Epoch { get; set; }

    public long Offset { get; set; }

    public string Channel => _channel;

    /// <summary>One attempt: connect, handshake, subscribe; true when resynced.</summary>
    public async Task<bool> AttemptAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        _log.Attempts.Enqueue(Stopwatch.GetTimestamp());
        var connection = new StormConnection(this, _kind);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await connection.OpenAsync(_server, _local, cts.Token);
            _log.Upgrades.Enqueue(Stopwatch.GetTimestamp());
            if (!await connection.ResyncAsync(cts.Token))
            {
                connection.Abort();
                return false;
            }

            _current = connection;
            Interlocked.Exchange(ref _resyncedAt, Stopwatch.GetTimestamp());
            return true;
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            connection.Abort();
            return false;
        }
    }

    /// <summary>Reconnects every time the connection is lost, until cancelled (at most 1,000 losses, 100 attempts each).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        for (var losses = 0; losses < 1000 && !cancellationToken.IsCancellationRequested && _current is { } connection; losses++)
        {
            await connection.Closed.WaitAsync(cancellationToken);
            _current = null;
            var delay = connection.RetryAfterMs >= 0 ? connection.RetryAfterMs : Backoff(0);
            if (connection.RetryAfterMs >= 0)
            {
                Interlocked.Increment(ref _log.Hinted);
            }

            for (var k = 1; k <= 100; k++)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(delay), cancellationToken);
                if (await AttemptAsync(TimeSpan.FromSeconds(10), cancellationToken))
                {
                    break;
                }

                delay = Backoff(k);
            }
        }
    }

    public void Abort() => _current?.Abort();

    private static double Backoff(int attempt) => Random.Shared.NextDouble() * Math.Min(CapMs, BaseMs * Math.Pow(2, Math.Min(attempt, 20)));
}

/// <summary>One connection of a <see cref="StormClient"/>: its protocol steps and its end.</summary>
internal sealed class StormConnection : IFrameHandler
{
    private readonly StormClient _client;
    private readonly ServerKind _kind;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource<bool>? _step;
    private RawWebSocket? _socket;

    public StormConnection(StormClient client, ServerKind kind)
    {
        _client = client;
        _kind = kind;
    }

    public Task Closed => _closed.Task;

    /// <summary>The <c>retry_after_ms</c> of a 1001 close; -1 when none.</summary>
    public int RetryAfterMs { get; private set; } = -1;

    public async Task OpenAsync(IPEndPoint server, IPAddress local, CancellationToken cancellationToken)
    {
        var path = _kind switch { ServerKind.Lifeline => "/ws", ServerKind.SignalR => "/hub", _ => "/" };
        var step = NewStep();
        _socket = await RawWebSocket.ConnectAsync(server, local, path, this, cancellationToken);
        var open = _kind switch
        {
            ServerKind.Lifeline => _client.Session is { } s ? $$"""{"type":"hello","v":1,"client":"lifeline-bench","resume":"{{s}}"}""" : """{"type":"hello","v":1,"client":"lifeline-bench"}""",
            ServerKind.SignalR => "{\"protocol\":\"json\",\"version\":1}\u001e",
            _ => null,
        };
        if (open is not null && (!_socket.SendText(Encoding.UTF8.GetBytes(open)) || !await step.WaitAsync(cancellationToken)))
        {
            throw new IOException("handshake failed");
        }
    }

    public async Task<bool> ResyncAsync(CancellationToken cancellationToken)
    {
        var step = NewStep();
        var channel = _client.Channel;
        var message = _kind switch
        {
            ServerKind.Lifeline when _client.Epoch is { } epoch =>
                $$$"""{"type":"subscribe","id":1,"channel":"{{{channel}}}","since":{"epoch":"{{{epoch}}}","offset":{{{_client.Offset}}}}}""",
            ServerKind.Lifeline => $$"""{"type":"subscribe","id":1,"channel":"{{channel}}"}""",
            ServerKind.SignalR => $$"""{"type":1,"invocationId":"1","target":"Subscribe","arguments":["{{channel}}"]}""" + "\u001e",
            _ => $$"""{"type":"subscribe","id":1,"channel":"{{channel}}"}""",
        };
        return _socket!.SendText(Encoding.UTF8.GetBytes(message)) && await step.WaitAsync(cancellationToken);
    }

    public void Abort() => _socket?.Abort();

    void IFrameHandler.OnText(RawWebSocket socket, ReadOnlySpan<byte> payload)
    {
        var separator = _kind switch { ServerKind.Lifeline => "\n", ServerKind.SignalR => "\u001e", _ => null };
        var text = Encoding.UTF8.GetString(payload);
        foreach (var message in separator is null ? [text] : text.Split(separator, StringSplitOptions.RemoveEmptyEntries))
        {
            OnMessage(socket, message);
        }
    }

    void IFrameHandler.OnClosed(RawWebSocket socket)
    {
        if (socket.CloseStatus == 1001 && socket.CloseReason.Contains("retry_after_ms=", StringComparison.Ordinal))
        {
            var digits = new string(socket.CloseReason[(socket.CloseReason.IndexOf("retry_after_ms=", StringComparison.Ordinal) + 15)..].TakeWhile(char.IsAsciiDigit).ToArray());
            RetryAfterMs = int.TryParse(digits, System.Globalization.CultureInfo.InvariantCulture, out var ms) ? ms : -1;
        }

        Interlocked.Exchange(ref _step, null)?.TrySetResult(false);
        _closed.TrySetResult();
    }

    private void OnMessage(RawWebSocket socket, string message)
    {
        try
        {
            using var json = JsonDocument.Parse(message);
            OnMessage(socket, json.RootElement);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            // not a message this client needs (or malformed): ignored
        }
    }

    private void OnMessage(RawWebSocket socket, JsonElement root)
    {
        switch (_kind)
        {
            case ServerKind.Lifeline:
                OnLifeline(socket, root);
                break;
            case ServerKind.SignalR:
                var type = root.TryGetProperty("type", out var t) ? t.GetInt32() : -1;
                if (type == 6)
                {
                    socket.SendText("{\"type\":6}\u001e"u8);
                }
                else if (type is -1 or 3)
                {
                    Complete(!root.TryGetProperty("error", out _)); // {} = handshake accepted; 3 = Subscribe completed
                }

                break;
            default:
                if (root.GetProperty("type").GetString() == "subscribed")
                {
                    Complete(true);
                }

                break;
        }
    }

    private void OnLifeline(RawWebSocket socket, JsonElement root)
    {
        switch (root.GetProperty("type").GetString())
        {
            case "ping":
                socket.SendText(Encoding.UTF8.GetBytes($$"""{"type":"pong","n":{{root.GetProperty("n").GetInt64()}}}"""));
                break;
            case "welcome":
                _client.Session = root.GetProperty("session").GetString();
                Complete(true);
                break;
            case "subscribed":
                var recovered = root.TryGetProperty("recovered", out var r) && r.GetBoolean() && root.GetProperty("epoch").GetString() == _client.Epoch;
                _client.Epoch = root.GetProperty("epoch").GetString();
                _client.Offset = root.GetProperty("offset").GetInt64();
                if (recovered)
                {
                    Complete(true);
                }

                break;
            case "snapshot":
                _client.Epoch = root.GetProperty("epoch").GetString();
                _client.Offset = root.GetProperty("offset").GetInt64();
                Complete(true);
                break;
            case "delta":
                _client.Offset = root.GetProperty("offset").GetInt64();
                break;
            case "error":
                Complete(false);
                break;
        }
    }

    private Task<bool> NewStep()
    {
        var step = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _step, step);
        return step.Task;
    }

    private void Complete(bool ok) => Interlocked.Exchange(ref _step, null)?.TrySetResult(ok);
}
