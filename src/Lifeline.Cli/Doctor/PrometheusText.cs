using System.Globalization;
using System.Text.RegularExpressions;

namespace Lifeline.Cli.Doctor;

/// <summary>One sample of a Prometheus text exposition.</summary>
/// <param name="Name">The metric name (with <c>_total</c>, <c>_bucket</c> and so on).</param>
/// <param name="Labels">Its labels.</param>
/// <param name="Value">Its value.</param>
internal sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>A small reader of the Prometheus text format (enough for what <c>lifeline doctor</c> reads).</summary>
internal static partial class PrometheusText
{
    /// <summary>Parses the samples; comments and malformed lines are skipped.</summary>
    /// <param name="text">The exposition.</param>
    /// <returns>The samples.</returns>
    public static IReadOnlyList<PrometheusSample> Parse(string text)
    {
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var m = SampleLine().Match(line);
            if (!m.Success || !double.TryParse(m.Groups["value"].Value.Replace("+Inf", "Infinity", StringComparison.Ordinal), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                continue;
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (Match l in Label().Matches(m.Groups["labels"].Value))
            {
                labels[l.Groups["k"].Value] = l.Groups["v"].Value;
            }

            samples.Add(new PrometheusSample(m.Groups["name"].Value, labels, value));
        }

        return samples;
    }

    /// <summary>The sum of every sample named <paramref name="name"/>, or null when there is none.</summary>
    public static double? Sum(IReadOnlyList<PrometheusSample> samples, string name)
    {
        double? total = null;
        foreach (var s in samples)
        {
            if (s.Name == name)
            {
                total = (total ?? 0) + s.Value;
            }
        }

        return total;
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<k>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<v>(?:[^""\\]|\\.)*)""")]
    private static partial Regex Label();
}
