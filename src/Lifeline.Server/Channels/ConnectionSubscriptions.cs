using Lifeline.Protocol;

namespace Lifeline.Server.Channels;

/// <summary>What <see cref="ConnectionSubscriptions.SubscribeAsync"/> did.</summary>
internal enum SubscribeOutcome
{
    /// <summary>Subscribed (or resubscribed: a resync); the reply and catch-up are queued.</summary>
    Subscribed,

    /// <summary>Refused: the connection is at its subscription limit. Nothing changed.</summary>
    LimitExceeded,

    /// <summary>The connection left its channels (teardown) meanwhile; whatever was started was undone.</summary>
    Closed,
}

/// <summary>
/// One connection's channels: its subscriptions and the presence memberships it counted. Subscribes, unsubscribes and
/// the teardown's leave-all run concurrently; whatever teardown has already left, a subscribe that completes later
/// undoes itself, so nothing stays attached to a channel or counted in presence after the connection is gone.
/// </summary>
/// <param name="subscriber">The connection, as a channel sees it.</param>
/// <param name="hub">This node's channel fan-out.</param>
/// <param name="presence">This node's presence counts.</param>
internal sealed class ConnectionSubscriptions(ISubscriber subscriber, ChannelHub hub, PresenceTracker presence)
{
    // Guarded by lock (this) (no Lock object: one allocation less per connection). A connection that only said hello
    // holds no collection, one with a single channel holds its subscription (and channel name) inline: the slots
    // create a dictionary (a hash set) only for a second channel.
    private InlineKeyedSet<Subscription, ChannelOfSubscription> _subscriptions; // under lock (this)
    private InlineKeyedSet<string, ChannelName> _presenceCounted; // under lock (this): the channels whose membership this connection counted
    private bool _closed; // under lock (this): set by LeaveAllAsync

    /// <summary>The channels this connection is subscribed to.</summary>
    public IReadOnlyCollection<string> Channels
    {
        get
        {
            lock (this)
            {
                return _subscriptions.Keys();
            }
        }
    }

    /// <summary>Whether this connection holds a subscription to <paramref name="channel"/> (an emit needs one).</summary>
    /// <param name="channel">The channel.</param>
    /// <returns>True when subscribed.</returns>
    public bool IsSubscribed(string channel)
    {
        lock (this)
        {
            return _subscriptions.ContainsKey(channel);
        }
    }

    /// <summary>
    /// Subscribes to <paramref name="channel"/>, or replaces the subscription (a second subscribe is a resync request:
    /// the client saw a hole), then counts the presence membership once per channel.
    /// </summary>
    /// <param name="id">The request id, for the <c>subscribed</c> reply.</param>
    /// <param name="channel">The channel (already admitted).</param>
    /// <param name="since">The client's position, or null.</param>
    /// <param name="max">The most subscriptions a connection may hold.</param>
    /// <param name="user">The connection's user.</param>
    /// <param name="session">The connection's session id.</param>
    /// <param name="caughtUp">Called when a first subscribe with <paramref name="since"/> (a reconnect's resubscribe) has queued its catch-up.</param>
    /// <returns>What happened.</returns>
    public async ValueTask<SubscribeOutcome> SubscribeAsync(long? id, string channel, Position? since, int max, string? user, string session, Action caughtUp)
    {
        Subscription? previous;
        bool counted;
        lock (this)
        {
            if (_closed)
            {
                return SubscribeOutcome.Closed;
            }

            if (!_subscriptions.ContainsKey(channel) && _subscriptions.Count >= max)
            {
                return SubscribeOutcome.LimitExceeded;
            }

            _subscriptions.Remove(channel, out previous);
            counted = _presenceCounted.ContainsKey(channel);
        }

        if (previous is not null)
        {
            await hub.DetachAsync(previous);
        }

        var subscription = await hub.SubscribeAsync(subscriber, id, channel, since, subscriber.Aborted);
        if (!TryKeep(subscription))
        {
            await hub.DetachAsync(subscription);
            return SubscribeOutcome.Closed;
        }

        if (previous is null && since is not null)
        {
            // A reconnecting client resubscribing from its last position: its catch-up for this channel is queued.
            // A later subscribe to the same channel (previous is not null) is a hole repair, not a reconnect.
            caughtUp();
        }

        if (counted)
        {
            return SubscribeOutcome.Subscribed;
        }

        await presence.SubscribedAsync(user, session, channel, subscriber.Aborted);
        if (!TryKeepCounted(channel))
        {
            presence.ConnectionGone(user, session, [channel], normalClose: false);
            return SubscribeOutcome.Closed;
        }

        return SubscribeOutcome.Subscribed;
    }

    /// <summary>Ends the subscription to <paramref name="channel"/> and its presence membership.</summary>
    /// <returns>False when the connection was not subscribed.</returns>
    public async Task<bool> UnsubscribeAsync(string channel, string? user, string session)
    {
        Subscription? subscription = null;
        bool counted;
        lock (this)
        {
            _subscriptions.Remove(channel, out subscription);
            counted = subscription is not null && _presenceCounted.Remove(channel, out _);
        }

        if (subscription is null)
        {
            return false;
        }

        await hub.DetachAsync(subscription);
        if (counted)
        {
            await presence.UnsubscribedAsync(user, session, channel);
        }

        return true;
    }

    /// <summary>Teardown: leaves every channel; presence leaves follow after the grace period. Later subscribes undo themselves.</summary>
    public async Task LeaveAllAsync(string? user, string? session, bool normalClose)
    {
        Subscription[] subscriptions;
        string[] memberships;
        lock (this)
        {
            _closed = true;
            subscriptions = _subscriptions.TakeAll();
            memberships = _presenceCounted.TakeAll();
        }

        foreach (var subscription in subscriptions)
        {
            await hub.DetachAsync(subscription);
        }

        // Only the memberships this connection counted: a subscribe cut short before its membership was counted must
        // not decrement another connection's (the session's resumed connection would then be reported as gone).
        if (session is not null)
        {
            presence.ConnectionGone(user, session, memberships, normalClose);
        }
    }

    /// <summary>Keeps <paramref name="subscription"/> unless teardown has left the channels; false when it has.</summary>
    private bool TryKeep(Subscription subscription)
    {
        lock (this)
        {
            if (_closed)
            {
                return false;
            }

            _subscriptions.Set(subscription);
            return true;
        }
    }

    /// <summary>Records the presence membership of <paramref name="channel"/> unless teardown has left the channels; false when it has.</summary>
    private bool TryKeepCounted(string channel)
    {
        lock (this)
        {
            if (_closed)
            {
                return false;
            }

            _presenceCounted.Set(channel);
            return true;
        }
    }
}
