using Lifeline.Engine;
using Lifeline.Protocol;

namespace Lifeline.Server.Channels;

/// <summary>
/// One connection's subscription to one channel. It starts <em>buffering</em>: live deltas that arrive while the
/// hub reads the history are kept, then merged with what was read (<see cref="ChannelRecovery"/>), so the client
/// gets no gap and no duplicate. Once live, a delta is forwarded only when it is the next offset of the current
/// epoch; anything else (a hole, another epoch) puts the subscription back into buffering for a resync.
/// </summary>
/// <remarks>
/// Guarded by <c>lock (this)</c> (no <see cref="Lock"/> object: one allocation less per subscription, which an idle
/// subscribed connection keeps for its whole life); nothing else locks on a subscription.
/// </remarks>
internal sealed class Subscription(ISubscriber subscriber, string channel)
{
    private List<ChannelDelta>? _buffer = []; // not null while buffering
    private List<ReadOnlyMemory<byte>>? _bufferedPresence; // created by the first presence message while buffering
    private string? _epoch;
    private long _lastOffset;
    private bool _active = true;

    public ISubscriber Subscriber { get; } = subscriber;

    public string Channel { get; } = channel;

    public bool IsActive
    {
        get
        {
            lock (this)
            {
                return _active;
            }
        }
    }

    /// <summary>The last position sent to the client (null until the first sync completed).</summary>
    public Position? LastPosition
    {
        get
        {
            lock (this)
            {
                return _epoch is null ? null : new Position(_epoch, _lastOffset);
            }
        }
    }

    /// <summary>Called by the channel's fan-out with the delta and its bytes, serialized once for all subscribers.</summary>
    /// <param name="delta">The delta.</param>
    /// <param name="bytes">Its serialized message.</param>
    /// <param name="acceptedAt">When the publish was accepted (timestamp of the hub's clock), carried to the send queue for the delivery latency.</param>
    /// <returns>False when the subscription needs a resync (hole or epoch change).</returns>
    public bool OnDelta(ChannelDelta delta, ReadOnlyMemory<byte> bytes, long acceptedAt)
    {
        lock (this)
        {
            if (!_active)
            {
                return true;
            }

            if (_buffer is not null)
            {
                _buffer.Add(delta);
                return true;
            }

            if (delta.Epoch == _epoch && delta.Offset <= _lastOffset)
            {
                return true; // already sent
            }

            if (delta.Epoch != _epoch || delta.Offset != _lastOffset + 1)
            {
                _buffer = [delta];
                return false;
            }

            _lastOffset = delta.Offset;
            Subscriber.Enqueue(bytes, acceptedAt);
            return true;
        }
    }

    public void OnPresence(ReadOnlyMemory<byte> bytes)
    {
        lock (this)
        {
            if (!_active)
            {
                return;
            }

            if (_buffer is not null)
            {
                (_bufferedPresence ??= []).Add(bytes);
            }
            else
            {
                Subscriber.Enqueue(bytes);
            }
        }
    }

    /// <summary>
    /// An ephemeral event, best-effort. Dropped before the first sync (the client has not had its <c>subscribed</c>
    /// yet) and after deactivation; never buffered or replayed; otherwise queued unless the subscriber's queue is
    /// over half full (<see cref="ISubscriber.EnqueueEvent"/>).
    /// </summary>
    /// <param name="bytes">The serialized <c>event</c>, shared by every subscriber.</param>
    public void OnEvent(ReadOnlyMemory<byte> bytes)
    {
        lock (this)
        {
            if (_active && _epoch is not null)
            {
                Subscriber.EnqueueEvent(bytes);
            }
        }
    }

    /// <summary>Puts a live subscription back into buffering (epoch changed); false when already buffering.</summary>
    public bool BeginResync()
    {
        lock (this)
        {
            if (!_active || _buffer is not null)
            {
                return false;
            }

            _buffer = [];
            return true;
        }
    }

    /// <summary>
    /// Merges a recovery read with the buffered deltas and queues what the client needs, under the lock so that no
    /// live delta can slip in between. The <c>subscribed</c> reply to request <paramref name="replyId"/> goes first when
    /// there is one (null: a resync or a retry, no reply).
    /// </summary>
    /// <returns>The plan; when <see cref="RecoveryPlan.ResyncRequired"/> and <paramref name="mayRetry"/>, the subscription stays buffering.</returns>
    public RecoveryPlan Apply(RecoveryResult recovery, long? replyId, bool mayRetry)
    {
        lock (this)
        {
            var plan = ChannelRecovery.Merge(recovery, _buffer ?? []);
            if (!_active)
            {
                return plan;
            }

            if (replyId is not null)
            {
                Subscriber.Enqueue(new SubscribedMessage(replyId, plan.Channel, plan.Epoch, plan.Offset, plan.Recovered));
            }

            if (plan.Snapshot is { } state)
            {
                Subscriber.Enqueue(new SnapshotMessage(Channel, plan.Epoch, plan.Offset, state));
            }

            // Packed into frame-sized entries: a long catch-up must not look like a slow consumer (SendPacked).
            if (plan.ToSend.Count > 0)
            {
                Subscriber.EnqueuePacked(plan.ToSend.Select(static delta => (ServerMessage)new DeltaMessage(delta.Channel, delta.Offset, delta.Patch, delta.Ts)));
            }

            _epoch = plan.Epoch;
            _lastOffset = plan.LastOffset;
            if (plan.ResyncRequired && mayRetry)
            {
                _buffer = [];
                return plan;
            }

            _buffer = null;
            foreach (var p in _bufferedPresence ?? [])
            {
                Subscriber.Enqueue(p);
            }

            _bufferedPresence = null;
            return plan;
        }
    }

    public void Deactivate()
    {
        lock (this)
        {
            _active = false;
            _buffer = null;
            _bufferedPresence = null;
        }
    }
}
