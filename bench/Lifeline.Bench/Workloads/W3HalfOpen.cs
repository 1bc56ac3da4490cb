using System.Diagnostics;
using System.Globalization;
using System.Net;
using Lifeline.Bench.Measure;
using Lifeline.Bench.Net;
using Lifeline.Bench.Protocols;
using Lifeline.Bench.Runner;
using Lifeline.Bench.Servers;
using Lifeline.NetLab;

namespace Lifeline.Bench.Workloads;

/// <summary>
/// W3 half-open detection: the server in one network namespace, the clients in another (<see cref="NetworkPair"/>),
/// <c>connections</c> idle connections with a 1 s heartbeat; then every packet is dropped both ways (nftables) and the
/// server's sockets of its port are polled every <c>poll_ms</c> in its namespace. Teardown of a connection = its
/// socket leaves ESTABLISHED (or disappears); also measured: which sockets still exist, in which state, one second
/// after their own teardown, and when the last one is gone (bounded by <c>max_wait_s</c> from the cut).
/// </summary>
internal sealed class W3HalfOpen : IWorkload
{
    /// <summary>
    /// <c>benchnet-s-PID-N</c> (the server) and <c>benchnet-c-PID-N</c> (the generator's clients), veth <c>bns</c>/<c>bnc</c>,
    /// 10.214.X.0/30: apart from the chaos suite's <c>llc-*</c> and 10.213.X.0/30, so both can run on one machine.
    /// </summary>
    private static readonly NetworkPairOptions BenchNetwork = new("benchnet", "10.214") { ServerRole = "s", ClientRole = "c", ServerDevice = "bns", ClientDevice = "bnc" };

    public string Name => "w3-halfopen";

    public string Title => "W3 half-open detection";

    public IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        new("teardown_p50_s", "cut to server teardown, p50", "s", Better.Lower),
        new("teardown_max_s", "cut to server teardown, max", "s", Better.Lower),
        new("teardown_max_over_threshold", "max teardown / (interval + timeout)", "x", Better.Lower),
        new("detected", "connections torn down within the wait", "connections", Better.Higher),
        new("left_1s_after_teardown", "server sockets still present 1 s after their teardown", "sockets", Better.Lower),
        new("all_gone_s", "cut until no server socket of the port remains", "s", Better.Lower),
    ];

    public string Describe(WorkloadContext context)
    {
        var interval = context.Double("heartbeat_interval_s", 1);
        var timeout = context.Double("heartbeat_timeout_s", 1);
        return string.Create(CultureInfo.InvariantCulture,
            $"N = {context.Int("connections", 50):N0} idle connections from a client network namespace to a server in another (veth pair, 10.214.X.0/30), "
            + $"heartbeat interval {interval} s, timeout {timeout} s: Lifeline interval/timeout as given; SignalR KeepAliveInterval {interval} s and "
            + $"ClientTimeoutInterval {interval + timeout} s (the client pings back every server ping, i.e. every second, like SignalR clients do); "
            + $"ws pings every {interval} s and terminates a socket whose previous ping got no pong (the classic pattern). "
            + $"After {context.Double("idle_s", 2.5)} s idle, nftables drops every packet both ways on the veth; the server namespace's "
            + $"/proc/PID/net/tcp is polled every {context.Int("poll_ms", 10)} ms. Teardown = the connection's server socket leaves ESTABLISHED "
            + $"(time measured from the moment `nft -f -`, already running with the rules, is told to commit them). Lifeline target: teardown never later than interval + timeout + 0.25 s = {interval + timeout + 0.25} s, "
            + $"and no server socket left in any TCP state 1 s after teardown. Observation ends when no socket is left (or {context.Double("linger_s", 2)} s after the last state 1 s after teardown was taken), at most {context.Double("max_wait_s", 10)} s after the cut.");
    }

    public async Task<RunResult> RunOnceAsync(WorkloadContext context, ServerKind server, CancellationToken cancellationToken)
    {
        var n = context.Int("connections", 50);
        var interval = context.Seconds("heartbeat_interval_s", 1);
        var timeout = context.Seconds("heartbeat_timeout_s", 1);
        var idle = context.Seconds("idle_s", 2.5);
        var pollMs = context.Int("poll_ms", 10);
        var maxWait = context.Seconds("max_wait_s", 10);
        var result = new RunResult();
        var clients = new List<BenchClient>();

        await using var net = await NetworkPair.CreateAsync(BenchNetwork);
        var environment = new Dictionary<string, string>(context.ServerEnvironment) { ["BENCH_LISTEN_ADDRESS"] = net.ServerIp };
        var options = new ServerOptions(interval, timeout) { Environment = environment, Namespace = net.ServerNs };
        await using var process = await ServerProcess.StartAsync(server, options, context.Paths, cancellationToken);
        try
        {
            var endPoint = new IPEndPoint(net.ServerAddress, process.Port);
            var failures = await ConnectAsync(net, Adapters.For(server), endPoint, n, clients, cancellationToken);
            if (failures > 0)
            {
                result.Notes.Add($"{failures} of {n} connects failed");
            }

            await Task.Delay(idle, cancellationToken);
            var before = ServerSockets.Read(process.Pid, process.Port);
            var tracked = before.Where(s => s.Value == ServerSockets.Established).Select(s => s.Key).ToList();
            if (tracked.Count < clients.Count)
            {
                result.Notes.Add($"{clients.Count - tracked.Count} connections were no longer established before the cut");
            }

            context.Info($"  {server.Name()}: {tracked.Count} established; cutting the veth");
            var (cut, commit) = await net.DropAllAtCommitAsync();
            if (commit > TimeSpan.FromMilliseconds(20))
            {
                result.Notes.Add($"the nft commit took {commit.TotalMilliseconds:0} ms (uncertainty of the cut time)");
            }
            var observation = await ObserveAsync(process, tracked, cut, pollMs, maxWait, context.Seconds("linger_s", 2), cancellationToken);
            Report(observation, tracked.Count, (interval + timeout).TotalSeconds, maxWait.TotalSeconds, result);
        }
        finally
        {
            ClientPool.AbortAll(clients);
        }

        return result;
    }

    private static async Task<int> ConnectAsync(NetworkPair net, IProtocolAdapter adapter, IPEndPoint endPoint, int n, List<BenchClient> clients, CancellationToken cancellationToken)
    {
        var failures = 0;
        var bag = new System.Collections.Concurrent.ConcurrentBag<BenchClient>();
        RawWebSocket.SocketFactory.Value = net.CreateClientSocket;
        try
        {
            await Parallel.ForEachAsync(
                Enumerable.Range(0, n),
                new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = cancellationToken },
                async (_, ct) =>
                {
                    try
                    {
                        bag.Add(await BenchClient.ConnectAsync(adapter, endPoint, null, null, ClientPool.DefaultConnectTimeout, ct));
                    }
                    catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
                    {
                        Interlocked.Increment(ref failures);
                    }
                });
        }
        finally
        {
            RawWebSocket.SocketFactory.Value = null;
        }

        clients.AddRange(bag);
        return failures;
    }

    /// <summary>What the polling saw, per tracked socket: teardown time, last time present, state 1 s after teardown.</summary>
    private sealed record Observation(Dictionary<string, double> TeardownMs, Dictionary<string, int> StateOneSecondAfter, double AllGoneMs, Dictionary<int, int> LeftAtEnd, double EndMs);

    private static async Task<Observation> ObserveAsync(ServerProcess process, List<string> tracked, long cut, int pollMs, TimeSpan maxWait, TimeSpan linger, CancellationToken cancellationToken)
    {
        var teardown = new Dictionary<string, double>(StringComparer.Ordinal);
        var oneSecondAfter = new Dictionary<string, int>(StringComparer.Ordinal);
        var allGone = double.NaN;
        var at = 0.0;
        Dictionary<string, int> now = [];
        while (Stopwatch.GetElapsedTime(cut) < maxWait)
        {
            await Task.Delay(pollMs, cancellationToken);
            at = Stopwatch.GetElapsedTime(cut).TotalMilliseconds;
            now = ServerSockets.Read(process.Pid, process.Port);
            foreach (var key in tracked)
            {
                var present = now.TryGetValue(key, out var state);
                if (!teardown.ContainsKey(key) && (!present || state != ServerSockets.Established))
                {
                    teardown[key] = at;
                }

                if (teardown.TryGetValue(key, out var down) && at >= down + 1000 && !oneSecondAfter.ContainsKey(key))
                {
                    oneSecondAfter[key] = present ? state : 0; // 0: gone
                }
            }

            if (now.Count == 0 && teardown.Count == tracked.Count && double.IsNaN(allGone))
            {
                allGone = at;
            }

            // Done when every socket's state 1 s after its teardown is known and either none is left or the
            // leftovers have been watched for another `linger` (ws: FIN-WAIT-1 lasts far longer than any wait here).
            if (oneSecondAfter.Count == tracked.Count && (!double.IsNaN(allGone) || at >= teardown.Values.Max() + 1000 + linger.TotalMilliseconds))
            {
                break;
            }
        }

        var leftAtEnd = now.Values.GroupBy(s => s).ToDictionary(g => g.Key, g => g.Count());
        return new Observation(teardown, oneSecondAfter, allGone, leftAtEnd, at);
    }

    private static void Report(Observation o, int tracked, double threshold, double maxWait, RunResult result)
    {
        var times = o.TeardownMs.Values.Order().Select(v => (long)v).ToArray();
        if (times.Length > 0)
        {
            var max = times[^1] / 1000.0;
            result.Set("teardown_p50_s", Percentiles.Of(times, 50) / 1000.0);
            result.Set("teardown_max_s", max);
            result.Set("teardown_max_over_threshold", max / threshold);
        }

        result.Set("detected", times.Length);
        var left = o.StateOneSecondAfter.Values.Where(s => s != 0).ToList();
        result.Set("left_1s_after_teardown", left.Count);
        if (o.TeardownMs.Count > o.StateOneSecondAfter.Count)
        {
            result.Notes.Add($"{o.TeardownMs.Count - o.StateOneSecondAfter.Count} sockets torn down less than 1 s before the observation ended (not counted)");
        }

        if (left.Count > 0)
        {
            result.Notes.Add("1 s after teardown: " + string.Join(", ", left.GroupBy(s => s).Select(g => $"{g.Count()} in {ServerSockets.StateName(g.Key)}")));
        }

        if (double.IsNaN(o.AllGoneMs))
        {
            var end = o.EndMs / 1000.0;
            result.Set("all_gone_s", end);
            result.Notes.Add($"sockets still present when the observation ended {end:0.0} s after the cut (all_gone_s shows that time, a lower bound): "
                + string.Join(", ", o.LeftAtEnd.Select(g => $"{g.Value} in {ServerSockets.StateName(g.Key)}")));
        }
        else
        {
            result.Set("all_gone_s", o.AllGoneMs / 1000.0);
        }

        if (times.Length < tracked)
        {
            result.Notes.Add($"{tracked - times.Length} of {tracked} connections not torn down within {maxWait} s");
        }
    }
}
