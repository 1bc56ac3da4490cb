using Lifeline.Engine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lifeline.Server.Channels;

/// <summary>
/// Presence on this node: a user session is a channel member while at least one of its connections here is
/// subscribed. The engine sees one member key per session, so several connections of one session (a resume racing
/// the old, half-open connection) count once, and joins and leaves are emitted once per user transition.
/// When a connection is torn down, its memberships end after the grace period (none after a normal close 1000);
/// if the session resumed and re-subscribed meanwhile, nothing is removed, so a resumed user never flaps.
/// </summary>
internal sealed partial class PresenceTracker(ILifelineEngine engine, IOptions<LifelineOptions> options, TimeProvider time, ILogger<PresenceTracker> logger)
{
    private const int Stripes = 64;
    private readonly Dictionary<(string Session, string Channel), Membership> _members = [];
    private readonly SemaphoreSlim[] _stripes = Enumerable.Range(0, Stripes).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
    private long _goneSequence;
    private int _pendingLeaves;

    /// <summary>Memberships held on this node (session and channel pairs with a subscribed connection); 0 once every connection is gone.</summary>
    public int MembershipCount
    {
        get
        {
            lock (_members)
            {
                return _members.Values.Count(m => m.Connections > 0);
            }
        }
    }

    /// <summary>Leaves waiting for their grace period to end.</summary>
    public int PendingLeaves => Volatile.Read(ref _pendingLeaves);

    public async Task SubscribedAsync(string? user, string session, string channel, CancellationToken ct)
    {
        if (user is null)
        {
            return; // anonymous connections are not members
        }

        var gate = Stripe(session, channel);
        await gate.WaitAsync(ct);
        try
        {
            if (Change(session, channel, +1) == 1)
            {
                try
                {
                    await engine.AddPresenceAsync(channel, user, session, ct);
                }
                catch
                {
                    // Counted only when added: the caller records the membership only when this returns.
                    Change(session, channel, -1);
                    throw;
                }
            }
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task UnsubscribedAsync(string? user, string session, string channel)
    {
        if (user is null)
        {
            return;
        }

        var gate = Stripe(session, channel);
        await gate.WaitAsync();
        try
        {
            if (Change(session, channel, -1) == 0)
            {
                await engine.RemovePresenceAsync(channel, user, session, "unsubscribe");
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// A torn-down connection's memberships end after the grace period unless its session is back. Only the latest
    /// teardown of a (session, channel) decides: an older grace period that runs out while the session is away again
    /// (a later, short disconnection whose own grace period is still running) does not broadcast a leave.
    /// </summary>
    public void ConnectionGone(string? user, string session, IReadOnlyCollection<string> channels, bool normalClose)
    {
        if (user is null || channels.Count == 0)
        {
            return;
        }

        var grace = normalClose ? TimeSpan.Zero : options.Value.PresenceGracePeriod;
        foreach (var channel in channels)
        {
            long gone;
            lock (_members)
            {
                Change(session, channel, -1);
                gone = ++_goneSequence;
                Get(session, channel).LastGone = gone;
            }

            Interlocked.Increment(ref _pendingLeaves);
            _ = LeaveAfterGraceAsync(user, session, channel, grace, gone);
        }
    }

    private async Task LeaveAfterGraceAsync(string user, string session, string channel, TimeSpan grace, long gone)
    {
        try
        {
            if (grace > TimeSpan.Zero)
            {
                await Task.Delay(grace, time);
            }

            var gate = Stripe(session, channel);
            await gate.WaitAsync();
            try
            {
                if (EndGrace(session, channel, gone))
                {
                    await engine.RemovePresenceAsync(channel, user, session, "disconnect");
                }
            }
            finally
            {
                gate.Release();
            }
        }
        catch (ObjectDisposedException)
        {
            // The engine was disposed (host shutdown) during the grace period: nothing is left to write to. A Redis
            // cluster's other nodes broadcast this node's leaves when its liveness key expires.
        }
        catch (Exception ex)
        {
            Log.LeaveFailed(logger, ex, channel, user);
        }
        finally
        {
            Interlocked.Decrement(ref _pendingLeaves);
        }
    }

    /// <summary>
    /// The grace period of teardown <paramref name="gone"/> ran out: true when it is still the latest teardown of the
    /// pair and no connection of the session is subscribed, i.e. the session did not come back in time.
    /// </summary>
    private bool EndGrace(string session, string channel, long gone)
    {
        lock (_members)
        {
            var key = (session, channel);
            if (!_members.TryGetValue(key, out var membership) || membership.LastGone != gone)
            {
                return false; // a later teardown's grace period decides
            }

            membership.LastGone = 0;
            if (membership.Connections > 0)
            {
                return false; // resumed in time
            }

            _members.Remove(key);
            return true;
        }
    }

    private int Change(string session, string channel, int delta)
    {
        lock (_members)
        {
            var key = (session, channel);
            var membership = Get(session, channel);
            membership.Connections = Math.Max(0, membership.Connections + delta);
            if (membership.Connections == 0 && membership.LastGone == 0)
            {
                _members.Remove(key);
            }

            return membership.Connections;
        }
    }

    private Membership Get(string session, string channel)
    {
        lock (_members)
        {
            var key = (session, channel);
            if (!_members.TryGetValue(key, out var membership))
            {
                membership = new Membership();
                _members.Add(key, membership);
            }

            return membership;
        }
    }

    private SemaphoreSlim Stripe(string session, string channel) =>
        _stripes[(int)((uint)HashCode.Combine(session, channel) % Stripes)];

    /// <summary>One session's membership of one channel on this node.</summary>
    private sealed class Membership
    {
        /// <summary>Subscribed connections of the session.</summary>
        public int Connections { get; set; }

        /// <summary>The latest teardown whose grace period is running (0 when none).</summary>
        public long LastGone { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(50, LogLevel.Error, "Presence leave of {User} in {Channel} failed", EventName = "PresenceLeaveFailed")]
        public static partial void LeaveFailed(ILogger logger, Exception exception, string channel, string user);
    }
}
