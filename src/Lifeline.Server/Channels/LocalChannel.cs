using Lifeline.Engine;
using Lifeline.Protocol;

namespace Lifeline.Server.Channels;

/// <summary>
/// This node's view of one channel: its local subscribers and the single engine observation that feeds them.
/// A delta (or an event) is serialized once here and the same bytes are queued to every subscriber.
/// </summary>
internal sealed class LocalChannel(string name, ChannelHub hub) : IChannelObserver
{
    private readonly SubscriberSet _subscribers = new();

    public string Name { get; } = name;

    /// <summary>Guards observe/dispose of the engine observation and membership changes.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    public IAsyncDisposable? Observation { get; set; }

    /// <summary>True once removed from the hub; a subscriber that finds it retired retries with a fresh one.</summary>
    public bool Retired { get; set; }

    public int Count => _subscribers.Count;

    /// <summary>The local subscriptions (a snapshot), for publisher flow control.</summary>
    public SubscriberSet.View Subscribers => _subscribers.Snapshot;

    public void Add(Subscription subscription) => _subscribers.Add(subscription);

    public void Remove(Subscription subscription) => _subscribers.Remove(subscription);

    public void OnDelta(ChannelDelta delta)
    {
        var subscribers = _subscribers.Snapshot;
        if (subscribers.IsEmpty)
        {
            return;
        }

        // "Publish accepted": the engine hands this node the delta it applied. With the embedded engine that is the
        // same instant (OnDelta runs inside PublishAsync); with a remote engine the backplane hop is not counted.
        var acceptedAt = hub.Time.GetTimestamp();
        ReadOnlyMemory<byte> bytes = ProtocolSerializer.Serialize(new DeltaMessage(delta.Channel, delta.Offset, delta.Patch, delta.Ts));
        foreach (var s in subscribers)
        {
            if (!s.OnDelta(delta, bytes, acceptedAt))
            {
                hub.StartResync(s);
            }
        }
    }

    /// <summary>
    /// An ephemeral event: serialized once, queued best-effort to every local subscriber except the connection that
    /// emitted it (<see cref="ChannelEvent.SenderConnectionId"/>). Nothing is kept: no offset, no buffer, no replay.
    /// </summary>
    public void OnEvent(ChannelEvent channelEvent)
    {
        var subscribers = _subscribers.Snapshot;
        if (subscribers.IsEmpty || subscribers.IsOnly(channelEvent.SenderConnectionId))
        {
            return;
        }

        ReadOnlyMemory<byte> bytes = ProtocolSerializer.Serialize(new EventMessage(channelEvent.Channel, channelEvent.User, channelEvent.Data, channelEvent.Ts));
        foreach (var s in subscribers)
        {
            if (!string.Equals(s.Subscriber.Id, channelEvent.SenderConnectionId, StringComparison.Ordinal))
            {
                s.OnEvent(bytes);
            }
        }
    }

    public void OnPresence(PresenceEvent presence)
    {
        var subscribers = _subscribers.Snapshot;
        if (subscribers.IsEmpty)
        {
            return;
        }

        ReadOnlyMemory<byte> bytes = ProtocolSerializer.Serialize(new PresenceMessage(presence.Channel, presence.Event, presence.User, presence.Reason, presence.Ts));
        foreach (var s in subscribers)
        {
            s.OnPresence(bytes);
        }
    }

    public void OnEpochChanged(string channel, string epoch)
    {
        foreach (var s in _subscribers.Snapshot)
        {
            if (s.BeginResync())
            {
                hub.StartResync(s);
            }
        }
    }
}
