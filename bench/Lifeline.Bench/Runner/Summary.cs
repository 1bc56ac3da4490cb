namespace Lifeline.Bench.Runner;

/// <summary>Median and range of one metric over the runs of one server.</summary>
internal sealed record Spread(double Median, double Min, double Max, int Count)
{
    public static Spread? Of(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }

        var mid = sorted.Length / 2;
        var median = sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
        return new Spread(median, sorted[0], sorted[^1], sorted.Length);
    }
}

/// <summary>Percentiles of a sorted sample.</summary>
internal static class Percentiles
{
    public static double Of(long[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var index = (int)Math.Ceiling(p / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Length - 1)];
    }
}
