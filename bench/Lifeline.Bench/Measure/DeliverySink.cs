using System.Diagnostics;

namespace Lifeline.Bench.Measure;

/// <summary>
/// Counts deliveries and keeps their latencies (µs): receive time minus the send timestamp embedded in the payload.
/// Shared by every client of a run; lock-free.
/// </summary>
internal sealed class DeliverySink
{
    private readonly long[] _latenciesMicros;
    private long _count;
    private long _lastReceived;

    public DeliverySink(int capacity) => _latenciesMicros = new long[capacity];

    public long Count => Interlocked.Read(ref _count);

    /// <summary>Stopwatch timestamp of the latest delivery.</summary>
    public long LastReceived => Interlocked.Read(ref _lastReceived);

    public void Record(long sentTimestamp)
    {
        var now = Stopwatch.GetTimestamp();
        var index = Interlocked.Increment(ref _count) - 1;
        if (index < _latenciesMicros.Length)
        {
            _latenciesMicros[index] = (long)Stopwatch.GetElapsedTime(sentTimestamp, now).TotalMicroseconds;
        }

        Volatile.Write(ref _lastReceived, now);
    }

    /// <summary>The recorded latencies, sorted (at most the capacity).</summary>
    public long[] SortedLatencies()
    {
        var n = (int)Math.Min(Count, _latenciesMicros.Length);
        var copy = _latenciesMicros.AsSpan(0, n).ToArray();
        Array.Sort(copy);
        return copy;
    }
}
