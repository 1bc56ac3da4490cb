// One node's index of the names it holds something under (the users it has observers of, the addresses and users it
// holds connection slots of): a Redis set ({node:ID}:users, {node:ID}:slots) that the other nodes read to clean up after
// this node if it dies, and the local count per name it is kept from. Same rules as the channel index of
// RedisEngine.PresenceIndex.cs: a name is counted before its first write to Redis and added to the set first, so the set
// always covers what the node holds; a name leaves the set only in PruneAsync, while its count is 0 (checked under the
// same lock every add takes), so the set does not grow without bound over a long-lived node.
using StackExchange.Redis;

namespace Lifeline.Redis.Internal;

/// <summary>Per-name local counts of one node, mirrored as a Redis set of the names with a count above 0.</summary>
#pragma warning disable CA1001 // _lock never allocates a wait handle (only WaitAsync is used), so there is nothing to dispose
internal sealed class NodeIndex(RedisCalls calls, RedisKey key)
#pragma warning restore CA1001
{
    private readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _lock = new(1, 1);
    private bool _pruneDue;

    /// <summary>The Redis set.</summary>
    public RedisKey Key { get; } = key;

    /// <summary>Counts one more under <paramref name="name"/>; the first one adds the name to the Redis set.</summary>
    /// <exception cref="Lifeline.Engine.EngineUnavailableException">The set could not be written (nothing is counted).</exception>
    public async Task AddAsync(string name)
    {
        bool first;
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            var count = _counts.GetValueOrDefault(name);
            _counts[name] = count + 1;
            first = count == 0;
        }
        finally
        {
            _lock.Release();
        }

        if (first)
        {
            try
            {
                await calls.CallAsync(() => calls.Db.SetAddAsync(Key, name)).ConfigureAwait(false);
            }
            catch
            {
                await RemoveAsync(name).ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>Counts one less under <paramref name="name"/> (never below 0). Local only: <see cref="PruneAsync"/> updates the set.</summary>
    public async Task RemoveAsync(string name)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_counts.TryGetValue(name, out var count))
            {
                if (count <= 1)
                {
                    _counts.Remove(name);
                    _pruneDue = true;
                }
                else
                {
                    _counts[name] = count - 1;
                }
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>The count under <paramref name="name"/>.</summary>
    public async Task<int> CountAsync(string name)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            return _counts.GetValueOrDefault(name);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Every name with a count above 0.</summary>
    public async Task<string[]> NamesAsync()
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            return [.. _counts.Keys];
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Removes from the set the names counted 0 and adds back any counted name it lacks (after the node was presumed
    /// dead and cleaned up after). Reads the set only when a count reached 0 since the last prune, or when
    /// <paramref name="force"/>d. Returns how many names were removed.
    /// </summary>
    public async Task<int> PruneAsync(bool force = false)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_pruneDue && !force)
            {
                return 0;
            }

            _pruneDue = false;
            var indexed = await calls.CallAsync(() => calls.Db.SetMembersAsync(Key)).ConfigureAwait(false);
            var stale = indexed.Where(n => !_counts.ContainsKey(n.ToString())).ToArray();
            if (stale.Length > 0)
            {
                await calls.CallAsync(() => calls.Db.SetRemoveAsync(Key, stale)).ConfigureAwait(false);
            }

            var present = indexed.Select(n => n.ToString()).ToHashSet(StringComparer.Ordinal);
            var missing = _counts.Keys.Where(n => !present.Contains(n)).Select(n => (RedisValue)n).ToArray();
            if (missing.Length > 0)
            {
                await calls.CallAsync(() => calls.Db.SetAddAsync(Key, missing)).ConfigureAwait(false);
            }

            return stale.Length;
        }
        catch
        {
            _pruneDue = true;
            throw;
        }
        finally
        {
            _lock.Release();
        }
    }
}
