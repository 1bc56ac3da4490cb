using Lifeline.Bench.Net;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Runner;

/// <summary>Runs the selected workloads and writes their reports (what <c>lifeline-bench run</c> and the smoke test do).</summary>
internal static class BenchRun
{
    public static async Task<IReadOnlyList<WorkloadReport>> ExecuteAsync(BenchOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        var all = WorkloadRunner.Discover();
        var selected = options.Workloads.Count == 1 && options.Workloads[0] == "all"
            ? all.Values.OrderBy(w => w.Name, StringComparer.Ordinal).ToList()
            : options.Workloads.Select(n => all.TryGetValue(n, out var w) ? w : throw new ArgumentException($"unknown workload '{n}' ({string.Join(", ", all.Keys.Order())})")).ToList();
        var limit = ResourceLimits.RaiseOpenFiles(1_048_576);
        var paths = options.Repo is null ? BenchPaths.Discover(configuration: options.Configuration) : new BenchPaths(Path.GetFullPath(options.Repo), options.Configuration);
        log.WriteLine($"lifeline-bench: open-file limit {limit}; servers {string.Join(",", options.Servers.Select(s => s.Name()))}; runs {options.Runs}; results in {options.OutDir}");
        // Each workload stops its servers (await using); Program kills any left on exit and Ctrl-C.
        var reports = new List<WorkloadReport>();
        foreach (var workload in selected)
        {
            var context = new WorkloadContext(paths, options.Parameters, options.ServerEnvironment, log);
            var report = await WorkloadRunner.RunAsync(workload, context, options.Servers, options.Runs, cancellationToken);
            report.Write(options.OutDir);
            log.WriteLine();
            log.WriteLine(report.ToMarkdown());
            reports.Add(report);
        }

        return reports;
    }

    /// <summary>True when every run of every server produced every metric expected of that server.</summary>
    public static bool IsComplete(WorkloadReport report) => report.Runs.All(r => MissingMetrics(report.Workload, r).Count == 0);

    /// <summary>The metrics a run should have produced and did not (Lifeline-only metrics are not expected of the anchors).</summary>
    public static IReadOnlyList<string> MissingMetrics(IWorkload workload, RunRecord run) =>
        workload.Metrics
            .Where(m => run.Server.IsLifelineWebSocket() || !m.LifelineOnly)
            .Where(m => !run.Result.Values.TryGetValue(m.Key, out var v) || double.IsNaN(v))
            .Select(m => m.Key)
            .ToList();
}
