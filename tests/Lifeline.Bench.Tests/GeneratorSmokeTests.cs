using Lifeline.Bench.Runner;
using Lifeline.Bench.Servers;
using Xunit.Abstractions;

namespace Lifeline.Bench.Tests;

/// <summary>
/// Smoke run of the load generator: every workload at tiny sizes against one server (one test per server, so xunit
/// runs the three side by side). Asserts only that the generator ran and its numbers are sane (every client connected,
/// deliveries arrived, every metric present), never a figure: performance is bench/run.sh's job.
/// </summary>
public abstract class GeneratorSmokeTests
{
    // w3-halfopen needs root (network namespaces, nftables; CI runs as root); two-node needs redis-server and is Lifeline-only.
    private static readonly string[] Workloads = ["w1-idle", "w1-subscribed", "w2-fanout", "w2-burst", "w2-paced", "cursor", "w4-churn", "w3-halfopen", "w5-storm"];

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private static readonly string[] TinySizes =
    [
        "connections=40", "max_connections=80", "step=40", "cpu_window_s=1", "heartbeat_interval_s=1", "heartbeat_timeout_s=1", "settle_s=0.2",
        "subscribers=20", "messages=50", "window=4", "rate=20", "seconds=1", "cycles=30", "concurrency=8",
        "clients=40", "channels=5", "max_wait_s=20", "limit_s=60",
    ];

    private readonly ITestOutputHelper _output;

    protected GeneratorSmokeTests(ITestOutputHelper output) => _output = output;

    private protected async Task RunAsync(ServerKind server, string[]? only = null)
    {
        var paths = BenchPaths.Discover(configuration: Configuration);
        if (server == ServerKind.Ws)
        {
            await WsServerDependencies.EnsureAsync(paths);
        }

        var outDir = Path.Combine(Path.GetTempPath(), $"lifeline-bench-smoke-{server.Name()}-{Guid.NewGuid():N}");
        var workloads = only ?? (server == ServerKind.Lifeline ? [.. Workloads, "two-node"] : Workloads);
        var args = new List<string> { string.Join(',', workloads), "--servers", server.Name(), "--runs", "1", "--out", outDir, "--configuration", Configuration };
        foreach (var size in TinySizes)
        {
            args.Add("--param");
            args.Add(size);
        }

        using var log = new StringWriter();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        IReadOnlyList<WorkloadReport> reports;
        try
        {
            reports = await BenchRun.ExecuteAsync(BenchOptions.Parse(args), log, cts.Token);
        }
        finally
        {
            _output.WriteLine(log.ToString());
        }

        Assert.Equal(workloads, reports.Select(r => r.Workload.Name));
        foreach (var report in reports)
        {
            var run = Assert.Single(report.Runs);
            Assert.Equal(server, run.Server);
            var missing = BenchRun.MissingMetrics(report.Workload, run);
            Assert.True(missing.Count == 0, $"{report.Workload.Name}: metrics missing: {string.Join(", ", missing)}; notes: {string.Join("; ", run.Result.Notes)}");
            Assert.True(File.Exists(Path.Combine(outDir, report.Workload.Name + ".json")));
            Assert.True(File.Exists(Path.Combine(outDir, report.Workload.Name + ".md")));
        }

        var values = reports.ToDictionary(r => r.Workload.Name, r => r.Runs[0].Result);
        Assert.Equal(80, values["w1-idle"].Values["max_held"]); // every client connected and answered its heartbeats
        Assert.True(values["w1-idle"].Values["rss_mb"] > 0);
        Assert.Equal(80, values["w1-subscribed"].Values["max_held"]); // every client connected, subscribed and answered its heartbeats
        Assert.DoesNotContain(values["w1-subscribed"].Notes, n => n.Contains("not confirmed", StringComparison.Ordinal));
        Assert.Equal(1.0, values["w2-paced"].Values["delivered_fraction"]);
        if (only is not null)
        {
            Directory.Delete(outDir, recursive: true);
            return;
        }

        Assert.True(values["w2-fanout"].Values["deliveries_per_s"] > 0);
        Assert.Empty(values["w2-fanout"].Notes); // nothing missing, nobody disconnected, nothing refused
        Assert.True(values["w2-burst"].Values["deliveries_per_s"] > 0);
        Assert.True(values["w2-burst"].Values["p50_ms"] >= 0); // the server's stamps and the generator read the same clock
        Assert.Empty(values["w2-burst"].Notes); // the control request answered, nothing missing, nobody disconnected
        Assert.Equal(1.0, values["w2-paced"].Values["delivered_fraction"]);
        // Events are best-effort (Lifeline may drop some for a full send queue), but some arrive and no sender gets its own.
        Assert.InRange(values["cursor"].Values["delivered_fraction"], 0.5, 1.0);
        Assert.DoesNotContain(values["cursor"].Notes, n => n.Contains("refused", StringComparison.Ordinal) || n.Contains("disconnected", StringComparison.Ordinal));
        Assert.True(values["w4-churn"].Values["cycles_per_s"] > 0);
        Assert.DoesNotContain(values["w4-churn"].Notes, n => n.Contains("failed", StringComparison.Ordinal));
        Assert.Equal(40, values["w3-halfopen"].Values["detected"]); // every cut-off connection torn down by the server
        Assert.Equal(0, values["w5-storm"].Values["lost"]); // every client back after the server's restart
        if (server == ServerKind.Lifeline)
        {
            Assert.Equal(0, values["w5-storm"].Values["graceful_lost"]);
            Assert.True(values["two-node"].Values["deliveries_per_s"] > 0);
            Assert.True(values["two-node"].Values["b_p50_ms"] > 0); // deltas crossed Redis to the other node
        }

        Directory.Delete(outDir, recursive: true);
    }
}

public sealed class LifelineGeneratorSmokeTests(ITestOutputHelper output) : GeneratorSmokeTests(output)
{
    [Fact]
    public Task Generator_runs_every_workload_against_lifeline() => RunAsync(ServerKind.Lifeline);
}

public sealed class SignalRGeneratorSmokeTests(ITestOutputHelper output) : GeneratorSmokeTests(output)
{
    [Fact]
    public Task Generator_runs_every_workload_against_signalr() => RunAsync(ServerKind.SignalR);
}

public sealed class WsGeneratorSmokeTests(ITestOutputHelper output) : GeneratorSmokeTests(output)
{
    [Fact]
    public Task Generator_runs_every_workload_against_ws() => RunAsync(ServerKind.Ws);
}

/// <summary>The HTTP transports (issue 17): W1 (idle and subscribed) and W2 paced, the workloads run over them.</summary>
public sealed class HttpGeneratorSmokeTests(ITestOutputHelper output) : GeneratorSmokeTests(output)
{
    [Theory]
    [InlineData("lifeline-http")]
    [InlineData("signalr-sse")]
    public Task Generator_runs_w1_and_w2_paced_over_http(string server) => RunAsync(ServerKinds.Parse(server), ["w1-idle", "w1-subscribed", "w2-paced"]);
}

/// <summary>The lean listener (issue 20): the same server with <c>UseLifeline</c>; every workload bench/workloads.txt runs it in.</summary>
public sealed class LeanGeneratorSmokeTests(ITestOutputHelper output) : GeneratorSmokeTests(output)
{
    [Fact]
    public Task Generator_runs_w1_w2_and_w4_against_lifeline_lean() => RunAsync(ServerKind.LifelineLean, ["w1-idle", "w1-subscribed", "w2-fanout", "w2-burst", "w2-paced", "w4-churn"]);
}
