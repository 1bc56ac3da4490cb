using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Lifeline.Server.Connections;

/// <summary>
/// The one scheduler that drives every connection's deadlines (hello, ping, pong, token expiry): a single periodic sweep over
/// the registered connections against <see cref="TimeProvider"/> time, not a timer per connection. 100,000 idle
/// connections cost one timer and one pass per period; a connection that goes away leaves nothing behind.
/// </summary>
internal sealed class HeartbeatScheduler : IDisposable
{
    private readonly ConcurrentDictionary<Connection, byte> _entries = new();
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private int _sweeping;

    public HeartbeatScheduler(IOptions<LifelineOptions> options, TimeProvider time)
    {
        _time = time;
        Period = SweepPeriod(options.Value.HeartbeatInterval, options.Value.HeartbeatTimeout);
        _timer = time.CreateTimer(static s => ((HeartbeatScheduler)s!).Sweep(), this, Period, Period);
    }

    /// <summary>How often deadlines are checked.</summary>
    public TimeSpan Period { get; }

    /// <summary>Number of connections with deadlines (0 once every connection is gone).</summary>
    public int Count => _entries.Count;

    /// <summary>
    /// Test switch: while true no pings are sent and no pong deadline is enforced, so that clients can prove their
    /// receive watchdog detects a server that went silent.
    /// </summary>
    public bool PingsPaused { get; set; }

    /// <summary>
    /// A twentieth of the shorter of interval and timeout, between 10 ms and 1 s: a ping goes out and a missing pong is
    /// detected at most a twentieth of the timeout late each, so with the 100 ms dead-peer close a cut-off client is gone
    /// within interval + timeout + two sweeps + 100 ms (1 s / 1 s: every 50 ms, gone within 2.2 s; the default 20 s / 5 s: every
    /// 250 ms, four passes per second).
    /// </summary>
    public static TimeSpan SweepPeriod(TimeSpan interval, TimeSpan timeout)
    {
        var twentieth = TimeSpan.FromTicks(Math.Min(interval.Ticks, timeout.Ticks) / 20);
        return TimeSpan.FromTicks(Math.Clamp(twentieth.Ticks, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromSeconds(1).Ticks));
    }

    public void Register(Connection connection) => _entries.TryAdd(connection, 0);

    public void Unregister(Connection connection) => _entries.TryRemove(connection, out _);

    /// <summary>Runs one pass now (the timer calls this; tests may too).</summary>
    public void Sweep()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) != 0)
        {
            return; // the previous pass is still running; skip rather than overlap
        }

        try
        {
            var now = _time.GetTimestamp();
            var paused = PingsPaused;
            foreach (var connection in _entries.Keys)
            {
                connection.OnHeartbeatTick(now, paused);
            }
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    public void Dispose() => _timer.Dispose();
}
