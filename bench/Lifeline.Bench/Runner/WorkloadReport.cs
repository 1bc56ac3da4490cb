using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Runner;

/// <summary>One run of one server.</summary>
internal sealed record RunRecord(int Run, ServerKind Server, RunResult Result);

/// <summary>
/// Every run of a workload, and its two outputs: <c>&lt;name&gt;.json</c> (every value of every run, plus the summary)
/// and <c>&lt;name&gt;.md</c> (the section docs/benchmarks.md is assembled from).
/// </summary>
internal sealed class WorkloadReport
{
    public WorkloadReport(IWorkload workload, string description, IReadOnlyList<ServerKind> servers, IReadOnlyList<RunRecord> runs, IReadOnlyDictionary<string, string> parameters)
    {
        Workload = workload;
        Description = description;
        Servers = servers;
        Runs = runs;
        Parameters = parameters;
    }

    public IWorkload Workload { get; }

    public string Description { get; }

    public IReadOnlyList<ServerKind> Servers { get; }

    public IReadOnlyList<RunRecord> Runs { get; }

    public IReadOnlyDictionary<string, string> Parameters { get; }

    public Spread? SpreadOf(ServerKind server, string key) =>
        Spread.Of(Runs.Where(r => r.Server == server && r.Result.Values.ContainsKey(key)).Select(r => r.Result.Values[key]));

    /// <summary>Lifeline's median over the anchor's (both as measured in this invocation).</summary>
    public double? Ratio(string key, ServerKind anchor) => Ratio(key, ServerKind.Lifeline, anchor);

    /// <summary><paramref name="subject"/>'s median over <paramref name="anchor"/>'s (lifeline-http over signalr-sse).</summary>
    public double? Ratio(string key, ServerKind subject, ServerKind anchor)
    {
        var lifeline = SpreadOf(subject, key);
        var other = SpreadOf(anchor, key);
        return lifeline is null || other is null || other.Median == 0 ? null : lifeline.Median / other.Median;
    }

    public void Write(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, Workload.Name + ".json"), ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.Combine(directory, Workload.Name + ".md"), ToMarkdown());
    }

    public JsonObject ToJson()
    {
        var runs = new JsonArray();
        foreach (var run in Runs)
        {
            var values = new JsonObject();
            foreach (var (key, value) in run.Result.Values)
            {
                values[key] = double.IsFinite(value) ? value : null;
            }

            runs.Add(new JsonObject
            {
                ["run"] = run.Run,
                ["server"] = run.Server.Name(),
                ["values"] = values,
                ["notes"] = new JsonArray(run.Result.Notes.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()),
            });
        }

        var summary = new JsonObject();
        foreach (var metric in Workload.Metrics)
        {
            var perServer = new JsonObject();
            foreach (var server in Servers)
            {
                if (SpreadOf(server, metric.Key) is { } s)
                {
                    perServer[server.Name()] = new JsonObject { ["median"] = s.Median, ["min"] = s.Min, ["max"] = s.Max, ["runs"] = s.Count };
                }
            }

            foreach (var anchor in new[] { ServerKind.SignalR, ServerKind.Ws })
            {
                if (Ratio(metric.Key, anchor) is { } r)
                {
                    perServer["ratio_vs_" + anchor.Name()] = r;
                }

                if (Ratio(metric.Key, ServerKind.LifelineLean, anchor) is { } lean)
                {
                    perServer["ratio_lifeline_lean_vs_" + anchor.Name()] = lean;
                }
            }

            if (Ratio(metric.Key, ServerKind.LifelineLean, ServerKind.Lifeline) is { } leanVsStandard)
            {
                perServer["ratio_lifeline_lean_vs_lifeline"] = leanVsStandard;
            }

            if (Ratio(metric.Key, ServerKind.LifelineHttp, ServerKind.SignalRSse) is { } http)
            {
                perServer["ratio_lifeline_http_vs_signalr_sse"] = http;
            }

            summary[metric.Key] = perServer;
        }

        var parameters = new JsonObject();
        foreach (var (key, value) in Parameters)
        {
            parameters[key] = value;
        }

        return new JsonObject
        {
            ["workload"] = Workload.Name,
            ["title"] = Workload.Title,
            ["parameters"] = parameters,
            ["summary"] = summary,
            ["runs"] = runs,
        };
    }

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        md.AppendLine(inv, $"### {Workload.Title}").AppendLine();
        md.AppendLine(Description).AppendLine();
        md.Append("| metric |");
        foreach (var server in Servers)
        {
            md.Append(inv, $" {server.Name()} median (min-max) |");
        }

        // Lifeline (each listener) over each anchor, the lean listener over the standard one; Lifeline's HTTP transport
        // over SignalR's Server-Sent Events when both ran.
        var anchors = new[]
            {
                (ServerKind.Lifeline, ServerKind.SignalR), (ServerKind.Lifeline, ServerKind.Ws),
                (ServerKind.LifelineLean, ServerKind.SignalR), (ServerKind.LifelineLean, ServerKind.Ws), (ServerKind.LifelineLean, ServerKind.Lifeline),
                (ServerKind.LifelineHttp, ServerKind.SignalRSse),
            }
            .Where(a => Servers.Contains(a.Item1) && Servers.Contains(a.Item2)).ToArray();
        foreach (var (subject, anchor) in anchors)
        {
            md.Append(inv, $" {subject.Name()} / {anchor.Name()} |");
        }

        md.AppendLine();
        md.Append("| --- |").Append(string.Concat(Enumerable.Repeat(" ---: |", Servers.Count + anchors.Length))).AppendLine();
        foreach (var metric in Workload.Metrics)
        {
            md.Append(inv, $"| {metric.Label} ({metric.Unit}, {(metric.Better == Better.Lower ? "lower" : "higher")} is better) |");
            foreach (var server in Servers)
            {
                md.Append(SpreadOf(server, metric.Key) is { } s
                    ? string.Create(inv, $" {Format(s.Median)} ({Format(s.Min)}-{Format(s.Max)}) |")
                    : " n/a |");
            }

            foreach (var (subject, anchor) in anchors)
            {
                md.Append(Ratio(metric.Key, subject, anchor) is { } r ? string.Create(inv, $" {r:0.00}x |") : " n/a |");
            }

            md.AppendLine();
        }

        var runsPerServer = Servers.Select(s => Runs.Count(r => r.Server == s)).DefaultIfEmpty(0).Max();
        md.AppendLine().AppendLine(inv, $"Runs per server: {runsPerServer}. Parameters: {string.Join(", ", Parameters.Select(p => $"`{p.Key}={p.Value}`"))}.");
        var notes = Runs.SelectMany(r => r.Result.Notes.Select(n => $"run {r.Run + 1}, {r.Server.Name()}: {n}")).ToList();
        if (notes.Count > 0)
        {
            md.AppendLine().AppendLine("Notes:").AppendLine();
            foreach (var note in notes.Take(30))
            {
                md.AppendLine(inv, $"- {note}");
            }
        }

        return md.AppendLine().ToString();
    }

    private static string Format(double value) =>
        Math.Abs(value) >= 100 ? value.ToString("#,0", CultureInfo.InvariantCulture)
        : Math.Abs(value) >= 10 ? value.ToString("0.0", CultureInfo.InvariantCulture)
        : value.ToString("0.00", CultureInfo.InvariantCulture);
}
