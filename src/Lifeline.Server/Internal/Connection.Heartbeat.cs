using Lifeline.Protocol;

namespace Lifeline.Server.Internal;

/// <summary>Deadlines driven by <see cref="HeartbeatScheduler"/>: the hello deadline, then ping and pong.</summary>
internal sealed partial class Connection
{
    private readonly Lock _heartbeatLock = new();
    private long _handshakeDeadline;
    private long _nextPingAt;
    private long _pongDeadline; // 0 while no pong is awaited
    private long _pingCounter;

    /// <summary>Starts the heartbeat once the connection is open; the first ping is jittered over [interval/2, interval].</summary>
    private void StartHeartbeat()
    {
        var interval = _runtime.ToTimestampTicks(_runtime.Options.HeartbeatInterval);
        var firstPing = interval / 2 + (long)(Random.Shared.NextDouble() * (interval / 2));
        lock (_heartbeatLock)
        {
            _nextPingAt = _runtime.Time.GetTimestamp() + firstPing;
            _pongDeadline = 0;
        }
    }

    /// <summary>Called by the scheduler's sweep. Never blocks: sends are queued, teardown is started, not awaited.</summary>
    public void OnHeartbeatTick(long now, bool pingsPaused)
    {
        switch (State)
        {
            case ConnectionState.Handshaking when now >= _handshakeDeadline:
                Log.HelloTimeout(_runtime.Logger, Now(), Id, RemoteEndPoint);
                StartTeardown(CloseCode.ProtocolError.WithReason("hello_timeout"), DisconnectInitiator.Server);
                return;
            case ConnectionState.Open when !pingsPaused:
                break;
            default:
                return;
        }

        long ping = -1;
        var timedOut = false;
        lock (_heartbeatLock)
        {
            if (_pongDeadline != 0)
            {
                timedOut = now >= _pongDeadline;
            }
            else if (now >= _nextPingAt)
            {
                ping = ++_pingCounter;
                _pongDeadline = now + _runtime.ToTimestampTicks(_runtime.Options.HeartbeatTimeout);
                _nextPingAt = now + _runtime.ToTimestampTicks(_runtime.Options.HeartbeatInterval);
            }
        }

        if (timedOut)
        {
            Log.HeartbeatTimeout(_runtime.Logger, Now(), Id, UserId, RemoteEndPoint, _pingCounter);
            StartTeardown(CloseCode.HeartbeatTimeout, DisconnectInitiator.Server);
        }
        else if (ping >= 0)
        {
            Send(new ServerPing(ping));
        }
    }

    /// <summary>A pong clears the deadline only when it echoes the current ping counter.</summary>
    private void OnPong(long n)
    {
        lock (_heartbeatLock)
        {
            if (n == _pingCounter)
            {
                _pongDeadline = 0;
            }
        }
    }
}
