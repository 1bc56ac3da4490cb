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
/// </summary>
/// <param name="interval">The ping interval, in timestamp ticks.</param>
/// <param name="timeout">How long a pong may take, in timestamp ticks.</param>
internal sealed class ConnectionHeartbeat(long interval, long timeout)
{
    // Fields below are guarded by lock (this): the class is private to its connection, and a Lock object would cost
    // one more allocation per connection.
    private long _nextPingAt;
    private long _pongDeadline; // 0 while no pong is awaited
    private long _pingCounter;

    /// <summary>The counter of the last ping sent.</summary>
    public long PingCounter
    {
        get
        {
            lock (this)
            {
                return _pingCounter;
            }
        }
    }

    /// <summary>Arms the first ping, jittered over [interval/2, interval] from <paramref name="now"/>. Called before the connection opens.</summary>
    /// <param name="now">The current timestamp.</param>
    public void Arm(long now)
    {
        var firstPing = (interval / 2) + (long)(Random.Shared.NextDouble() * (interval / 2));
        lock (this)
        {
            _nextPingAt = now + firstPing;
            _pongDeadline = 0;
        }
    }

    /// <summary>Checks the deadlines at <paramref name="now"/>; a due ping is counted here, its message sent by the caller.</summary>
    /// <param name="now">The current timestamp.</param>
    /// <param name="ping">The counter of the ping to send, when the result is <see cref="HeartbeatAction.Ping"/>.</param>
    /// <returns>What is due.</returns>
    public HeartbeatAction Tick(long now, out long ping)
    {
        ping = 0;
        lock (this)
        {
            if (_pongDeadline != 0)
            {
                return now >= _pongDeadline ? HeartbeatAction.Timeout : HeartbeatAction.None;
            }

            if (now < _nextPingAt)
            {
                return HeartbeatAction.None;
            }

            ping = ++_pingCounter;
            _pongDeadline = now + timeout;
            _nextPingAt = now + interval;
            return HeartbeatAction.Ping;
        }
    }

    /// <summary>A pong clears the deadline only when it echoes the current ping counter.</summary>
    /// <param name="n">The pong's counter.</param>
    public void OnPong(long n)
    {
        lock (this)
        {
            if (n == _pingCounter)
            {
                _pongDeadline = 0;
            }
        }
    }
}
