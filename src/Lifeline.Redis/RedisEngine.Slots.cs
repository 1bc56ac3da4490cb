// Connection slots of the per-address and per-user limits, counted across the cluster. Each address or user has one
// hash ({slot:a:ADDRESS} or {slot:u:USER}: one key, so one cluster slot) of per-node counts; a script checks the sum
// over the live nodes against the limit and increments this node's field, atomically. This node's count per name is
// kept locally too (in its index, {node:ID}:slots, which the other nodes read to give its slots back when it dies), so
// a release never drives a count below 0 and a count whose write failed can be written again exactly. Operations on
// one name are serialized on this node by one of _slotStripes. Declares and writes _slotStripes, _slotIndex and
// _slotRepairs; the node loop (RedisEngine.Nodes.cs) prunes the index and runs the repairs.
using System.Collections.Concurrent;
using Lifeline.Engine;
using Lifeline.Redis.Internal;
using StackExchange.Redis;

namespace Lifeline.Redis;

public sealed partial class RedisEngine
{
    private readonly AsyncStripes _slotStripes = new(32);
    private readonly ConcurrentDictionary<string, byte> _slotRepairs = new(StringComparer.Ordinal);
    private NodeIndex? _slotIndex;

    /// <summary>This node's slot counts per entry (<c>a:ADDRESS</c>, <c>u:USER</c>) and their index ({node:ID}:slots).</summary>
    private NodeIndex SlotIndex => LazyInitializer.EnsureInitialized(ref _slotIndex, () => new NodeIndex(_calls, _keys.NodeSlots(NodeId)));

    /// <inheritdoc />
    /// <remarks>One script on the name's hash (after, for the first slot of a name on this node, one <c>SADD</c> to this
    /// node's index). Slots of a node whose liveness key expired are not counted and are given back.</remarks>
    public async ValueTask<bool> TryAcquireConnectionSlotAsync(ConnectionSlot slot, int max, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(slot);
        Check(slot.Name, cancellationToken);
        if (max <= 0)
        {
            return false;
        }

        var entry = RedisKeys.SlotEntry(slot);
        var stripe = _slotStripes.For(entry);
        await stripe.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await SlotIndex.AddAsync(entry).ConfigureAwait(false); // counted (and indexed) before Redis can count it
            bool taken;
            try
            {
                RedisValue[] args = [NodeId, max, .. DeadNodeArgs()];
                taken = (long)await EvalAsync(RedisScripts.AcquireSlot, [_keys.Slot(entry)], args).ConfigureAwait(false) == 1;
            }
            catch
            {
                // The script may have run before the connection failed: the field is written again from the local count.
                await SlotIndex.RemoveAsync(entry).ConfigureAwait(false);
                _slotRepairs[entry] = 0;
                throw;
            }

            if (!taken)
            {
                await SlotIndex.RemoveAsync(entry).ConfigureAwait(false);
            }

            return taken;
        }
        finally
        {
            stripe.Release();
        }
    }

    /// <inheritdoc />
    /// <remarks>Never throws because of Redis: when the release cannot be written it is logged
    /// (<c>RedisConnectionSlotReleaseFailed</c>) and written on the next node loop round with Redis; a node that never
    /// gets Redis back gives its slots back when its liveness key expires. A release of a name this node holds no slot
    /// of does nothing.</remarks>
    public async ValueTask ReleaseConnectionSlotAsync(ConnectionSlot slot, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(slot);
        if (Volatile.Read(ref _disposed) != 0)
        {
            return; // the node left: its slots were given back with its registrations
        }

        var entry = RedisKeys.SlotEntry(slot);
        var stripe = _slotStripes.For(entry);
        await stripe.WaitAsync(CancellationToken.None).ConfigureAwait(false); // a release is never left half done
        try
        {
            if (await SlotIndex.CountAsync(entry).ConfigureAwait(false) == 0)
            {
                return;
            }

            await SlotIndex.RemoveAsync(entry).ConfigureAwait(false);
            try
            {
                await EvalAsync(RedisScripts.ReleaseSlot, [_keys.Slot(entry)], [NodeId]).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is EngineUnavailableException or RedisException or ObjectDisposedException)
            {
                RedisLog.SlotReleaseFailed(_logger, entry, ex);
                _slotRepairs[entry] = 0;
            }
        }
        finally
        {
            stripe.Release();
        }
    }

    /// <summary>On the node loop: writes this node's field of every name whose last write failed, from the local count.</summary>
    private async Task RepairSlotCountsAsync()
    {
        foreach (var entry in _slotRepairs.Keys)
        {
            var stripe = _slotStripes.For(entry);
            await stripe.WaitAsync().ConfigureAwait(false);
            try
            {
                _slotRepairs.TryRemove(entry, out _);
                var count = await SlotIndex.CountAsync(entry).ConfigureAwait(false);
                try
                {
                    await (count > 0
                        ? CallAsync(() => Db.HashSetAsync(_keys.Slot(entry), NodeId, count))
                        : CallAsync(() => Db.HashDeleteAsync(_keys.Slot(entry), NodeId))).ConfigureAwait(false);
                }
                catch
                {
                    _slotRepairs[entry] = 0;
                    throw;
                }
            }
            finally
            {
                stripe.Release();
            }
        }
    }
}
