using Lifeline.Bench.Runner;
using Lifeline.NetLab;

namespace Lifeline.Bench;

/// <summary>
/// <c>lifeline-bench</c>: the load generator. <c>lifeline-bench list</c> names the workloads; <c>lifeline-bench run ...</c>
/// (<see cref="BenchOptions.Usage"/>) runs them and writes DIR/&lt;workload&gt;.json and DIR/&lt;workload&gt;.md.
/// Exit code 0 when every run of every server produced every metric, 1 otherwise, 2 on bad usage.
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
            ChildProcess.KillAll();
        };
        AppDomain.CurrentDomain.ProcessExit += (_, _) => ChildProcess.KillAll();
        try
        {
            if (args.Length == 0 || args[0] is "list" or "--help" or "-h")
            {
                Console.WriteLine(BenchOptions.Usage);
                Console.WriteLine("workloads: " + string.Join(", ", WorkloadRunner.Discover().Keys.Order()));
                return args.Length == 0 ? 2 : 0;
            }

            if (args[0] != "run")
            {
                throw new ArgumentException("usage: " + BenchOptions.Usage);
            }

            var reports = await BenchRun.ExecuteAsync(BenchOptions.Parse(args[1..]), Console.Out, cts.Token);
            return reports.All(BenchRun.IsComplete) ? 0 : 1;
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync("lifeline-bench: " + ex.Message);
            return 2;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("lifeline-bench: cancelled");
            return 130;
        }
        finally
        {
            ChildProcess.KillAll();
        }
    }
}
