using Lifeline.Bench.Measure;
using Lifeline.Bench.Net;
using Lifeline.Bench.Protocols;
using Lifeline.Bench.Runner;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Workloads;

/// <summary>
/// W4 abrupt churn: <c>cycles</c> times, a client connects, completes its handshake and vanishes without a close frame
/// (its socket is closed: TCP FIN, as when a process dies). Afterwards: server RSS growth and the server's sockets
/// left in CLOSE_WAIT (the peer closed, the server never did) or any other state.
/// </summary>
internal sealed class W4Churn : IWorkload
{
    public string Name => "w4-churn";

    public string Title => "W4 abrupt churn";

    public IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        new("rss_growth_mb", "RSS growth over the cycles", "MB", Better.Lower),
        new("close_wait", "server sockets in CLOSE_WAIT afterwards", "sockets", Better.Lower),
        new("sockets_left", "server sockets in any state afterwards", "sockets", Better.Lower),
        new("cycles_per_s", "connect/abort cycles per second", "1/s", Better.Higher),
        new("cpu_us_per_cycle", "server CPU per connect/abort cycle", "µs", Better.Lower),
    ];

    public string Describe(WorkloadContext context) =>
        $"{context.Int("cycles", 5000):N0} cycles, {context.Int("concurrency", 32)} at a time: connect, handshake (Lifeline welcome, SignalR handshake reply, ws upgrade), "
        + "then close the socket without a WebSocket close frame (FIN). RSS growth = RSS "
        + $"{context.Double("settle_s", 5)} s after the last cycle - RSS after a warm-up of 200 such cycles. Sockets are counted in /proc/net/tcp "
        + "(local port = the server's, listening socket excluded) at the same moment. Cycles per second and server CPU per cycle "
        + "are taken over the measured cycles only (the generator shares the machine's cores with the server).";

    public async Task<RunResult> RunOnceAsync(WorkloadContext context, ServerKind server, CancellationToken cancellationToken)
    {
        var cycles = context.Int("cycles", 5000);
        var concurrency = context.Int("concurrency", 32);
        var settle = context.Seconds("settle_s", 5);
        var adapter = Adapters.For(server);
        var result = new RunResult();
        await using var process = await context.StartServerAsync(server, ServerOptions.Default, cancellationToken);

        await ChurnAsync(adapter, process, 200, concurrency, cancellationToken);
        await Task.Delay(settle, cancellationToken);
        var before = process.RssBytes();

        var cpuBefore = process.CpuTime();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var failures = await ChurnAsync(adapter, process, cycles, concurrency, cancellationToken);
        result.Set("cycles_per_s", cycles / started.Elapsed.TotalSeconds);
        result.Set("cpu_us_per_cycle", (process.CpuTime() - cpuBefore).TotalMicroseconds / cycles);
        await Task.Delay(settle, cancellationToken);

        var states = TcpStates.Counts(process.Port);
        result.Set("rss_growth_mb", (process.RssBytes() - before) / 1024.0 / 1024.0);
        result.Set("close_wait", states.GetValueOrDefault(TcpStates.CloseWait));
        result.Set("sockets_left", states.Values.Sum());
        if (failures > 0)
        {
            result.Notes.Add($"{failures} of {cycles} connects failed");
        }

        if (states.Count > 0)
        {
            result.Notes.Add("server sockets left: " + string.Join(", ", states.Select(s => $"{StateName(s.Key)} {s.Value}")));
        }

        return result;
    }

    private static async Task<int> ChurnAsync(IProtocolAdapter adapter, ServerProcess process, int cycles, int concurrency, CancellationToken cancellationToken)
    {
        var failures = 0;
        await Parallel.ForEachAsync(
            Enumerable.Range(0, cycles),
            new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                try
                {
                    var client = await BenchClient.ConnectAsync(adapter, process.EndPoint, SourceAddresses.For(i), null, ClientPool.DefaultConnectTimeout, ct);
                    client.Abort();
                }
                catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    Interlocked.Increment(ref failures);
                }
            });
        return failures;
    }

    private static string StateName(int state) => state switch
    {
        0x01 => "ESTABLISHED",
        0x02 => "SYN_SENT",
        0x03 => "SYN_RECV",
        0x04 => "FIN_WAIT1",
        0x05 => "FIN_WAIT2",
        0x06 => "TIME_WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE_WAIT",
        0x09 => "LAST_ACK",
        0x0B => "CLOSING",
        _ => "state " + state,
    };
}
