using System.Diagnostics;
using Lifeline.Bench.Net;
using Lifeline.Bench.Runner;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Workloads;

/// <summary>
/// W5 reconnect storm: <c>clients</c> connected and subscribed (<see cref="StormClient"/>), then the server is killed
/// (SIGKILL) and started again on the same port; every client reconnects with the same backoff policy and resyncs.
/// Measured from the kill: time until the last client is resynced, the busiest 100 ms and 1 s of upgrades (accepts),
/// when connect attempts happened (first, p50, last: the spread the jitter achieved), clients never resynced (lost).
/// For Lifeline a second restart is graceful (SIGTERM: 1001 with <c>retry_after_ms</c>, which the clients honour).
/// </summary>
internal sealed class W5ReconnectStorm : IWorkload
{
    public string Name => "w5-storm";

    public string Title => "W5 reconnect storm";

    public IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        new("resynced_s", "kill to every client resynced", "s", Better.Lower),
        new("lost", "clients not resynced (lost)", "clients", Better.Lower),
        new("peak_accepts_per_s_100ms", "peak accept rate, busiest 100 ms", "1/s", Better.Lower),
        new("peak_accepts_per_s_1s", "peak accept rate, busiest 1 s", "1/s", Better.Lower),
        new("first_attempt_s", "first reconnect attempt after the kill", "s", Better.Lower),
        new("p50_attempt_s", "median reconnect attempt after the kill", "s", Better.Lower),
        new("last_attempt_s", "last reconnect attempt after the kill", "s", Better.Lower),
        new("attempts_per_client", "connect attempts per client", "attempts", Better.Lower),
        new("restart_s", "server restart (kill to READY)", "s", Better.Lower),
        new("graceful_resynced_s", "graceful stop (Lifeline): SIGTERM to every client resynced", "s", Better.Lower, LifelineOnly: true),
        new("graceful_lost", "graceful stop: clients lost", "clients", Better.Lower, LifelineOnly: true),
        new("graceful_peak_accepts_per_s_100ms", "graceful stop: peak accept rate, busiest 100 ms", "1/s", Better.Lower, LifelineOnly: true),
        new("graceful_hinted", "graceful stop: clients that got a retry_after_ms hint", "clients", Better.Higher, LifelineOnly: true),
    ];

    public string Describe(WorkloadContext context) =>
        $"{context.Int("clients", 200):N0} clients connected and subscribed (Lifeline: a channel of {context.Int("channels", 100)}, resubscribed with `since`; "
        + "SignalR: the hub's Subscribe (a group join); ws: the subscribe message), then the server is killed (SIGKILL) and started again on the same port. "
        + "Every client uses the same policy (PROTOCOL.md \"Reconnection\"): attempt k after a uniformly random delay in [0, min(30 s, 1 s * 2^k)) (full jitter), "
        + "one attempt at a time; resynced = Lifeline hello + subscribe with since -> snapshot in the new epoch, SignalR handshake + Subscribe completion, ws subscribed. "
        + "Times are from the kill; accept rate = upgrades completed per 100 ms / 1 s bucket, as the clients saw them. "
        + $"Lifeline also gets a graceful stop (SIGTERM: 1001 with retry_after_ms spread over 5 s, honoured as the first delay). Clients not resynced {context.Double("limit_s", 60)} s after the stop are lost.";

    public async Task<RunResult> RunOnceAsync(WorkloadContext context, ServerKind server, CancellationToken cancellationToken)
    {
        var n = context.Int("clients", 200);
        var channels = Math.Max(1, context.Int("channels", 100));
        var limit = context.Seconds("limit_s", 60);
        var result = new RunResult();
        var options = ServerOptions.Default with { Environment = context.ServerEnvironment };
        var process = await ServerProcess.StartAsync(server, options, context.Paths, cancellationToken);
        options = options with { Port = process.Port };
        var log = new StormLog();
        var clients = Enumerable.Range(0, n).Select(i => new StormClient(server, process.EndPoint, SourceAddresses.For(i), "storm:" + (i % channels), log)).ToList();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var loops = new List<Task>();
        try
        {
            var failed = 0;
            await Parallel.ForEachAsync(clients, new ParallelOptions { MaxDegreeOfParallelism = 128, CancellationToken = cancellationToken }, async (c, ct) =>
            {
                if (!await c.AttemptAsync(TimeSpan.FromSeconds(15), ct))
                {
                    Interlocked.Increment(ref failed);
                }
            });
            if (failed > 0)
            {
                result.Notes.Add($"{failed} of {n} clients failed the initial connect");
            }

            loops.AddRange(clients.Select(c => c.RunAsync(stop.Token)));
            await Task.Delay(500, cancellationToken);
            context.Info($"  {server.Name()}: {n - failed} clients subscribed; killing the server");

            log.Reset();
            var killed = Stopwatch.GetTimestamp();
            await process.DisposeAsync();
            process = await ServerProcess.StartAsync(server, options, context.Paths, cancellationToken);
            result.Set("restart_s", Stopwatch.GetElapsedTime(killed).TotalSeconds);
            var phase = await WaitAsync(clients, log, killed, limit, cancellationToken);
            phase.Report(result, "");

            if (server.IsLifelineWebSocket() && context.Int("graceful", 1) == 1)
            {
                await Task.Delay(1000, cancellationToken);
                log.Reset();
                var stopped = Stopwatch.GetTimestamp();
                process.Terminate();
                if (!await process.ExitedWithinAsync(TimeSpan.FromSeconds(30)))
                {
                    result.Notes.Add("graceful stop: the server did not exit within 30 s (killed)");
                }

                var exited = Stopwatch.GetElapsedTime(stopped).TotalSeconds;

                await process.DisposeAsync();
                process = await ServerProcess.StartAsync(server, options, context.Paths, cancellationToken);
                var ready = Stopwatch.GetElapsedTime(stopped).TotalSeconds;
                var graceful = await WaitAsync(clients, log, stopped, limit, cancellationToken);
                result.Set("graceful_resynced_s", graceful.ResyncedSeconds);
                result.Set("graceful_lost", graceful.Lost);
                result.Set("graceful_peak_accepts_per_s_100ms", graceful.Peak100Ms);
                result.Set("graceful_hinted", log.Hinted);
                result.Notes.Add($"graceful stop: old server exited {exited:0.00} s after SIGTERM, new one ready at {ready:0.00} s; attempts from {graceful.Attempt(0):0.00} s (first) over {graceful.Attempt(50):0.00} s (p50) to {graceful.Attempt(100):0.00} s (last), {graceful.AttemptsPerClient:0.00} per client");
            }
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var client in clients)
            {
                client.Abort();
            }

            await Task.WhenAll(loops.Select(l => l.ContinueWith(_ => { }, TaskScheduler.Default)));
            await process.DisposeAsync();
        }

        return result;
    }

    private static async Task<StormPhase> WaitAsync(List<StormClient> clients, StormLog log, long from, TimeSpan limit, CancellationToken cancellationToken)
    {
        while (Stopwatch.GetElapsedTime(from) < limit && clients.Any(c => c.ResyncedAt <= from))
        {
            await Task.Delay(20, cancellationToken);
        }

        return new StormPhase(clients, log, from);
    }
}
