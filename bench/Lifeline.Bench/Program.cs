using System.Globalization;
using Lifeline.Bench.Net;
using Lifeline.Bench.Runner;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench;

/// <summary>
/// <c>lifeline-bench</c>: the load generator.
/// <code>
///   lifeline-bench list
///   lifeline-bench run WORKLOAD[,WORKLOAD...]|all [--servers lifeline,signalr,ws] [--runs 3] [--out DIR]
///                  [--param key=value]... [--server-env KEY=VALUE]... [--repo DIR]
/// </code>
/// Writes DIR/&lt;workload&gt;.json and DIR/&lt;workload&gt;.md per workload. Exit code 0 when every run of every server
/// produced every metric, 1 otherwise, 2 on bad usage.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
            ServerProcess.KillAll();
        };
        AppDomain.CurrentDomain.ProcessExit += (_, _) => ServerProcess.KillAll();
        try
        {
            return await RunAsync(args, cts.Token);
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync("lifeline-bench: " + ex.Message);
            return 2;
        }
        finally
        {
            ServerProcess.KillAll();
        }
    }

    private static async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var workloads = WorkloadRunner.Discover();
        if (args.Length == 0 || args[0] is "list" or "--help" or "-h")
        {
            Console.WriteLine("lifeline-bench run WORKLOAD[,WORKLOAD...]|all [--servers lifeline,signalr,ws] [--runs 3] [--out DIR] [--param key=value]... [--server-env KEY=VALUE]... [--repo DIR]");
            Console.WriteLine("workloads: " + string.Join(", ", workloads.Keys.Order()));
            return args.Length == 0 ? 2 : 0;
        }

        if (args[0] != "run" || args.Length < 2)
        {
            throw new ArgumentException("usage: lifeline-bench run WORKLOAD ... (lifeline-bench list)");
        }

        var selected = args[1] == "all"
            ? workloads.Values.OrderBy(w => w.Name, StringComparer.Ordinal).ToList()
            : args[1].Split(',').Select(n => workloads.TryGetValue(n, out var w) ? w : throw new ArgumentException($"unknown workload '{n}' ({string.Join(", ", workloads.Keys)})")).ToList();
        var servers = ServerKinds.All.ToList();
        var runs = 3;
        var outDir = Path.Combine(Path.GetTempPath(), "lifeline-bench-results");
        string? repo = null;
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        var serverEnv = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 2; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException(args[i] + " needs a value");
            switch (args[i])
            {
                case "--servers": servers = value.Split(',').Select(ServerKinds.Parse).ToList(); break;
                case "--runs": runs = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--out": outDir = value; break;
                case "--repo": repo = value; break;
                case "--param": AddPair(parameters, value); break;
                case "--server-env": AddPair(serverEnv, value); break;
                default: throw new ArgumentException("unknown option " + args[i]);
            }

            i++;
        }

        var limit = ResourceLimits.RaiseOpenFiles(1_048_576);
        Console.WriteLine($"lifeline-bench: open-file limit {limit}; servers {string.Join(",", servers.Select(s => s.Name()))}; runs {runs}; results in {outDir}");
        var paths = repo is null ? BenchPaths.Discover() : new BenchPaths(Path.GetFullPath(repo));
        var complete = true;
        foreach (var workload in selected)
        {
            var context = new WorkloadContext(paths, parameters, serverEnv, Console.Out);
            var report = await WorkloadRunner.RunAsync(workload, context, servers, runs, cancellationToken);
            report.Write(outDir);
            Console.WriteLine();
            Console.WriteLine(report.ToMarkdown());
            complete &= report.Runs.All(r => workload.Metrics.All(m => r.Result.Values.ContainsKey(m.Key) && !double.IsNaN(r.Result.Values[m.Key])) || SkippedByParameters(r));
        }

        return complete ? 0 : 1;
    }

    private static bool SkippedByParameters(RunRecord record) => record.Result.Notes.Count == 0 && record.Result.Values.Count > 0;

    private static void AddPair(Dictionary<string, string> target, string pair)
    {
        var at = pair.IndexOf('=', StringComparison.Ordinal);
        if (at <= 0)
        {
            throw new ArgumentException($"'{pair}' is not key=value");
        }

        target[pair[..at]] = pair[(at + 1)..];
    }
}
