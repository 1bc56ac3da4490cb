using System.Diagnostics;
using Lifeline.Bench.Runner;

namespace Lifeline.Bench.Workloads;

/// <summary>The figures of one restart of the reconnect storm (W5), from the stop time <c>from</c>.</summary>
internal sealed class StormPhase
{
    private readonly double[] _attempts;

    public StormPhase(IReadOnlyList<StormClient> clients, StormLog log, long from)
    {
        var resynced = clients.Where(c => c.ResyncedAt > from).Select(c => Seconds(from, c.ResyncedAt)).ToList();
        Lost = clients.Count - resynced.Count;
        ResyncedSeconds = resynced.Count == 0 ? double.NaN : resynced.Max();
        _attempts = log.Attempts.Select(t => Seconds(from, t)).Order().ToArray();
        AttemptsPerClient = clients.Count == 0 ? 0 : (double)_attempts.Length / clients.Count;
        var upgrades = log.Upgrades.Select(t => Seconds(from, t)).ToList();
        Peak100Ms = PeakPerSecond(upgrades, 0.1);
        Peak1S = PeakPerSecond(upgrades, 1);
    }

    public int Lost { get; }

    public double ResyncedSeconds { get; }

    public double Peak100Ms { get; }

    public double Peak1S { get; }

    public double AttemptsPerClient { get; }

    /// <summary>Percentile <paramref name="p"/> of the attempt times (0 = first, 100 = last), in seconds.</summary>
    public double Attempt(double p) =>
        _attempts.Length == 0 ? double.NaN : p <= 0 ? _attempts[0] : _attempts[Math.Clamp((int)Math.Ceiling(p / 100 * _attempts.Length) - 1, 0, _attempts.Length - 1)];

    public void Report(RunResult result, string prefix)
    {
        result.Set(prefix + "resynced_s", ResyncedSeconds);
        result.Set(prefix + "lost", Lost);
        result.Set(prefix + "peak_accepts_per_s_100ms", Peak100Ms);
        result.Set(prefix + "peak_accepts_per_s_1s", Peak1S);
        result.Set(prefix + "first_attempt_s", Attempt(0));
        result.Set(prefix + "p50_attempt_s", Attempt(50));
        result.Set(prefix + "last_attempt_s", Attempt(100));
        result.Set(prefix + "attempts_per_client", AttemptsPerClient);
    }

    private static double Seconds(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalSeconds;

    private static double PeakPerSecond(List<double> times, double bucket) =>
        times.Count == 0 ? 0 : times.GroupBy(t => (long)Math.Floor(t / bucket)).Max(g => g.Count()) / bucket;
}
