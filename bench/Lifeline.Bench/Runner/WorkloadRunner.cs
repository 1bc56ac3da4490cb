using System.Reflection;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Runner;

/// <summary>Runs a workload <c>runs</c> times against each server (rotating the order between runs) and summarizes.</summary>
internal static class WorkloadRunner
{
    /// <summary>Every workload in this assembly, by name.</summary>
    public static IReadOnlyDictionary<string, IWorkload> Discover() =>
        typeof(IWorkload).Assembly.GetTypes()
            .Where(t => typeof(IWorkload).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false } && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (IWorkload)Activator.CreateInstance(t)!)
            .ToDictionary(w => w.Name, StringComparer.OrdinalIgnoreCase);

    public static async Task<WorkloadReport> RunAsync(IWorkload workload, WorkloadContext context, IReadOnlyList<ServerKind> servers, int runs, CancellationToken cancellationToken)
    {
        var records = new List<RunRecord>();
        for (var run = 0; run < runs; run++)
        {
            for (var i = 0; i < servers.Count; i++)
            {
                var server = servers[(i + run) % servers.Count];
                context.Info($"{workload.Name}: run {run + 1}/{runs}, {server.Name()}");
                RunResult result;
                try
                {
                    result = await workload.RunOnceAsync(context, server, cancellationToken);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is not TargetInvocationException)
                {
                    result = new RunResult();
                    result.Notes.Add("run failed: " + ex.GetType().Name + ": " + ex.Message.Split('\n')[0]);
                    context.Info($"{workload.Name}: {server.Name()} failed: {ex}");
                }

                context.Info($"{workload.Name}: {server.Name()}: {string.Join(", ", result.Values.Select(v => $"{v.Key}={v.Value:0.###}"))}");
                records.Add(new RunRecord(run, server, result));
            }
        }

        return new WorkloadReport(workload, workload.Describe(context), servers, records, new Dictionary<string, string>(context.UsedParameters));
    }
}
