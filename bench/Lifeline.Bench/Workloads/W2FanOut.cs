using System.Diagnostics;
using Lifeline.Bench.Runner;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Workloads;

/// <summary>
/// W2 fan-out at saturation: one publisher sends <c>messages</c> payloads of <c>payload_bytes</c> to one channel with
/// <c>subscribers</c> subscribers, as fast as the server acknowledges them (at most <c>window</c> unacknowledged).
/// Deliveries per second from the first publish to the last delivery; latency from publish to receipt; server CPU per delivery.
/// </summary>
internal sealed class W2FanOut : IWorkload
{
    public string Name => "w2-fanout";

    public string Title => "W2 fan-out at saturation";

    public IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        new("deliveries_per_s", "deliveries per second", "1/s", Better.Higher),
        .. FanOutSession.DeliveryMetrics,
    ];

    public string Describe(WorkloadContext context) =>
        $"{context.Int("subscribers", 1000):N0} subscribers of one channel; one more connection publishes {context.Int("messages", 2000):N0} messages "
        + $"with a {context.Int("payload_bytes", 64)}-character payload (about 100 bytes per delivered message with each protocol's envelope) "
        + $"as fast as the server acknowledges them, at most {context.Int("window", 8)} unacknowledged. Deliveries per second = deliveries / "
        + "(last delivery - first publish); latency = receipt - publish time stamped in the payload; CPU = server utime + stime over the same span / deliveries.";

    public async Task<RunResult> RunOnceAsync(WorkloadContext context, ServerKind server, CancellationToken cancellationToken)
    {
        var subscribers = context.Int("subscribers", 1000);
        var messages = context.Int("messages", 2000);
        var payload = context.Int("payload_bytes", 64);
        var window = context.Int("window", 8);
        var result = new RunResult();
        var expected = (long)subscribers * messages;
        await using var session = await FanOutSession.StartAsync(context, server, subscribers, (int)Math.Min(expected, 50_000_000), window, result, cancellationToken);
        await Task.Delay(500, cancellationToken);

        var cpuBefore = session.Server.CpuTime();
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < messages; i++)
        {
            if (!await session.Publisher.PublishAsync(FanOutSession.Channel, i + 2, payload, cancellationToken))
            {
                result.Notes.Add($"publisher disconnected after {i} publishes");
                break;
            }
        }

        await session.WaitForDeliveriesAsync(expected, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(context.Double("limit_s", 120)), cancellationToken);
        var cpu = session.Server.CpuTime() - cpuBefore;
        var delivered = session.Sink.Count;
        var elapsed = Stopwatch.GetElapsedTime(started, session.Sink.LastReceived);
        result.Set("deliveries_per_s", delivered / Math.Max(elapsed.TotalSeconds, 1e-6));
        result.Set("cpu_us_per_delivery", cpu.TotalMicroseconds / Math.Max(delivered, 1));
        session.Report(result, expected);
        return result;
    }
}
