using System.Text.Json;
using Lifeline.Engine;

namespace Lifeline.Server.Channels;

/// <summary>
/// The merge step of subscribing (position, buffer, merge, verdict): the server registers its observer first and
/// buffers the live deltas it receives, then calls <see cref="ILifelineEngine.RecoverAsync"/>, then hands both to
/// <see cref="Merge"/>, which says exactly what to send so that the subscriber has no gap and no duplicate.
/// </summary>
/// <remarks>
/// <para>Server loop, per subscribe:</para>
/// <list type="number">
/// <item>observe the channel, buffering deltas (and noting <see cref="IChannelObserver.OnEpochChanged"/>);</item>
/// <item><c>recovery = await engine.RecoverAsync(channel, since)</c>;</item>
/// <item><c>plan = ChannelRecovery.Merge(recovery, buffer)</c>; send <c>subscribed</c> with <see cref="RecoveryPlan.Epoch"/>,
/// <see cref="RecoveryPlan.Offset"/> and <see cref="RecoveryPlan.Recovered"/>, then <see cref="RecoveryPlan.Snapshot"/>
/// as a <c>snapshot</c> when it has one, then every delta of <see cref="RecoveryPlan.ToSend"/>;</item>
/// <item>if <see cref="RecoveryPlan.ResyncRequired"/>: clear the buffer (keep observing), recover again from
/// <see cref="RecoveryPlan.LastPosition"/> and merge again (a bounded number of times); otherwise switch to
/// forwarding live deltas, dropping those with an offset at or below <see cref="RecoveryPlan.LastOffset"/>.</item>
/// </list>
/// </remarks>
internal static class ChannelRecovery
{
    /// <summary>Merges a recovery read with the live deltas buffered while it ran.</summary>
    /// <param name="recovery">What <see cref="ILifelineEngine.RecoverAsync"/> returned.</param>
    /// <param name="buffered">The live deltas received since the observer was registered, in arrival order.</param>
    /// <returns>What to send, and whether the subscriber must be resynchronized.</returns>
    public static RecoveryPlan Merge(RecoveryResult recovery, IReadOnlyList<ChannelDelta> buffered)
    {
        ArgumentNullException.ThrowIfNull(recovery);
        ArgumentNullException.ThrowIfNull(buffered);
        var epoch = recovery.Epoch;
        var epochMismatch = false;

        // The offset the subscriber is at before the first delta of the plan.
        long start;
        var candidates = new List<ChannelDelta>(recovery.Deltas.Count + buffered.Count);
        if (recovery.Recovered)
        {
            start = recovery.Deltas.Count > 0 ? recovery.Deltas[0].Offset - 1 : recovery.Offset;
            foreach (var delta in recovery.Deltas)
            {
                epochMismatch |= !IsEpoch(delta, epoch);
                if (IsEpoch(delta, epoch))
                {
                    candidates.Add(delta);
                }
            }
        }
        else
        {
            start = recovery.Offset;
        }

        foreach (var delta in buffered)
        {
            if (!IsEpoch(delta, epoch))
            {
                // Another epoch: an older one (the read superseded it) or a newer one (the channel moved on after
                // the read). The two cannot be told apart here, so drop it and ask for a resync, which is cheap.
                epochMismatch = true;
            }
            else if (delta.Offset > start)
            {
                candidates.Add(delta);
            }
        }

        // Sort by offset, keep the first of each offset, stop at the first hole.
        candidates.Sort(static (a, b) => a.Offset.CompareTo(b.Offset));
        var toSend = new List<ChannelDelta>(candidates.Count);
        var last = start;
        var gap = false;
        foreach (var delta in candidates)
        {
            if (delta.Offset <= last)
            {
                continue;
            }

            if (delta.Offset != last + 1)
            {
                gap = true;
                break;
            }

            toSend.Add(delta);
            last = delta.Offset;
        }

        // The channel was at recovery.Offset when read; ending below it means deltas are missing.
        gap |= last < recovery.Offset;

        return new RecoveryPlan(
            recovery.Channel,
            epoch,
            recovery.Offset,
            recovery.Recovered,
            recovery.Recovered ? null : recovery.State,
            toSend,
            last,
            gap,
            epochMismatch);
    }

    private static bool IsEpoch(ChannelDelta delta, string epoch) => string.Equals(delta.Epoch, epoch, StringComparison.Ordinal);
}

/// <summary>What to send a new subscriber, from <see cref="ChannelRecovery.Merge"/>.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="Epoch">The channel's epoch, for <c>subscribed</c> and the subscriber's position.</param>
/// <param name="Offset">The channel's offset when recovery read it, for <c>subscribed.offset</c>; a snapshot is at this offset.</param>
/// <param name="Recovered">True: the subscriber's position was recovered, no snapshot; false: send <see cref="Snapshot"/> first.</param>
/// <param name="Snapshot">The state at <see cref="Offset"/> when not recovered; null otherwise.</param>
/// <param name="ToSend">The deltas to send after the snapshot (or after <c>subscribed</c> when recovered): recovered deltas,
/// then buffered live ones, consecutive offsets, no duplicate.</param>
/// <param name="LastOffset">The offset the subscriber is at once <see cref="ToSend"/> is sent; live deltas at or below it are duplicates.</param>
/// <param name="GapDetected">True when deltas are missing after <see cref="LastOffset"/>: <see cref="ToSend"/> stops before the hole.</param>
/// <param name="EpochMismatch">True when buffered deltas of another epoch were dropped: the channel may have moved to a new epoch.</param>
internal sealed record RecoveryPlan(
    string Channel,
    string Epoch,
    long Offset,
    bool Recovered,
    JsonElement? Snapshot,
    IReadOnlyList<ChannelDelta> ToSend,
    long LastOffset,
    bool GapDetected,
    bool EpochMismatch)
{
    /// <summary>True when the subscriber is not known to be up to date: recover again from <see cref="LastPosition"/>.</summary>
    public bool ResyncRequired => GapDetected || EpochMismatch;

    /// <summary>The subscriber's position once <see cref="ToSend"/> is sent.</summary>
    public Lifeline.Protocol.Position LastPosition => new(Epoch, LastOffset);
}
