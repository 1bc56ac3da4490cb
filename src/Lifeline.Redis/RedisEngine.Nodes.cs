// The node loop: this node's liveness key, the clean-up after nodes whose key expired (their presence members leave,
// once), and this node's own leave on shutdown. It declares no fields; it runs on the loop started by the constructor.
using Lifeline.Redis.Internal;
using StackExchange.Redis;

namespace Lifeline.Redis;

public sealed partial class RedisEngine
{
    /// <summary>
    /// Every third of <see cref="RedisEngineOptions.NodeTtl"/>: refresh this node's liveness key, clean up after
    /// nodes whose key expired (their presence members are removed and the leaves published, once), and drop from this
    /// node's channel index the channels where it holds no member any more.
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
            }
            catch (Exception ex) when (ex is RedisException or Lifeline.Engine.EngineUnavailableException or ObjectDisposedException)
            {
                RedisLog.NodeHeartbeatFailed(_logger, NodeId, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false));
    }

    private async Task HeartbeatAsync()
    {
        var db = Db;
        await CallAsync(() => db.StringSetAsync(_keys.NodeAlive(NodeId), NowMs, Options.NodeTtl)).ConfigureAwait(false);
        await CallAsync(() => db.SortedSetAddAsync(_keys.Nodes(), NodeId, NowMs)).ConfigureAwait(false);
    }

    /// <summary>Cleans up after every known node whose liveness key is gone. Returns how many members were removed.</summary>
    internal async Task<int> ReapDeadNodesAsync()
    {
        var removed = 0;
        var db = Db;
        var nodes = await CallAsync(() => db.SortedSetRangeByRankAsync(_keys.Nodes())).ConfigureAwait(false);
        foreach (var node in nodes.Select(n => n.ToString()))
        {
            if (node == NodeId || await CallAsync(() => db.KeyExistsAsync(_keys.NodeAlive(node))).ConfigureAwait(false))
            {
                continue;
            }

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
        await CallAsync(() => db.SortedSetRemoveAsync(_keys.Nodes(), node)).ConfigureAwait(false);
        return removed;
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
