namespace Lifeline.Server.Connections;

/// <summary>What a heartbeat tick asks the connection to do.</summary>
internal enum HeartbeatAction
{
    /// <summary>Nothing is due.</summary>
    None,

    /// <summary>Send a ping with the new counter (<see cref="ConnectionHeartbeat.PingCounter"/>).</summary>
    Ping,

    /// <summary>The pong deadline passed: close with 4000.</summary>
    Timeout,
}

/// <summary>
/// One connection's heartbeat deadlines, driven by <see cref="HeartbeatScheduler"/>'s sweep: the next ping, the pong
/// deadline and the ping counter. Pure bookkeeping on timestamps: it sends nothing and closes nothing itself.
/// A struct held in its <see cref="Connection"/> (no object of its own) and lock-free: the sweep passes over every
/// idle connection several times a second, and most passes only read two timestamps.
/// </summary>
/// <remarks>
/// Threading: <see cref="Arm"/> runs before the connection opens, <see cref="Tick"/> on the sweep only (one pass at a
/// time), <see cref="OnPong"/> on the receive loop. Only <see cref="Tick"/> sets a pong deadline, and only while none is
/// set; it writes the counter before the deadline. <see cref="OnPong"/> reads the deadline, then the counter, and clears
/// exactly the deadline it read (compare-and-swap): a stale pong that raced with the next ping finds the new counter or
/// a different deadline and clears nothing.
/// </remarks>
internal struct ConnectionHeartbeat
{
    private long _nextPingAt;
    private long _pongDeadline; // 0 while no pong is awaited
    private long _pingCounter;

    /// <summary>The counter of the last ping sent.</summary>
    public readonly long PingCounter => Volatile.Read(in _pingCounter);

    /// <summary>
    /// When the next tick can change something: the next ping or, while a pong is awaited, the earlier of the next ping
    /// and the pong deadline (a pong that comes meanwhile leaves the next ping due at its time).
    /// </summary>
    public readonly long NextDue
    {
        get
        {
            var nextPing = Volatile.Read(in _nextPingAt);
            var deadline = Volatile.Read(in _pongDeadline);
            return deadline != 0 && deadline < nextPing ? deadline : nextPing;
        }
    }

    /// <summary>Arms the first ping, jittered over [interval/2, interval] from <paramref name="now"/>. Called before the connection opens.</summary>
    /// <param name="now">The current timestamp.</param>
    /// <param name="interval">The ping interval, in timestamp ticks.</param>
    public void Arm(long now, long interval)
    {
        var firstPing = (interval / 2) + (long)(Random.Shared.NextDouble() * (interval / 2));
        Volatile.Write(ref _nextPingAt, now + firstPing);
        Volatile.Write(ref _pongDeadline, 0);
    }

    /// <summary>Checks the deadlines at <paramref name="now"/>; a due ping is counted here, its message sent by the caller.</summary>
    /// <param name="now">The current timestamp.</param>
    /// <param name="interval">The ping interval, in timestamp ticks.</param>
    /// <param name="timeout">How long a pong may take, in timestamp ticks.</param>
    /// <param name="ping">The counter of the ping to send, when the result is <see cref="HeartbeatAction.Ping"/>.</param>
    /// <returns>What is due.</returns>
    public HeartbeatAction Tick(long now, long interval, long timeout, out long ping)
    {
        ping = 0;
        var deadline = Volatile.Read(ref _pongDeadline);
        if (deadline != 0)
        {
            return now >= deadline ? HeartbeatAction.Timeout : HeartbeatAction.None;
        }

        if (now < Volatile.Read(ref _nextPingAt))
        {
            return HeartbeatAction.None;
        }

        ping = _pingCounter + 1;
        Volatile.Write(ref _pingCounter, ping);
        Volatile.Write(ref _nextPingAt, now + interval);
        Volatile.Write(ref _pongDeadline, Math.Max(1, now + timeout)); // after the counter (see remarks); never 0
        return HeartbeatAction.Ping;
    }

    /// <summary>A pong clears the deadline only when it echoes the current ping counter.</summary>
    /// <param name="n">The pong's counter.</param>
    public void OnPong(long n)
    {
        var deadline = Volatile.Read(ref _pongDeadline);
        if (deadline != 0 && n == Volatile.Read(ref _pingCounter))
        {
            Interlocked.CompareExchange(ref _pongDeadline, 0, deadline);
        }
    }
}
