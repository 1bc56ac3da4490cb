using System.Diagnostics;
using Lifeline.Bench.Runner;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Workloads;

/// <summary>
/// W2 paced: the same fan-out at a steady <c>rate</c> messages per second for <c>seconds</c>; what matters is the
/// latency tail at a rate every server sustains.
/// </summary>
internal sealed class W2Paced : IWorkload
{
    public string Name => "w2-paced";

    public string Title => "W2 paced fan-out";

    public IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        .. FanOutSession.DeliveryMetrics,
        new("delivered_fraction", "deliveries received / expected", "fraction", Better.Higher),
    ];

    public string Describe(WorkloadContext context) =>
        $"{context.Int("subscribers", 1000):N0} subscribers of one channel; one publisher sends {context.Int("rate", 20)} messages per second "
        + $"({context.Int("payload_bytes", 64)}-character payload) for {context.Int("seconds", 20)} s on a fixed schedule, so every subscriber "
        + $"receives {context.Int("rate", 20)} messages per second. Latency = receipt - publish time stamped in the payload.";

    public async Task<RunResult> RunOnceAsync(WorkloadContext context, ServerKind server, CancellationToken cancellationToken)
    {
        var subscribers = context.Int("subscribers", 1000);
        var rate = Math.Max(1, context.Int("rate", 20));
        var seconds = context.Int("seconds", 20);
        var payload = context.Int("payload_bytes", 64);
        var messages = rate * seconds;
        var expected = (long)subscribers * messages;
        var result = new RunResult();
        await using var session = await FanOutSession.StartAsync(context, server, subscribers, (int)expected, messages, result, cancellationToken);
        await Task.Delay(500, cancellationToken);

        var cpuBefore = session.Server.CpuTime();
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < messages; i++)
        {
            var due = started + (long)(i * Stopwatch.Frequency / (double)rate);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken);
            }

            if (!await session.Publisher.PublishAsync(FanOutSession.Channel, i + 2, payload, cancellationToken))
            {
                result.Notes.Add($"publisher disconnected after {i} publishes");
                break;
            }
        }

        await session.WaitForDeliveriesAsync(expected, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), cancellationToken);
        var cpu = session.Server.CpuTime() - cpuBefore;
        result.Set("cpu_us_per_delivery", cpu.TotalMicroseconds / Math.Max(session.Sink.Count, 1));
        result.Set("delivered_fraction", session.Sink.Count / (double)expected);
        session.Report(result, expected);
        return result;
    }
}
