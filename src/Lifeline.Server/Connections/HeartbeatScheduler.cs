using Microsoft.Extensions.Options;

namespace Lifeline.Server.Connections;

/// <summary>
/// The one scheduler that drives every connection's deadlines (hello, ping, pong, token expiry): a single periodic sweep over
/// the registered connections against <see cref="TimeProvider"/> time, not a timer per connection. 100,000 idle
/// connections cost one timer and one pass per period; a connection that goes away leaves nothing behind.
/// </summary>
/// <remarks>
/// The registered connections sit in an array of slots (a freed slot is reused), and next to each the timestamp at which
/// it next needs a tick (what its last tick returned: its hello deadline, next ping, pong deadline or token expiry). A
/// pass scans that array of timestamps, contiguous and without a lock, and touches only the connections that are due:
/// an idle connection costs one comparison per pass, not a visit to its object. Whatever can make a connection due
/// sooner than its last tick said (it opened, its token changed) calls <see cref="Reschedule"/>, which marks it due
/// now. Marks are unique negative numbers and a pass stores a connection's next time with a compare-and-swap against
/// the value it read, so a mark set while the connection was being ticked is never lost. Only <see cref="Register"/>,
/// <see cref="Unregister"/> and <see cref="Reschedule"/> take the lock. A pass that races with them may tick a
/// connection that just left (its tick does nothing: it is no longer open) or miss one that just came (the next pass
/// ticks it).
/// </remarks>
internal sealed class HeartbeatScheduler : IDisposable
{
    private readonly Lock _gate = new(); // guards the fields below; the sweep reads _slots and _used without it
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private Table _table = new(64); // replaced (never changed in size) when it grows
    private int _used; // slots [0, _used) have been handed out at least once
    private int[] _free = new int[16]; // freed slots, reused first
    private int _freeCount;
    private int _count;
    private int _sweeping;
    private long _marks; // the last "due now" mark handed out (decreasing, so every mark is unique)

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

    /// <summary>Adds <paramref name="connection"/> to the passes, due at the next one (once; a second call does nothing).</summary>
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
                if (_used == _table.Slots.Length)
                {
                    Volatile.Write(ref _table, _table.Grow());
                }

                slot = _used;
                Volatile.Write(ref _used, _used + 1);
            }

            connection.SchedulerSlot = slot;
            Volatile.Write(ref _table.Due[slot], Interlocked.Decrement(ref _marks));
            Volatile.Write(ref _table.Slots[slot], connection);
            _count++;
        }
    }

    /// <summary>Marks <paramref name="connection"/> due at the next pass: something may have moved its next deadline sooner.</summary>
    public void Reschedule(Connection connection)
    {
        lock (_gate)
        {
            if (connection.SchedulerSlot is var slot and >= 0)
            {
                Volatile.Write(ref _table.Due[slot], Interlocked.Decrement(ref _marks));
            }
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
            Volatile.Write(ref _table.Slots[slot], null);
            Volatile.Write(ref _table.Due[slot], long.MaxValue);
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
            var table = Volatile.Read(ref _table);
            var due = table.Due;
            var used = Math.Min(Volatile.Read(ref _used), due.Length);
            for (var i = 0; i < used; i++)
            {
                var at = Volatile.Read(ref due[i]);
                if (at > now && !paused)
                {
                    continue; // the common case: nothing due, the connection is not touched
                }

                if (Volatile.Read(ref table.Slots[i]) is not { } connection)
                {
                    continue;
                }

                var next = connection.OnHeartbeatTick(now, paused);
                if (Interlocked.CompareExchange(ref due[i], next, at) == at && Volatile.Read(ref table.Slots[i]) != connection)
                {
                    Volatile.Write(ref due[i], Interlocked.Decrement(ref _marks)); // the slot changed hands meanwhile: its new connection is due
                }
            }
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    public void Dispose() => _timer.Dispose();

    private static long ToTicks(TimeSpan span, TimeProvider time) => (long)(span.TotalSeconds * time.TimestampFrequency);

    /// <summary>The slots and their due times, replaced together when they grow.</summary>
    private sealed class Table(int size)
    {
        public Connection?[] Slots { get; } = new Connection?[size];

        /// <summary>When each slot next needs a tick (a timestamp; negative: at the next pass; <see cref="long.MaxValue"/>: never).</summary>
        public long[] Due { get; } = CreateDue(size);

        public Table Grow()
        {
            var larger = new Table(Slots.Length * 2);
            Slots.AsSpan().CopyTo(larger.Slots);
            for (var i = 0; i < Due.Length; i++)
            {
                larger.Due[i] = Volatile.Read(ref Due[i]);
            }

            return larger;
        }

        private static long[] CreateDue(int size)
        {
            var due = new long[size];
            due.AsSpan().Fill(long.MaxValue);
            return due;
        }
    }
}
