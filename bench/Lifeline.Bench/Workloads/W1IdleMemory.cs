using Lifeline.Bench.Protocols;
using Lifeline.Bench.Runner;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Workloads;

/// <summary>
/// W1 idle memory: server RSS per idle connection at <c>connections</c> (after one heartbeat round), then a bounded
/// search for the most connections the server holds with heartbeats running: steps of <c>step</c> up to
/// <c>max_connections</c>, stopping at the first step with more than 1 % failed connects or after <c>max_seconds</c>;
/// the count still open after one more interval + timeout is what the server held.
/// </summary>
internal sealed class W1IdleMemory : IWorkload
{
    public string Name => "w1-idle";

    public string Title => "W1 idle memory and most connections held";

    public IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        new("rss_per_connection_kb", "RSS per idle connection", "KB", Better.Lower),
        new("rss_mb", "server RSS at N connections", "MB", Better.Lower),
        new("connect_per_s", "connects per second (handshake included)", "1/s", Better.Higher),
        new("max_held", "most connections held with heartbeats", "connections", Better.Higher),
        new("rss_at_max_mb", "server RSS at the most connections", "MB", Better.Lower),
    ];

    public string Describe(WorkloadContext context) =>
        $"N = {context.Int("connections", 10_000):N0} idle connections (each handshaken: Lifeline hello/welcome, SignalR handshake, ws upgrade only), "
        + $"heartbeat every {context.Double("heartbeat_interval_s", 10)} s with a {context.Double("heartbeat_timeout_s", 5)} s timeout, answered by every client. "
        + "RSS per connection = (RSS after one heartbeat round at N - RSS after a warm-up of 100 connections that were closed again) / N. "
        + $"Then connections are added in steps of {context.Int("step", 10_000):N0} up to {context.Int("max_connections", 100_000):N0} "
        + $"(stopping at a step with over 1 % failed connects or after {context.Double("max_seconds", 120)} s); "
        + "the count still open one interval + timeout later is what the server held.";

    public async Task<RunResult> RunOnceAsync(WorkloadContext context, ServerKind server, CancellationToken cancellationToken)
    {
        var n = context.Int("connections", 10_000);
        var max = context.Int("max_connections", 100_000);
        var step = Math.Max(1, context.Int("step", 10_000));
        var interval = context.Seconds("heartbeat_interval_s", 10);
        var timeout = context.Seconds("heartbeat_timeout_s", 5);
        var maxSeconds = context.Seconds("max_seconds", 120);
        var adapter = Adapters.For(server);
        var result = new RunResult();
        var clients = new List<BenchClient>();

        await using var process = await context.StartServerAsync(server, new ServerOptions(interval, timeout), cancellationToken);
        try
        {
            var warmup = await ClientPool.ConnectAsync(adapter, process.EndPoint, 100, null, cancellationToken);
            ClientPool.AbortAll(warmup.Clients);
            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            var baseline = process.RssBytes();

            var first = await ClientPool.ConnectAsync(adapter, process.EndPoint, n, null, cancellationToken, firstIndex: 0);
            clients.AddRange(first.Clients);
            Note(result, first, n);
            await Task.Delay(interval + TimeSpan.FromSeconds(1), cancellationToken);
            var open = clients.Count(c => !c.IsClosed);
            var rss = process.RssBytes();
            result.Set("rss_per_connection_kb", (rss - baseline) / 1024.0 / Math.Max(1, open));
            result.Set("rss_mb", rss / 1024.0 / 1024.0);
            result.Set("connect_per_s", first.Clients.Count / first.Elapsed.TotalSeconds);
            if (open < n)
            {
                result.Notes.Add($"{n - open} of {n} connections closed before the measurement");
            }

            if (max > n)
            {
                await SearchMaxAsync(context, process, adapter, clients, step, max, maxSeconds, interval + timeout, result, cancellationToken);
            }
        }
        finally
        {
            ClientPool.AbortAll(clients);
        }

        return result;
    }

    private static async Task SearchMaxAsync(
        WorkloadContext context, ServerProcess process, IProtocolAdapter adapter, List<BenchClient> clients, int step, int max,
        TimeSpan maxDuration, TimeSpan hold, RunResult result, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        while (clients.Count < max && started.Elapsed < maxDuration && !process.HasExited)
        {
            var count = Math.Min(step, max - clients.Count);
            var batch = await ClientPool.ConnectAsync(adapter, process.EndPoint, count, null, cancellationToken, firstIndex: clients.Count);
            clients.AddRange(batch.Clients);
            context.Info($"  {process.Kind.Name()}: {clients.Count:N0} connected ({batch.Failures} failed, {batch.Elapsed.TotalSeconds:0.0} s)");
            if (batch.Failures > count / 100)
            {
                result.Notes.Add($"search stopped at {clients.Count:N0}: {batch.Failures} of {count} connects failed ({batch.FirstError})");
                break;
            }
        }

        await Task.Delay(hold + TimeSpan.FromSeconds(1), cancellationToken);
        result.Set("max_held", process.HasExited ? 0 : clients.Count(c => !c.IsClosed));
        result.Set("rss_at_max_mb", process.HasExited ? double.NaN : process.RssBytes() / 1024.0 / 1024.0);
        if (process.HasExited)
        {
            result.Notes.Add("server exited during the search: " + process.Tail.Split('\n').LastOrDefault());
        }
    }

    private static void Note(RunResult result, ConnectResult connect, int wanted)
    {
        if (connect.Failures > 0)
        {
            result.Notes.Add($"{connect.Failures} of {wanted} connects failed ({connect.FirstError})");
        }
    }
}
