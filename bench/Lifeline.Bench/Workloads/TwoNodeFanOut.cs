using System.Diagnostics;
using Lifeline.Bench.Measure;
using Lifeline.Bench.Protocols;
using Lifeline.Bench.Runner;
using Lifeline.Bench.Servers;
using Lifeline.NetLab;

namespace Lifeline.Bench.Workloads;

/// <summary>
/// Two-node fan-out (issue 6), Lifeline only: a throw-away <c>redis-server</c>, two Lifeline nodes on the Redis engine
/// (<c>bench/servers/LifelineServer --redis</c>), <c>subscribers</c> split evenly over them, one publisher on node A.
/// Latency is reported separately for subscribers on node A (same node as the publisher) and node B (across Redis);
/// the same load on one node with the in-memory engine is measured in the same run as the reference.
/// </summary>
internal sealed class TwoNodeFanOut : IWorkload
{
    private const string Channel = "fan";

    public string Name => "two-node";

    public string Title => "Two-node fan-out over Redis (Lifeline only)";

    public IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        new("deliveries_per_s", "two nodes: deliveries per second", "1/s", Better.Higher),
        new("a_p50_ms", "two nodes: latency p50, subscribers on node A (publisher's node)", "ms", Better.Lower),
        new("a_p99_ms", "two nodes: latency p99, node A", "ms", Better.Lower),
        new("a_max_ms", "two nodes: latency max, node A", "ms", Better.Lower),
        new("b_p50_ms", "two nodes: latency p50, subscribers on node B (across Redis)", "ms", Better.Lower),
        new("b_p99_ms", "two nodes: latency p99, node B", "ms", Better.Lower),
        new("b_max_ms", "two nodes: latency max, node B", "ms", Better.Lower),
        new("single_deliveries_per_s", "one node, memory engine: deliveries per second", "1/s", Better.Higher),
        new("single_p50_ms", "one node, memory engine: latency p50", "ms", Better.Lower),
        new("single_p99_ms", "one node, memory engine: latency p99", "ms", Better.Lower),
        new("single_max_ms", "one node, memory engine: latency max", "ms", Better.Lower),
    ];

    public string Describe(WorkloadContext context) =>
        "A `redis-server` (Debian package) on a free loopback port started by the workload (`--save '' --appendonly no`, temp directory), "
        + $"two Lifeline nodes (`bench/servers/LifelineServer --redis 127.0.0.1:PORT`, i.e. `AddLifelineRedis`), {context.Int("subscribers", 100):N0} subscribers "
        + $"of one channel split evenly over the two nodes, one publisher connected to node A sending {context.Int("messages", 100):N0} patches with a "
        + $"{context.Int("payload_bytes", 64)}-character payload (about 100 bytes per delivered delta), at most {context.Int("window", 8)} unacknowledged. "
        + "Deliveries per second = deliveries / (last delivery - first publish). Latency = receive time - send time stamped in the payload "
        + "(one clock: every process on this machine). Reference in the same run: the same load on one node with the in-memory engine. "
        + "Generator, Redis and both nodes share the machine's 2 cores.";

    public async Task<RunResult> RunOnceAsync(WorkloadContext context, ServerKind server, CancellationToken cancellationToken)
    {
        var result = new RunResult();
        if (server != ServerKind.Lifeline)
        {
            result.Notes.Add("two-node is Lifeline-only (run it with --servers lifeline)");
            return result;
        }

        var load = new Load(context.Int("subscribers", 100), context.Int("messages", 100), context.Int("payload_bytes", 64), context.Int("window", 8), context.Seconds("limit_s", 60));
        await using (var redis = await RedisServer.StartAsync(cancellationToken: cancellationToken))
        {
            var redisArgs = new[] { "--redis", redis.Configuration };
            await using var nodeA = await StartAsync(context, redisArgs, cancellationToken);
            await using var nodeB = await StartAsync(context, redisArgs, cancellationToken);
            var twoNodes = await MeasureAsync(load, nodeA, nodeB, result, cancellationToken);
            result.Set("deliveries_per_s", twoNodes.PerSecond);
            SetLatencies(result, "a_", twoNodes.A);
            SetLatencies(result, "b_", twoNodes.B);
        }

        await using var single = await StartAsync(context, [], cancellationToken);
        var oneNode = await MeasureAsync(load, single, single, result, cancellationToken);
        result.Set("single_deliveries_per_s", oneNode.PerSecond);
        SetLatencies(result, "single_", oneNode.A.Concat(oneNode.B).Order().ToArray());
        return result;
    }

    private sealed record Load(int Subscribers, int Messages, int Payload, int Window, TimeSpan Limit);

    private sealed record Measured(double PerSecond, long[] A, long[] B);

    private static Task<ServerProcess> StartAsync(WorkloadContext context, string[] extra, CancellationToken cancellationToken) =>
        ServerProcess.StartAsync(ServerKind.Lifeline, ServerOptions.Default with { Environment = context.ServerEnvironment, ExtraArguments = extra }, context.Paths, cancellationToken);

    /// <summary>Subscribers split over <paramref name="a"/> and <paramref name="b"/> (the same node for the reference), publisher on A.</summary>
    private static async Task<Measured> MeasureAsync(Load load, ServerProcess a, ServerProcess b, RunResult result, CancellationToken cancellationToken)
    {
        var adapter = LifelineAdapter.Instance;
        var half = load.Subscribers / 2;
        var sinkA = new DeliverySink(half * load.Messages);
        var sinkB = new DeliverySink((load.Subscribers - half) * load.Messages);
        var onA = await ClientPool.ConnectAsync(adapter, a.EndPoint, half, sinkA, cancellationToken);
        var onB = await ClientPool.ConnectAsync(adapter, b.EndPoint, load.Subscribers - half, sinkB, cancellationToken, firstIndex: half);
        var subscribers = onA.Clients.Concat(onB.Clients).ToList();
        BenchClient? publisher = null;
        try
        {
            if (onA.Failures + onB.Failures > 0)
            {
                result.Notes.Add($"{onA.Failures + onB.Failures} subscribers failed to connect ({onA.FirstError ?? onB.FirstError})");
            }

            var refused = 0;
            await Parallel.ForEachAsync(subscribers, new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = cancellationToken }, async (client, ct) =>
            {
                if (!await client.SubscribeAsync(Channel, 1, TimeSpan.FromSeconds(15), ct))
                {
                    Interlocked.Increment(ref refused);
                }
            });
            if (refused > 0)
            {
                result.Notes.Add($"{refused} subscribes not confirmed");
            }

            publisher = await BenchClient.ConnectAsync(adapter, a.EndPoint, null, null, ClientPool.DefaultConnectTimeout, cancellationToken);
            publisher.EnablePublishing(load.Window);
            var expected = (long)subscribers.Count * load.Messages;
            var started = Stopwatch.GetTimestamp();
            using (var publishing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                publishing.CancelAfter(load.Limit);
                try
                {
                    for (var id = 1; id <= load.Messages && !publisher.IsClosed; id++)
                    {
                        await publisher.PublishAsync(Channel, id, load.Payload, publishing.Token);
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    result.Notes.Add($"publishing stopped after {load.Limit.TotalSeconds} s: replies stopped coming");
                }
            }

            await WaitAsync(() => sinkA.Count + sinkB.Count, expected, load.Limit, cancellationToken);
            var last = Math.Max(sinkA.LastReceived, sinkB.LastReceived);
            var delivered = sinkA.Count + sinkB.Count;
            if (delivered < expected)
            {
                result.Notes.Add($"{(a == b ? "one node" : "two nodes")}: {expected - delivered:N0} of {expected:N0} deliveries missing");
            }

            if (publisher.Errors > 0)
            {
                result.Notes.Add($"{publisher.Errors} publishes refused");
            }

            var seconds = Stopwatch.GetElapsedTime(started, Math.Max(last, started + 1)).TotalSeconds;
            return new Measured(delivered / seconds, sinkA.SortedLatencies(), sinkB.SortedLatencies());
        }
        finally
        {
            ClientPool.AbortAll(subscribers);
            publisher?.Abort();
        }
    }

    /// <summary>Until <paramref name="expected"/> deliveries, 5 s without progress, or <paramref name="limit"/>.</summary>
    private static async Task WaitAsync(Func<long> count, long expected, TimeSpan limit, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        var last = -1L;
        var lastChange = Stopwatch.StartNew();
        while (count() < expected && started.Elapsed < limit && lastChange.Elapsed < TimeSpan.FromSeconds(5))
        {
            if (count() != last)
            {
                last = count();
                lastChange.Restart();
            }

            await Task.Delay(10, cancellationToken);
        }
    }

    private static void SetLatencies(RunResult result, string prefix, long[] sorted)
    {
        result.Set(prefix + "p50_ms", Percentiles.Of(sorted, 50) / 1000.0);
        result.Set(prefix + "p99_ms", Percentiles.Of(sorted, 99) / 1000.0);
        result.Set(prefix + "max_ms", sorted.Length == 0 ? double.NaN : sorted[^1] / 1000.0);
    }
}
