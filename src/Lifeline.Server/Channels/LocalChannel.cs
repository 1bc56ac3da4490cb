using System.Collections.Immutable;
using Lifeline.Engine;
using Lifeline.Protocol;

namespace Lifeline.Server.Channels;

/// <summary>
/// This node's view of one channel: its local subscribers and the single engine observation that feeds them.
/// A delta (or an event) is serialized once here and the same bytes are queued to every subscriber.
/// </summary>
internal sealed class LocalChannel(string name, ChannelHub hub) : IChannelObserver
{
    private ImmutableArray<Subscription> _subscribers = [];

    public string Name { get; } = name;

    /// <summary>Guards observe/dispose of the engine observation and membership changes.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    public IAsyncDisposable? Observation { get; set; }

    /// <summary>True once removed from the hub; a subscriber that finds it retired retries with a fresh one.</summary>
    public bool Retired { get; set; }

    public int Count => _subscribers.Length;

    /// <summary>The local subscriptions (an immutable snapshot), for publisher flow control.</summary>
    public ImmutableArray<Subscription> Subscribers => _subscribers;

    public void Add(Subscription subscription) => ImmutableInterlocked.Update(ref _subscribers, static (a, s) => a.Add(s), subscription);

    public void Remove(Subscription subscription) => ImmutableInterlocked.Update(ref _subscribers, static (a, s) => a.Remove(s), subscription);

    public void OnDelta(ChannelDelta delta)
    {
        var subscribers = _subscribers;
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
        var subscribers = _subscribers;
        if (subscribers.IsEmpty || (subscribers.Length == 1 && subscribers[0].Subscriber.Id == channelEvent.SenderConnectionId))
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
        var subscribers = _subscribers;
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
        foreach (var s in _subscribers)
        {
            if (s.BeginResync())
            {
                hub.StartResync(s);
            }
        }
    }
}
