using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Runner;

/// <summary>Whether a bigger figure is better (deliveries/s) or worse (bytes, latency, CPU).</summary>
internal enum Better
{
    Lower,
    Higher,
}

/// <summary>One figure a workload reports.</summary>
/// <param name="Key">Key in the results JSON, e.g. <c>rss_per_connection_kb</c>.</param>
/// <param name="Label">Column label in docs/benchmarks.md.</param>
/// <param name="Unit">Unit shown after the figures.</param>
/// <param name="Better">Direction, for the ratios.</param>
/// <param name="LifelineOnly">A figure only the Lifeline server can produce (e.g. W5's graceful stop with retry hints): not expected from the anchors.</param>
internal sealed record MetricSpec(string Key, string Label, string Unit, Better Better, bool LifelineOnly = false);

/// <summary>
/// A benchmark workload. Found by reflection: a new workload is one new file with a class implementing this
/// interface (and a public parameterless constructor); the runner calls <see cref="RunOnceAsync"/> once per run and
/// per server, then reports median and min-max of every metric and the ratios to the anchors.
/// </summary>
internal interface IWorkload
{
    /// <summary>Command-line name, e.g. <c>w1-idle</c>.</summary>
    string Name { get; }

    /// <summary>Heading in docs/benchmarks.md.</summary>
    string Title { get; }

    /// <summary>What the workload does, with the parameters in force (one paragraph of markdown).</summary>
    string Describe(WorkloadContext context);

    IReadOnlyList<MetricSpec> Metrics { get; }

    /// <summary>
    /// One run against one server: starts the server (<see cref="WorkloadContext.StartServerAsync"/>), measures, stops
    /// it. Returns a value for each of <see cref="Metrics"/> (missing keys are reported as "n/a") and may add notes.
    /// </summary>
    Task<RunResult> RunOnceAsync(WorkloadContext context, ServerKind server, CancellationToken cancellationToken);
}

/// <summary>What one run produced.</summary>
internal sealed class RunResult
{
    public Dictionary<string, double> Values { get; } = new(StringComparer.Ordinal);

    /// <summary>Observations worth reporting (failed connects, closes, errors).</summary>
    public List<string> Notes { get; } = [];

    public RunResult Set(string key, double value)
    {
        Values[key] = value;
        return this;
    }
}
