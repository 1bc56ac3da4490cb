using Lifeline.Bench.Net;
using Lifeline.Bench.Protocols;
using Lifeline.Bench.Runner;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Workloads;

/// <summary>
/// W1 idle memory and W6 heartbeat cost, in one pass over the same idle connections: server RSS per idle connection at
/// <c>connections</c> (after one heartbeat round); then a bounded search for the most connections the server holds
/// with heartbeats running (steps of <c>step</c> up to <c>max_connections</c>, capped by the open-file limit, stopping
/// at the first step with more than 1 % failed connects or after <c>max_seconds</c>); then the server CPU those idle
/// connections cost over <c>cpu_window_s</c> (W6); what is still open at the end is what the server held.
/// <c>subscribe</c> (none by default here; <see cref="W1Subscribed"/> defaults to shared) makes every connection
/// subscribe once it is connected, confirmed by the server, before anything is measured: <c>shared</c> to one channel
/// for all, <c>own</c> to a channel of its own (one channel per connection on the server).
/// </summary>
internal class W1IdleMemory : IWorkload
{
    /// <summary>The values of <c>--param subscribe</c>.</summary>
    private static readonly string[] SubscribeModes = ["none", "shared", "own"];

    private readonly string _defaultSubscribe;

    public W1IdleMemory()
        : this("w1-idle", "W1 idle memory, most connections held, and W6 heartbeat cost", "none")
    {
    }

    protected W1IdleMemory(string name, string title, string defaultSubscribe)
    {
        Name = name;
        Title = title;
        _defaultSubscribe = defaultSubscribe;
    }

    public string Name { get; }

    public string Title { get; }

    public IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        new("rss_per_connection_kb", "W1 RSS per idle connection", "KB", Better.Lower),
        new("rss_mb", "W1 server RSS at N connections", "MB", Better.Lower),
        new("connect_per_s", "W1 connects per second (handshake included)", "1/s", Better.Higher),
        new("max_held", "W1 most connections held with heartbeats", "connections", Better.Higher),
        new("rss_at_max_mb", "W1 server RSS at the most connections", "MB", Better.Lower),
        new("cpu_ms_per_min", "W6 server CPU per minute, idle, at the most connections", "ms", Better.Lower),
        new("cpu_ms_per_min_per_1k", "W6 server CPU per minute per 1,000 idle connections", "ms", Better.Lower),
    ];

    public string Describe(WorkloadContext context) =>
        $"N = {context.Int("connections", 10_000):N0} idle connections (each handshaken: Lifeline hello/welcome, SignalR handshake, ws upgrade only), "
        + SubscribeMode(context) switch
        {
            "shared" => "each subscribed to one channel shared by all (Lifeline subscribe/subscribed, SignalR hub method joining a group, ws: the server's Set of the channel's sockets; each confirmed by the server before the measurement), ",
            "own" => "each subscribed to a channel of its own (one channel per connection on the server; Lifeline subscribe/subscribed, SignalR group, ws server-side Set; each confirmed), ",
            _ => "not subscribed, ",
        }
        + $"heartbeat every {context.Double("heartbeat_interval_s", 10)} s with a {context.Double("heartbeat_timeout_s", 5)} s timeout, answered by every client. "
        + "RSS per connection = (RSS after one heartbeat round at N - RSS after a warm-up of 100 connections that were closed again) / N. "
        + $"Then connections are added in steps of {context.Int("step", 10_000):N0} up to {context.Int("max_connections", 100_000):N0} "
        + $"(capped by the open-file limit: {ResourceLimits.MaxConnections:N0} here; stopping at a step with over 1 % failed connects or after {context.Double("max_seconds", 120)} s), "
        + $"then they sit idle for {context.Double("cpu_window_s", 60)} s while the server's CPU time is measured (W6; scaled to one minute); "
        + "the count still open at the end is what the server held.";

    public async Task<RunResult> RunOnceAsync(WorkloadContext context, ServerKind server, CancellationToken cancellationToken)
    {
        var n = context.Int("connections", 10_000);
        var interval = context.Seconds("heartbeat_interval_s", 10);
        var timeout = context.Seconds("heartbeat_timeout_s", 5);
        var adapter = Adapters.For(server);
        var subscribe = SubscribeMode(context);
        var result = new RunResult();
        var clients = new List<BenchClient>();
        if (n > ResourceLimits.MaxConnections)
        {
            result.Notes.Add($"N capped at {ResourceLimits.MaxConnections:N0} by the open-file limit");
            n = ResourceLimits.MaxConnections;
        }

        await using var process = await context.StartServerAsync(server, new ServerOptions(interval, timeout), cancellationToken);
        try
        {
            // The warm-up subscribes too (its own channels are dropped again when it closes): the code it runs is jitted
            // and its one-off allocations are in the baseline, not counted per connection.
            var warmup = await ClientPool.ConnectAsync(adapter, process.EndPoint, 100, null, cancellationToken, firstIndex: 1_000_000);
            await SubscribeAllAsync(warmup.Clients, subscribe, 1_000_000, result: null, cancellationToken);
            ClientPool.AbortAll(warmup.Clients);
            await Task.Delay(context.Seconds("settle_s", 2), cancellationToken);
            var baseline = process.RssBytes();

            var first = await ClientPool.ConnectAsync(adapter, process.EndPoint, n, null, cancellationToken, firstIndex: 0);
            clients.AddRange(first.Clients);
            if (first.Failures > 0)
            {
                result.Notes.Add($"{first.Failures} of {n} connects failed ({first.FirstError})");
            }

            await SubscribeAllAsync(first.Clients, subscribe, 0, result, cancellationToken);

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

            await SearchMaxAsync(context, process, adapter, subscribe, clients, result, cancellationToken);
            await MeasureIdleCpuAsync(context, process, clients, interval + timeout, result, cancellationToken);
        }
        finally
        {
            ClientPool.AbortAll(clients);
        }

        return result;
    }

    private string SubscribeMode(WorkloadContext context) =>
        context.Choice("subscribe", [_defaultSubscribe, .. SubscribeModes.Where(m => m != _defaultSubscribe)]);

    /// <summary>
    /// Subscribes every client (<paramref name="mode"/> shared: channel <c>w1</c>; own: <c>w1-INDEX</c>) and waits for
    /// each confirmation; the ones not confirmed are noted in <paramref name="result"/>.
    /// </summary>
    private static async Task SubscribeAllAsync(IReadOnlyList<BenchClient> clients, string mode, int firstIndex, RunResult? result, CancellationToken cancellationToken)
    {
        if (mode == "none")
        {
            return;
        }

        var refused = 0;
        await Parallel.ForEachAsync(
            Enumerable.Range(0, clients.Count),
            new ParallelOptions { MaxDegreeOfParallelism = 128, CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                var channel = mode == "own" ? "w1-" + (firstIndex + i).ToString(System.Globalization.CultureInfo.InvariantCulture) : "w1";
                if (!await clients[i].SubscribeAsync(channel, 1, TimeSpan.FromSeconds(15), ct))
                {
                    Interlocked.Increment(ref refused);
                }
            });
        if (refused > 0)
        {
            result?.Notes.Add($"{refused} of {clients.Count} subscribes not confirmed");
        }
    }

    private static async Task SearchMaxAsync(WorkloadContext context, ServerProcess process, IProtocolAdapter adapter, string subscribe, List<BenchClient> clients, RunResult result, CancellationToken cancellationToken)
    {
        var step = Math.Max(1, context.Int("step", 10_000));
        var max = context.Int("max_connections", 100_000);
        var maxDuration = context.Seconds("max_seconds", 120);
        if (max > ResourceLimits.MaxConnections)
        {
            result.Notes.Add($"search capped at {ResourceLimits.MaxConnections:N0} connections by the open-file limit ({ResourceLimits.OpenFiles}), not {max:N0}");
            max = ResourceLimits.MaxConnections;
        }

        var started = System.Diagnostics.Stopwatch.StartNew();
        while (clients.Count < max && started.Elapsed < maxDuration && !process.HasExited)
        {
            var count = Math.Min(step, max - clients.Count);
            var batch = await ClientPool.ConnectAsync(adapter, process.EndPoint, count, null, cancellationToken, firstIndex: clients.Count);
            await SubscribeAllAsync(batch.Clients, subscribe, clients.Count, result, cancellationToken);
            clients.AddRange(batch.Clients);
            context.Info($"  {process.Kind.Name()}: {clients.Count:N0} connected ({batch.Failures} failed, {batch.Elapsed.TotalSeconds:0.0} s)");
            if (batch.Failures > count / 100)
            {
                result.Notes.Add($"search stopped at {clients.Count:N0}: {batch.Failures} of {count} connects failed ({batch.FirstError})");
                break;
            }
        }
    }

    private static async Task MeasureIdleCpuAsync(WorkloadContext context, ServerProcess process, List<BenchClient> clients, TimeSpan minimumHold, RunResult result, CancellationToken cancellationToken)
    {
        var window = context.Seconds("cpu_window_s", 60);
        // Let the connects' work finish (and one heartbeat round pass) before the CPU window starts.
        await Task.Delay(context.Seconds("settle_s", 2), cancellationToken);
        var heldAtStart = clients.Count(c => !c.IsClosed);
        var cpuBefore = process.CpuTime();
        await Task.Delay(window > minimumHold ? window : minimumHold, cancellationToken);
        if (process.HasExited)
        {
            result.Notes.Add("server exited: " + process.Tail.Split('\n').LastOrDefault());
            result.Set("max_held", 0);
            return;
        }

        var cpu = process.CpuTime() - cpuBefore;
        var held = clients.Count(c => !c.IsClosed);
        var perMinute = cpu.TotalMilliseconds * 60 / (window > minimumHold ? window : minimumHold).TotalSeconds;
        result.Set("max_held", held);
        result.Set("rss_at_max_mb", process.RssBytes() / 1024.0 / 1024.0);
        result.Set("cpu_ms_per_min", perMinute);
        result.Set("cpu_ms_per_min_per_1k", perMinute / Math.Max(1, heldAtStart) * 1000);
        if (held < heldAtStart)
        {
            result.Notes.Add($"{heldAtStart - held:N0} of {heldAtStart:N0} idle connections were dropped during the CPU window");
        }
    }
}
