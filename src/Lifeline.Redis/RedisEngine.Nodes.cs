// The node loop: this node's liveness key, the clean-up after nodes whose key expired (their presence members leave,
// once; their user observers and connection slots are given back), the upkeep of this node's user and slot
// registrations, and this node's own leave on shutdown. It declares _deadNodes (the dead nodes the last round found,
// which the user and slot scripts ignore), _heartbeats, _reassertRounds and _rounds; it runs on the loop started by
// the constructor.
using Lifeline.Redis.Internal;
using StackExchange.Redis;

namespace Lifeline.Redis;

public sealed partial class RedisEngine
{
    private string[] _deadNodes = [];
    private int _heartbeats;
    private int _reassertRounds;
    private int _rounds;

    /// <summary>
    /// Every third of <see cref="RedisEngineOptions.NodeTtl"/>: refresh this node's liveness key, clean up after
    /// nodes whose key expired (their presence members are removed and the leaves published, once; their user observer
    /// counts and connection slots are removed), drop from this node's channel, user and slot indexes what it holds
    /// nothing of any more, and write again the user and slot counts whose write failed.
    /// </summary>
    private async Task RunNodeLoopAsync(CancellationToken stopping)
    {
        await Task.Yield();
        using var timer = new PeriodicTimer(Options.NodeTtl / 3, _time);
        do
        {
            try
            {
                await HeartbeatAsync().ConfigureAwait(false);
                await ReapDeadNodesAsync().ConfigureAwait(false);
                await PruneChannelIndexAsync().ConfigureAwait(false);
                await MaintainRegistrationsAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or Lifeline.Engine.EngineUnavailableException or ObjectDisposedException)
            {
                RedisLog.NodeHeartbeatFailed(_logger, NodeId, ex);
            }

            Interlocked.Increment(ref _rounds);
        }
        while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false));
    }

    /// <summary>Node loop rounds completed (successful or not). For tests.</summary>
    internal int NodeLoopRounds => Volatile.Read(ref _rounds);

    /// <summary>Refreshes this node's liveness key; when it had expired (not at the first), schedules writing everything again.</summary>
    internal async Task HeartbeatAsync()
    {
        var db = Db;
        var previous = await EvalAsync(RedisScripts.Heartbeat, [_keys.NodeAlive(NodeId)], [NowMs, (long)Options.NodeTtl.TotalMilliseconds]).ConfigureAwait(false);
        await CallAsync(() => db.SortedSetAddAsync(_keys.Nodes(), NodeId, NowMs)).ConfigureAwait(false);
        var first = Interlocked.Increment(ref _heartbeats) == 1;
        if (previous.IsNull && !first)
        {
            // The key expired while this node lived (Redis out of reach, or it lost its data): other nodes may have given
            // back its user observers and slots. Write them again, this round and the next (a node whose last reaper
            // round still named this one dead may remove them once more until its next round).
            RedisLog.NodePresumedDead(_logger, NodeId);
            Volatile.Write(ref _reassertRounds, 2);
        }
    }

    /// <summary>
    /// Drops from this node's user and slot indexes the names it holds nothing of any more (adding back any it lacks),
    /// and writes again the counts whose write failed, or all of them after the node was presumed dead.
    /// </summary>
    internal async Task MaintainRegistrationsAsync()
    {
        var reassert = Volatile.Read(ref _reassertRounds) > 0;
        if (reassert)
        {
            foreach (var user in _users.Keys)
            {
                _userRepairs[user] = 0;
            }

            foreach (var entry in await SlotIndex.NamesAsync().ConfigureAwait(false))
            {
                _slotRepairs[entry] = 0;
            }

            Interlocked.Decrement(ref _reassertRounds);
        }

        await UserIndex.PruneAsync(force: reassert).ConfigureAwait(false);
        await SlotIndex.PruneAsync(force: reassert).ConfigureAwait(false);
        await RepairUserCountsAsync().ConfigureAwait(false);
        await RepairSlotCountsAsync().ConfigureAwait(false);
    }

    /// <summary>The dead nodes of the last reaper round, as script arguments (their user and slot counts are ignored).</summary>
    private RedisValue[] DeadNodeArgs() => [.. Volatile.Read(ref _deadNodes).Select(n => (RedisValue)n)];

    /// <summary>Cleans up after every known node whose liveness key is gone. Returns how many members were removed.</summary>
    internal async Task<int> ReapDeadNodesAsync()
    {
        var removed = 0;
        var db = Db;
        var nodes = await CallAsync(() => db.SortedSetRangeByRankAsync(_keys.Nodes())).ConfigureAwait(false);
        var dead = new List<string>();
        foreach (var node in nodes.Select(n => n.ToString()))
        {
            if (node == NodeId || await CallAsync(() => db.KeyExistsAsync(_keys.NodeAlive(node))).ConfigureAwait(false))
            {
                continue;
            }

            dead.Add(node);
            Volatile.Write(ref _deadNodes, [.. dead]);

            // One reaper per dead node; if it dies too, the marker expires and another node finishes the job (each
            // member removal is idempotent, so no leave goes out twice).
            var claimed = await CallAsync(() => db.StringSetAsync(_keys.NodeReaped(node), NodeId, Options.NodeTtl * 2, When.NotExists)).ConfigureAwait(false);
            if (claimed)
            {
                var members = await RemoveNodeMembersAsync(node, "disconnect").ConfigureAwait(false);
                RedisLog.NodeReaped(_logger, node, NodeId, members);
                removed += members;
            }
        }

        Volatile.Write(ref _deadNodes, [.. dead]);
        return removed;
    }

    /// <summary>Removes the presence members <paramref name="node"/> holds (publishing leaves) and forgets the node.</summary>
    private async Task<int> RemoveNodeMembersAsync(string node, string reason)
    {
        var db = Db;
        var removed = 0;
        var channels = await CallAsync(() => db.SetMembersAsync(_keys.NodeChannels(node))).ConfigureAwait(false);
        foreach (var channel in channels.Select(c => c.ToString()))
        {
            var members = await CallAsync(() => db.HashGetAllAsync(_keys.Members(channel))).ConfigureAwait(false);
            foreach (var member in members)
            {
                if (member.Value != node)
                {
                    continue; // held by another node (the session resumed there)
                }

                var field = member.Name.ToString();
                var colon = field.IndexOf(':', StringComparison.Ordinal);
                var userLength = int.Parse(field.AsSpan(0, colon), System.Globalization.CultureInfo.InvariantCulture);
                var user = field.Substring(colon + 1, userLength);
                await RemoveMemberAsync(channel, field, user, reason, holder: node).ConfigureAwait(false);
                removed++;
            }
        }

        await CallAsync(() => db.KeyDeleteAsync(_keys.NodeChannels(node))).ConfigureAwait(false);
        var users = await RemoveNodeFieldsAsync(_keys.NodeUsers(node), node, _keys.UserNodes).ConfigureAwait(false);
        var slots = await RemoveNodeFieldsAsync(_keys.NodeSlots(node), node, _keys.Slot).ConfigureAwait(false);
        if (node != NodeId && users + slots > 0)
        {
            RedisLog.NodeRegistrationsReaped(_logger, node, NodeId, users, slots);
        }

        await CallAsync(() => db.SortedSetRemoveAsync(_keys.Nodes(), node)).ConfigureAwait(false);
        return removed;
    }

    /// <summary>
    /// Removes <paramref name="node"/>'s field from the hash of every name in its index (its observer counts of users, or
    /// its connection slots), then the index. Returns how many names there were.
    /// </summary>
    private async Task<int> RemoveNodeFieldsAsync(RedisKey index, string node, Func<string, RedisKey> hashOf)
    {
        var db = Db;
        var names = await CallAsync(() => db.SetMembersAsync(index)).ConfigureAwait(false);
        foreach (var batch in names.Chunk(256))
        {
            // Each name is its own key (and, on a cluster, its own slot): pipelined, 256 at a time.
            await Task.WhenAll(batch.Select(name => CallAsync(() => db.HashDeleteAsync(hashOf(name.ToString()), node)))).ConfigureAwait(false);
        }

        await CallAsync(() => db.KeyDeleteAsync(index)).ConfigureAwait(false);
        return names.Length;
    }

    /// <summary>On shutdown: this node's members leave now (rather than when its liveness key expires).</summary>
    private async Task LeaveAsNodeAsync()
    {
        try
        {
            await RemoveNodeMembersAsync(NodeId, "disconnect").ConfigureAwait(false);
            await CallAsync(() => Db.KeyDeleteAsync(_keys.NodeAlive(NodeId))).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or Lifeline.Engine.EngineUnavailableException or ObjectDisposedException)
        {
            // Redis is down or the connection is gone: the other nodes remove these members when the liveness key expires.
            RedisLog.NodeHeartbeatFailed(_logger, NodeId, ex);
        }
    }
}
