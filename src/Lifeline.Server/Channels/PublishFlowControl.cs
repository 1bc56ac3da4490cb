using System.Buffers;

namespace Lifeline.Server.Channels;

/// <summary>
/// Publisher flow control (issue 20). A publish returns once its delta is queued to every subscriber; a publisher
/// calling in a loop would run ahead of the writers, and every later delivery would wait behind the whole burst. So
/// after each publish the publisher is held while the channel is <em>congested</em> on this node:
/// <list type="bullet">
/// <item>a subscriber is <em>over</em> when more than <see cref="LifelineOptions.PublishBacklogLimit"/> messages wait in
/// its send queue (not yet taken by its writer);</item>
/// <item>an over subscriber whose writer has been running for <see cref="LifelineOptions.PublishBacklogTimeout"/>
/// without once finding its queue empty cannot keep up (a reader that stopped, a link slower than the publish rate): it
/// is <em>slow</em> and does not count at all. It is left to <see cref="LifelineOptions.SendQueueLimit"/> and its 1013,
/// and never holds the publisher (or, through it, the other subscribers) back for longer than that. A subscriber that
/// keeps up drains its queue between publishes (its writer stops and is started again by the next one), however busy
/// the server is;</item>
/// <item>a subscriber whose queue is closed (an overflow's 1013, a teardown under way) does not count either, nor
/// does the publishing connection's own subscription: the hold stops reading from that connection, and a client that
/// cannot send may stop reading, a wait on itself;</item>
/// <item>the channel is congested while more than half of the subscribers that count are over: one slow consumer, or
/// any minority, does not slow the publisher.</item>
/// </list>
/// The publisher waits for the writers, not for a timer: on the over subscriber whose drain would end the congestion
/// (the k-th most backlogged, k = over - counted / 2: writers that have waited longest write next), then the rule is
/// evaluated again. One publish is held at most <see cref="LifelineOptions.PublishBacklogTimeout"/>, and cancellation
/// (the caller's token, the publishing connection closing) ends the wait without an error: the delta was applied.
/// </summary>
internal sealed class PublishFlowControl(LifelineOptions options, TimeProvider time, LifelineMetrics metrics)
{
    private readonly long _timeoutTicks = (long)(options.PublishBacklogTimeout.TotalSeconds * time.TimestampFrequency);

    /// <summary>
    /// Returns at once when the channel is not congested; otherwise waits (see the class) and counts the hold in
    /// <c>ws_publishes_held_total</c> and <c>ws_publish_held_seconds_total</c>. Never throws.
    /// </summary>
    /// <param name="channel">The channel just published to.</param>
    /// <param name="publisher">The publishing connection (a client publish), which never holds itself; null for the server API.</param>
    /// <param name="cancellationToken">Ends the wait (not the publish: it was applied).</param>
    /// <returns>True when the publisher was held.</returns>
    public ValueTask<bool> WaitAsync(LocalChannel channel, ISubscriber? publisher, CancellationToken cancellationToken)
    {
        var limit = options.PublishBacklogLimit;
        if (limit <= 0)
        {
            return ValueTask.FromResult(false);
        }

        var now = time.GetTimestamp();
        return FindSentinel(channel.Subscribers.Slots, publisher, limit, now) is { } sentinel
            ? HoldAsync(channel, publisher, sentinel, limit, now, cancellationToken)
            : ValueTask.FromResult(false);
    }

    private async ValueTask<bool> HoldAsync(LocalChannel channel, ISubscriber? publisher, ISubscriber sentinel, int limit, long start, CancellationToken cancellationToken)
    {
        var deadline = start + _timeoutTicks;
        try
        {
            await WaitForAsync(sentinel, start, deadline, cancellationToken);
            while (!cancellationToken.IsCancellationRequested)
            {
                var now = time.GetTimestamp();
                if (now >= deadline || FindSentinel(channel.Subscribers.Slots, publisher, limit, now) is not { } next)
                {
                    break;
                }

                await WaitForAsync(next, now, deadline, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            // the caller gave up waiting, or the publishing connection is closing: the delta was applied all the same
        }

        metrics.PublishHeld(time.GetElapsedTime(start));
        return true;
    }

    /// <summary>Until <paramref name="sentinel"/> drains, or until it would count as slow (the next scan leaves it out), within the deadline.</summary>
    private async Task WaitForAsync(ISubscriber sentinel, long now, long deadline, CancellationToken cancellationToken)
    {
        if (sentinel.WhenDrained() is not { } drained)
        {
            return; // drained since the scan
        }

        var until = Math.Min(deadline, sentinel.Backlog.RunningSince + _timeoutTicks);
        try
        {
            await drained.WaitAsync(TimeSpan.FromSeconds(Math.Max(until - now, 0) / (double)time.TimestampFrequency), time, cancellationToken);
        }
        catch (TimeoutException)
        {
        }
    }

    /// <summary>The over subscriber to wait for, or null when the channel is not congested.</summary>
    private ISubscriber? FindSentinel(ReadOnlySpan<Subscription?> subscriptions, ISubscriber? publisher, int limit, long now)
    {
        if (subscriptions.IsEmpty)
        {
            return null;
        }

        // Key: depth in the high bits, index in the low bits (sorting the keys sorts by depth).
        // The subscribers as read in this scan (a slot may be cleared meanwhile): the sentinel is picked from these.
        var over = ArrayPool<long>.Shared.Rent(subscriptions.Length);
        var seen = ArrayPool<ISubscriber>.Shared.Rent(subscriptions.Length);
        try
        {
            int counted = 0, overCount = 0;
            for (var i = 0; i < subscriptions.Length; i++)
            {
                if (subscriptions[i] is not { } subscription)
                {
                    continue; // a slot cleared by an unsubscribe
                }

                var subscriber = seen[i] = subscription.Subscriber;
                if (ReferenceEquals(subscriber, publisher))
                {
                    continue; // the hold stops reading from it: counting its own queue could wait on itself
                }

                var backlog = subscriber.Backlog;
                if (backlog.Closed)
                {
                    continue; // leaving (an overflow's 1013, a teardown): neither holds nor dilutes the others
                }

                if (backlog.Depth > limit)
                {
                    if (now - backlog.RunningSince >= _timeoutTicks)
                    {
                        continue; // slow: not counted
                    }

                    over[overCount++] = ((long)backlog.Depth << 32) | (uint)i;
                }

                counted++;
            }

            if (overCount * 2 <= counted)
            {
                return null;
            }

            // (overCount - drained) * 2 <= counted once drained >= overCount - counted / 2.
            var needed = overCount - (counted / 2);
            var keys = over.AsSpan(0, overCount);
            keys.Sort();
            return seen[(int)(keys[overCount - needed] & 0xFFFF_FFFF)];
        }
        finally
        {
            ArrayPool<long>.Shared.Return(over);
            ArrayPool<ISubscriber>.Shared.Return(seen, clearArray: true);
        }
    }
}
