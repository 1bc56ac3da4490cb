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
    private readonly Dictionary<(string Session, string Channel), int> _counts = [];
    private readonly SemaphoreSlim[] _stripes = Enumerable.Range(0, Stripes).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
    private int _pendingLeaves;

    /// <summary>Memberships held on this node (session and channel pairs); 0 once every connection is gone and grace has run out.</summary>
    public int MembershipCount
    {
        get
        {
            lock (_counts)
            {
                return _counts.Count;
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
                await engine.AddPresenceAsync(channel, user, session, ct);
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

    /// <summary>A torn-down connection's memberships end after the grace period unless its session is back.</summary>
    public void ConnectionGone(string? user, string session, IReadOnlyCollection<string> channels, bool normalClose)
    {
        if (user is null || channels.Count == 0)
        {
            return;
        }

        var grace = normalClose ? TimeSpan.Zero : options.Value.PresenceGracePeriod;
        foreach (var channel in channels)
        {
            lock (_counts)
            {
                Change(session, channel, -1);
            }

            Interlocked.Increment(ref _pendingLeaves);
            _ = LeaveAfterGraceAsync(user, session, channel, grace);
        }
    }

    private async Task LeaveAfterGraceAsync(string user, string session, string channel, TimeSpan grace)
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
                if (Count(session, channel) == 0)
                {
                    await engine.RemovePresenceAsync(channel, user, session, "disconnect");
                }
            }
            finally
            {
                gate.Release();
            }
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

    private int Change(string session, string channel, int delta)
    {
        lock (_counts)
        {
            var key = (session, channel);
            var count = Math.Max(0, _counts.GetValueOrDefault(key) + delta);
            if (count == 0)
            {
                _counts.Remove(key);
            }
            else
            {
                _counts[key] = count;
            }

            return count;
        }
    }

    private int Count(string session, string channel)
    {
        lock (_counts)
        {
            return _counts.GetValueOrDefault((session, channel));
        }
    }

    private SemaphoreSlim Stripe(string session, string channel) =>
        _stripes[(int)((uint)HashCode.Combine(session, channel) % Stripes)];

    private static partial class Log
    {
        [LoggerMessage(50, LogLevel.Error, "Presence leave of {User} in {Channel} failed", EventName = "PresenceLeaveFailed")]
        public static partial void LeaveFailed(ILogger logger, Exception exception, string channel, string user);
    }
}
