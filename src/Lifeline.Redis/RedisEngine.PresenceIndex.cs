// This node's index of the channels where it holds presence members: _held and _indexLock, declared and written only
// here, and the Redis set the other nodes read to clean up after this node if it dies.
using Lifeline.Redis.Internal;

namespace Lifeline.Redis;

public sealed partial class RedisEngine
{
    // This node's index of the channels where it holds presence members ({node:ID}:channels in Redis) is what the
    // other nodes read to clean up after it when it dies. It must cover every channel where a member of this node
    // exists, and it should not grow without bound over the life of a node that sees many short-lived channels.
    // _held tracks, per channel, the member fields this node added and has not removed; a channel leaves the Redis
    // index only while it has none (checked and removed under _indexLock, which every add also takes before its SADD).
    private readonly Dictionary<string, HashSet<string>> _held = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _indexLock = new(1, 1);

    /// <summary>Records a member before it is added, then makes sure the channel is in this node's index.</summary>
    private async Task IndexMemberAsync(string channel, string field)
    {
        await _indexLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_held.TryGetValue(channel, out var fields))
            {
                _held[channel] = fields = new HashSet<string>(StringComparer.Ordinal);
            }

            fields.Add(field);
        }
        finally
        {
            _indexLock.Release();
        }

        // The index first, so that it always covers what the node holds (a dead node's members are found through it).
        await CallAsync(() => Db.SetAddAsync(_keys.NodeChannels(NodeId), channel)).ConfigureAwait(false);
    }

    /// <summary>Forgets a member once its removal succeeded (a failed removal keeps the channel indexed).</summary>
    private async Task UnindexMemberAsync(string channel, string field)
    {
        await _indexLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_held.TryGetValue(channel, out var fields) && fields.Remove(field) && fields.Count == 0)
            {
                _held.Remove(channel);
            }
        }
        finally
        {
            _indexLock.Release();
        }
    }

    /// <summary>
    /// Removes from this node's index the channels where it holds no member any more. Runs on the node loop.
    /// Returns how many channels were removed.
    /// </summary>
    internal async Task<int> PruneChannelIndexAsync()
    {
        var db = Db;
        await _indexLock.WaitAsync().ConfigureAwait(false);
        try
        {
            var indexed = await CallAsync(() => db.SetMembersAsync(_keys.NodeChannels(NodeId))).ConfigureAwait(false);
            var stale = indexed.Where(c => !_held.ContainsKey(c.ToString())).ToArray();
            if (stale.Length > 0)
            {
                await CallAsync(() => db.SetRemoveAsync(_keys.NodeChannels(NodeId), stale)).ConfigureAwait(false);
            }

            return stale.Length;
        }
        finally
        {
            _indexLock.Release();
        }
    }
}
