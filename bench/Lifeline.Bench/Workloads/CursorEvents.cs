using System.Diagnostics;
using Lifeline.Bench.Measure;
using Lifeline.Bench.Protocols;
using Lifeline.Bench.Runner;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Workloads;

/// <summary>
/// Cursors (issue 18): <c>clients</c> connections in one channel, each sending <c>rate</c> ephemeral events per second
/// for <c>seconds</c> to the others (Lifeline <c>emit</c>, SignalR <c>Clients.OthersInGroup</c> from a hub method, ws
/// broadcast to the others). Every client is a sender and a receiver; nothing is stored.
/// </summary>
internal sealed class CursorEvents : IWorkload
{
    private const string Channel = "cursors";

    public string Name => "cursor";

    public string Title => "Cursor events (ephemeral, everyone to everyone)";

    public IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        new("deliveries_per_s", "deliveries per second", "1/s", Better.Higher),
        .. FanOutSession.DeliveryMetrics,
        new("delivered_fraction", "deliveries received / expected", "fraction", Better.Higher),
    ];

    public string Describe(WorkloadContext context)
    {
        var clients = context.Int("clients", 50);
        var rate = context.Int("rate", 20);
        var seconds = context.Int("seconds", 20);
        return $"{clients:N0} clients subscribed to one channel; each sends {rate} events per second ({context.Int("payload_bytes", 32)}-character "
            + $"payload, at most {context.Int("window", 8)} unacknowledged) for {seconds} s on a fixed schedule (the clients' schedules spread over "
            + $"the interval) to every other subscriber: Lifeline `emit` -> `event` (not stored, no offset), SignalR a hub method sending with "
            + $"`Clients.OthersInGroup`, ws a broadcast to the channel's other sockets. Expected deliveries: {clients:N0} x {clients - 1:N0} x {rate} "
            + $"per second = {(long)clients * (clients - 1) * rate:N0}/s. Deliveries per second = deliveries / (last delivery - first send). "
            + "Latency = receipt - send time stamped in the payload. Server CPU = utime + stime over the sending phase and the drain, per delivery. "
            + "A fraction below 1 is events dropped (Lifeline drops events for a connection whose send queue is over half full) or still missing "
            + "5 s after the last delivery; above 1 would be a sender getting its own event.";
    }

    public async Task<RunResult> RunOnceAsync(WorkloadContext context, ServerKind kind, CancellationToken cancellationToken)
    {
        var clients = context.Int("clients", 50);
        var rate = Math.Max(1, context.Int("rate", 20));
        var seconds = context.Int("seconds", 20);
        var payload = context.Int("payload_bytes", 32);
        var window = Math.Max(1, context.Int("window", 8));
        var perClient = rate * seconds;
        var expected = (long)clients * (clients - 1) * perClient;
        var result = new RunResult();

        await using var server = await context.StartServerAsync(kind, ServerOptions.Default, cancellationToken);
        var adapter = Adapters.For(kind);
        // Room for a few extra: a sender that got its own event shows as a fraction above 1.
        var sink = new DeliverySink((int)Math.Min(int.MaxValue - 1, expected + expected / 10 + 16));
        var connect = await ClientPool.ConnectAsync(adapter, server.EndPoint, clients, sink, cancellationToken);
        try
        {
            if (connect.Failures > 0)
            {
                result.Notes.Add($"{connect.Failures} of {clients} clients failed to connect ({connect.FirstError})");
            }

            var refused = 0;
            foreach (var client in connect.Clients)
            {
                if (!await client.SubscribeAsync(Channel, 1, TimeSpan.FromSeconds(15), cancellationToken))
                {
                    refused++;
                }

                client.EnablePublishing(window);
            }

            if (refused > 0)
            {
                result.Notes.Add($"{refused} subscribes not confirmed");
            }

            await Task.Delay(500, cancellationToken);
            var cpuBefore = server.CpuTime();
            var started = Stopwatch.GetTimestamp();
            var stopped = 0;
            await Task.WhenAll(connect.Clients.Select((client, index) => Task.Run(
                async () =>
                {
                    // Spread the clients' schedules over one interval, as independent users would be.
                    var phase = index / (double)connect.Clients.Count / rate;
                    for (var i = 0; i < perClient; i++)
                    {
                        var due = started + (long)((phase + i / (double)rate) * Stopwatch.Frequency);
                        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                        if (wait > TimeSpan.Zero)
                        {
                            await Task.Delay(wait, cancellationToken);
                        }

                        if (!await client.EmitAsync(Channel, i + 2, payload, cancellationToken))
                        {
                            Interlocked.Increment(ref stopped);
                            return;
                        }
                    }
                },
                cancellationToken)));
            if (stopped > 0)
            {
                result.Notes.Add($"{stopped} clients stopped sending (disconnected)");
            }

            await WaitForDeliveriesAsync(sink, expected, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), cancellationToken);
            var cpu = server.CpuTime() - cpuBefore;
            var elapsed = Stopwatch.GetElapsedTime(started, Math.Max(sink.LastReceived, started + 1));
            result.Set("deliveries_per_s", sink.Count / elapsed.TotalSeconds);
            result.Set("cpu_us_per_delivery", cpu.TotalMicroseconds / Math.Max(sink.Count, 1));
            result.Set("delivered_fraction", sink.Count / (double)expected);
            var latencies = sink.SortedLatencies();
            result.Set("p50_ms", Percentiles.Of(latencies, 50) / 1000.0);
            result.Set("p99_ms", Percentiles.Of(latencies, 99) / 1000.0);
            result.Set("max_ms", latencies.Length == 0 ? double.NaN : latencies[^1] / 1000.0);
            if (sink.Count != expected)
            {
                result.Notes.Add($"{sink.Count:N0} of {expected:N0} deliveries");
            }

            var closed = connect.Clients.Count(c => c.IsClosed);
            if (closed > 0)
            {
                result.Notes.Add($"{closed} clients were disconnected");
            }

            var errors = connect.Clients.Sum(c => c.Errors);
            if (errors > 0)
            {
                result.Notes.Add($"{errors} events refused");
            }

            return result;
        }
        finally
        {
            ClientPool.AbortAll(connect.Clients);
        }
    }

    /// <summary>Waits until <paramref name="expected"/> deliveries arrived, or none arrived for <paramref name="quiet"/>, or <paramref name="limit"/> passed.</summary>
    private static async Task WaitForDeliveriesAsync(DeliverySink sink, long expected, TimeSpan quiet, TimeSpan limit, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        var lastCount = -1L;
        var lastChange = Stopwatch.StartNew();
        while (sink.Count < expected && started.Elapsed < limit)
        {
            var count = sink.Count;
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
}
