using Lifeline.Client.Internal;
using Lifeline.Protocol;

namespace Lifeline.Client;

// Network awareness (issue 15). The operating system knows before any timer does: when the network comes back the
// client tries at once instead of sleeping out its backoff (up to 30 s), when it goes away the client stops trusting
// its socket (state Reconnecting, reason "offline"), and when an address changes (another Wi-Fi, a VPN, a new lease) a
// socket that looks open may be dead, so the client sends a ping of its own and reconnects when no pong comes back
// within the heartbeat timeout, instead of waiting for the watchdog (interval + timeout + slack).
public sealed partial class LifelineClient
{
    private readonly Lock _probeLock = new();
    private Probe? _probe;
    private long _probeCounter;

    /// <summary>Starts listening to the network for one run; the result is disposed when the run ends.</summary>
    private IDisposable? WatchNetwork(RunContext run)
    {
        if (!_options.NetworkAwareness)
        {
            return null;
        }

        try
        {
            return (_options.NetworkMonitor ?? SystemNetworkMonitor.Instance).Subscribe(
                available => OnNetworkAvailabilityChanged(run, available),
                () => OnNetworkAddressChanged(run));
        }
        catch (Exception ex)
        {
            // A platform without network notifications: the client still works, on its timers alone.
            Log.NetworkMonitorUnavailable(_logger, ex);
            return null;
        }
    }

    private void OnNetworkAvailabilityChanged(RunContext run, bool available)
    {
        if (run.IsStopRequested)
        {
            return;
        }

        Log.NetworkAvailabilityChanged(_logger, available);
        ClientConnection? conn;
        lock (_lock)
        {
            conn = _current;
        }

        if (available)
        {
            if (conn is { Ready: true, IsEnded: false })
            {
                // Open: the route may have changed under the socket; check it. (No wake: kept until some later loss it
                // would skip a backoff it has no reason to skip, and a restarted server must still see its clients
                // spread out.)
                StartProbe(conn);
                return;
            }

            // An attempt at once, with the backoff started over (as the browser client does): the wait (if any) ends
            // now. An attempt in flight was started while offline and may hang until its connect timeout: start over.
            run.Wake(resetBackoff: true);
            conn?.Fail(DisconnectInfo.Lost("online"), abort: true);
            return;
        }

        // Abandon the connection (or the attempt): whatever the socket says, nothing gets through now.
        conn?.Fail(DisconnectInfo.Lost("offline"), abort: true);
    }

    private void OnNetworkAddressChanged(RunContext run)
    {
        if (run.IsStopRequested)
        {
            return;
        }

        ClientConnection? open;
        lock (_lock)
        {
            open = _current is { Ready: true, IsEnded: false } c ? c : null;
        }

        Log.NetworkAddressChanged(_logger, open is not null);
        if (open is null)
        {
            // Not connected: the new address may be the way back, so the next attempt need not wait. (The backoff is
            // not started over: address changes can be frequent, a down server must not see them as a retry storm.)
            run.Wake(resetBackoff: false);
            return;
        }

        StartProbe(open);
    }

    /// <summary>Sends a client <c>ping</c>; no matching <c>pong</c> within the heartbeat timeout aborts the connection.</summary>
    private void StartProbe(ClientConnection conn)
    {
        if (!conn.Welcome.IsCompletedSuccessfully)
        {
            return;
        }

        var timeout = TimeSpan.FromMilliseconds(conn.Welcome.Result.Heartbeat.TimeoutMs);
        Probe probe;
        lock (_probeLock)
        {
            if (_probe is { } pending && pending.Connection == conn && !conn.IsEnded)
            {
                return; // one probe at a time per connection: its deadline stands
            }

            _probe?.Dispose();
            probe = new Probe(conn, Interlocked.Increment(ref _probeCounter));
            _probe = probe;
            probe.Timer = _time.CreateTimer(static state => ((LifelineClient)((object[])state!)[0]).OnProbeExpired((Probe)((object[])state!)[1]), new object[] { this, probe }, timeout, Timeout.InfiniteTimeSpan);
        }

        Log.ProbeSent(_logger, conn.Id, probe.N, (long)timeout.TotalMilliseconds);
        conn.Track(TrySendAsync(conn, new PingMessage(probe.N)).AsTask());
    }

    /// <summary>A <c>pong</c> from the server: the answer to our probe when its <c>n</c> matches.</summary>
    internal void OnPong(ClientConnection conn, ServerPong pong)
    {
        lock (_probeLock)
        {
            if (_probe is not { } probe || probe.Connection != conn || probe.N != pong.N)
            {
                return;
            }

            probe.Dispose();
            _probe = null;
        }

        Log.ProbeAnswered(_logger, conn.Id, pong.N);
    }

    private void OnProbeExpired(Probe probe)
    {
        lock (_probeLock)
        {
            if (_probe != probe)
            {
                return;
            }

            probe.Dispose();
            _probe = null;
        }

        if (probe.Connection.IsEnded)
        {
            return;
        }

        Log.ProbeTimedOut(_logger, probe.Connection.Id, probe.N);
        probe.Connection.Fail(DisconnectInfo.Lost("probe_timeout"), abort: true);
    }

    /// <summary>A liveness probe in flight on one connection.</summary>
    private sealed class Probe(ClientConnection connection, long n) : IDisposable
    {
        public ClientConnection Connection { get; } = connection;

        public long N { get; } = n;

        public ITimer? Timer { get; set; }

        public void Dispose() => Timer?.Dispose();
    }
}
