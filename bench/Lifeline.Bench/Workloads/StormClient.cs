using System.Diagnostics;
using System.Net;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Workloads;

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
