namespace Lifeline.Bench.Workloads;

/// <summary>What the storm clients report: timestamps (Stopwatch) of connect attempts, upgrades and resyncs.</summary>
internal sealed class StormLog
{
    public System.Collections.Concurrent.ConcurrentQueue<long> Attempts { get; private set; } = new();

    public System.Collections.Concurrent.ConcurrentQueue<long> Upgrades { get; private set; } = new();

    public int Hinted;

    public void Reset()
    {
        Attempts = new();
        Upgrades = new();
        Hinted = 0;
    }
}
