using Microsoft.Extensions.Options;

namespace Lifeline.Server.Connections;

/// <summary>
/// The one scheduler that drives every connection's deadlines (hello, ping, pong, token expiry): a single periodic sweep over
/// the registered connections against <see cref="TimeProvider"/> time, not a timer per connection. 100,000 idle
/// connections cost one timer and one pass per period; a connection that goes away leaves nothing behind.
/// </summary>
/// <remarks>
/// The registered connections sit in an array of slots (a freed slot is reused): a pass reads the array without a lock
/// and without a snapshot, and registering costs no node per connection. Only <see cref="Register"/> and
/// <see cref="Unregister"/> take the lock. A pass that races with them may tick a connection that just left (its tick
/// does nothing: it is no longer open) or miss one that just came (the next pass ticks it).
/// </remarks>
internal sealed class HeartbeatScheduler : IDisposable
{
    private readonly Lock _gate = new(); // guards the fields below; the sweep reads _slots and _used without it
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private Connection?[] _slots = new Connection?[64];
    private int _used; // slots [0, _used) have been handed out at least once
    private int[] _free = new int[16]; // freed slots, reused first
    private int _freeCount;
    private int _count;
    private int _sweeping;

    public HeartbeatScheduler(IOptions<LifelineOptions> options, TimeProvider time)
    {
        _time = time;
        Interval = ToTicks(options.Value.HeartbeatInterval, time);
        Timeout = ToTicks(options.Value.HeartbeatTimeout, time);
        Period = SweepPeriod(options.Value.HeartbeatInterval, options.Value.HeartbeatTimeout);
        _timer = time.CreateTimer(static s => ((HeartbeatScheduler)s!).Sweep(), this, Period, Period);
    }

    /// <summary>How often deadlines are checked.</summary>
    public TimeSpan Period { get; }

    /// <summary>The ping interval, in timestamp ticks.</summary>
    public long Interval { get; }

    /// <summary>How long a pong may take, in timestamp ticks.</summary>
    public long Timeout { get; }

    /// <summary>Number of connections with deadlines (0 once every connection is gone).</summary>
    public int Count => Volatile.Read(ref _count);

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

    /// <summary>Adds <paramref name="connection"/> to the passes (once; a second call does nothing).</summary>
    public void Register(Connection connection)
    {
        lock (_gate)
        {
            if (connection.SchedulerSlot >= 0)
            {
                return;
            }

            int slot;
            if (_freeCount > 0)
            {
                slot = _free[--_freeCount];
            }
            else
            {
                if (_used == _slots.Length)
                {
                    var larger = new Connection?[_slots.Length * 2];
                    _slots.AsSpan().CopyTo(larger);
                    Volatile.Write(ref _slots, larger);
                }

                slot = _used;
                Volatile.Write(ref _used, _used + 1);
            }

            connection.SchedulerSlot = slot;
            Volatile.Write(ref _slots[slot], connection);
            _count++;
        }
    }

    /// <summary>Removes <paramref name="connection"/> from the passes (a second call does nothing).</summary>
    public void Unregister(Connection connection)
    {
        lock (_gate)
        {
            var slot = connection.SchedulerSlot;
            if (slot < 0)
            {
                return;
            }

            connection.SchedulerSlot = -1;
            Volatile.Write(ref _slots[slot], null);
            if (_freeCount == _free.Length)
            {
                Array.Resize(ref _free, _free.Length * 2);
            }

            _free[_freeCount++] = slot;
            _count--;
        }
    }

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
            var slots = Volatile.Read(ref _slots);
            var used = Math.Min(Volatile.Read(ref _used), slots.Length);
            for (var i = 0; i < used; i++)
            {
                Volatile.Read(ref slots[i])?.OnHeartbeatTick(now, paused);
            }
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    public void Dispose() => _timer.Dispose();

    private static long ToTicks(TimeSpan span, TimeProvider time) => (long)(span.TotalSeconds * time.TimestampFrequency);
}
