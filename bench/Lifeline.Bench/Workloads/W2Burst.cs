using System.Diagnostics;
using System.Globalization;
using Lifeline.Bench.Runner;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Workloads;

/// <summary>
/// W2 server-side burst: <c>subscribers</c> subscribers of one channel; one control request
/// (<c>POST /bench/burst</c>, bench/servers/Shared/BenchBurst.cs and bench/servers/ws/server.js) makes the server
/// itself publish <c>messages</c> payloads as fast as its own API allows: Lifeline <c>LifelineServer.PublishAsync</c>
/// in a loop, SignalR <c>IHubContext.Clients.Group(..).SendAsync</c> in a loop, ws a synchronous loop of sends to each
/// subscriber. Each payload is stamped by the server when it is created (the servers and the generator read the same
/// monotonic clock), so the latency includes whatever the server's publisher ran ahead of its writers.
/// </summary>
internal sealed class W2Burst : IWorkload
{
    public string Name => "w2-burst";

    public string Title => "W2 server-side burst";

    public IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        new("deliveries_per_s", "deliveries per second", "1/s", Better.Higher),
        .. FanOutSession.DeliveryMetrics,
        new("publish_loop_ms", "server's publish loop duration", "ms", Better.Lower),
    ];

    public string Describe(WorkloadContext context) =>
        $"{context.Int("subscribers", 1000):N0} subscribers of one channel; one control request (`POST /bench/burst`) makes the server publish "
        + $"{context.Int("messages", 2000):N0} messages with a {context.Int("payload_bytes", 64)}-character payload as fast as its own API allows: "
        + "Lifeline `LifelineServer.PublishAsync` awaited in a loop, SignalR `IHubContext.Clients.Group(..).SendAsync` awaited in a loop, ws a "
        + "synchronous loop of `send` to each subscriber. Each payload is stamped by the server when it is created. Deliveries per second = "
        + "deliveries / (last delivery - control request sent); latency = receipt - stamp; CPU = server utime + stime over the same span / "
        + "deliveries; the loop duration is the server's own measure of its publish loop (a publisher slowed by flow control takes longer).";

    public async Task<RunResult> RunOnceAsync(WorkloadContext context, ServerKind server, CancellationToken cancellationToken)
    {
        var subscribers = context.Int("subscribers", 1000);
        var messages = context.Int("messages", 2000);
        var payload = context.Int("payload_bytes", 64);
        var result = new RunResult();
        var expected = (long)subscribers * messages;
        await using var session = await FanOutSession.StartAsync(context, server, subscribers, (int)Math.Min(expected, 50_000_000), 1, result, cancellationToken);
        await Task.Delay(500, cancellationToken);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(context.Double("limit_s", 120)) };
        var uri = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{session.Server.Port}/bench/burst?channel={FanOutSession.Channel}&messages={messages}&payload_bytes={payload}");
        var cpuBefore = session.Server.CpuTime();
        var started = Stopwatch.GetTimestamp();
        using (var response = await http.PostAsync(uri, content: null, cancellationToken))
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                result.Notes.Add($"control request answered {(int)response.StatusCode}: {body}");
            }
            else if (double.TryParse(body, NumberStyles.Float, CultureInfo.InvariantCulture, out var loopMs))
            {
                result.Set("publish_loop_ms", loopMs);
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
