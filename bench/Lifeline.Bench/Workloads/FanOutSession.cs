using System.Diagnostics;
using Lifeline.Bench.Measure;
using Lifeline.Bench.Protocols;
using Lifeline.Bench.Runner;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Workloads;

/// <summary>
/// Shared set-up of the fan-out workloads: a server, <c>subscribers</c> clients subscribed to one channel (each
/// confirmed by the server), and one publisher connection that is not subscribed.
/// </summary>
internal sealed class FanOutSession : IAsyncDisposable
{
    public const string Channel = "bench";

    private FanOutSession(ServerProcess server, IReadOnlyList<BenchClient> subscribers, BenchClient publisher, DeliverySink sink)
    {
        Server = server;
        Subscribers = subscribers;
        Publisher = publisher;
        Sink = sink;
    }

    public ServerProcess Server { get; }

    public IReadOnlyList<BenchClient> Subscribers { get; }

    public BenchClient Publisher { get; }

    public DeliverySink Sink { get; }

    public static async Task<FanOutSession> StartAsync(WorkloadContext context, ServerKind kind, int subscribers, int expectedDeliveries, int window, RunResult result, CancellationToken cancellationToken)
    {
        var server = await context.StartServerAsync(kind, ServerOptions.Default, cancellationToken);
        try
        {
            var adapter = Adapters.For(kind);
            var sink = new DeliverySink(expectedDeliveries);
            var connect = await ClientPool.ConnectAsync(adapter, server.EndPoint, subscribers, sink, cancellationToken);
            if (connect.Failures > 0)
            {
                result.Notes.Add($"{connect.Failures} of {subscribers} subscribers failed to connect ({connect.FirstError})");
            }

            var refused = 0;
            await Parallel.ForEachAsync(
                connect.Clients,
                new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = cancellationToken },
                async (client, ct) =>
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

            var publisher = await BenchClient.ConnectAsync(adapter, server.EndPoint, null, null, ClientPool.DefaultConnectTimeout, cancellationToken);
            publisher.EnablePublishing(window);
            return new FanOutSession(server, connect.Clients, publisher, sink);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits until <paramref name="expected"/> deliveries arrived, or none arrived for <paramref name="quiet"/>, or <paramref name="limit"/> passed.</summary>
    public async Task WaitForDeliveriesAsync(long expected, TimeSpan quiet, TimeSpan limit, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        var lastCount = -1L;
        var lastChange = Stopwatch.StartNew();
        while (Sink.Count < expected && started.Elapsed < limit)
        {
            var count = Sink.Count;
            if (count != lastCount)
            {
                lastCount = count;
                lastChange.Restart();
            }
            else if (lastChange.Elapsed > quiet)
            {
                return;
            }

            await Task.Delay(10, cancellationToken);
        }
    }

    /// <summary>
    /// The metrics every delivery workload reports: latency p50/p99/max (what <see cref="Report"/> sets, and what
    /// CursorEvents sets the same way) and the server's CPU per delivery.
    /// </summary>
    public static readonly MetricSpec[] DeliveryMetrics =
    [
        new("p50_ms", "latency p50", "ms", Better.Lower),
        new("p99_ms", "latency p99", "ms", Better.Lower),
        new("max_ms", "latency max", "ms", Better.Lower),
        new("cpu_us_per_delivery", "server CPU per delivery", "µs", Better.Lower),
    ];

    /// <summary>Latency percentiles (ms) and the delivery count into <paramref name="result"/>; notes lost deliveries and closes.</summary>
    public void Report(RunResult result, long expected)
    {
        var latencies = Sink.SortedLatencies();
        result.Set("p50_ms", Percentiles.Of(latencies, 50) / 1000.0);
        result.Set("p99_ms", Percentiles.Of(latencies, 99) / 1000.0);
        result.Set("max_ms", latencies.Length == 0 ? double.NaN : latencies[^1] / 1000.0);
        if (Sink.Count < expected)
        {
            result.Notes.Add($"{expected - Sink.Count:N0} of {expected:N0} deliveries missing");
        }

        var closed = Subscribers.Count(s => s.IsClosed);
        if (closed > 0)
        {
            result.Notes.Add($"{closed} subscribers were disconnected");
        }

        if (Publisher.Errors > 0)
        {
            result.Notes.Add($"{Publisher.Errors} publishes refused");
        }
    }

    public async ValueTask DisposeAsync()
    {
        ClientPool.AbortAll(Subscribers);
        Publisher.Abort();
        await Server.DisposeAsync();
    }
}
