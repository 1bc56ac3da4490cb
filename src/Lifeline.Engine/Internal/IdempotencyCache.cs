using System.Collections.Concurrent;

namespace Lifeline.Engine.Internal;

/// <summary>
/// Remembers publish results by (channel, scope, key) for the idempotency window: keys are per channel, so the same
/// key on another channel is another publish. A key is claimed before its publish runs, so two concurrent publishes
/// with the same (channel, scope, key) apply once: the second waits for the first and repeats its result. Expired entries are pruned in expiry order from a
/// queue on every claim, so memory is bounded by the number of keyed publishes within one window.
/// </summary>
internal sealed class IdempotencyCache
{
    private readonly ConcurrentDictionary<(string Channel, string Scope, string Key), Entry> _entries = new();
    private readonly ConcurrentQueue<Entry> _expiry = new();
    private readonly Lock _pruneLock = new();
    private readonly TimeSpan _window;

    public IdempotencyCache(TimeSpan window)
    {
        _window = window;
    }

    /// <summary>The number of keys remembered (including pending and not yet pruned ones). For tests.</summary>
    public int Count => _entries.Count;

    /// <summary>
    /// Claims (channel, scope, key) for a new publish, or finds the entry of an earlier one still within the window.
    /// </summary>
    /// <param name="channel">The channel the key is used on.</param>
    /// <param name="scope">Whose key it is.</param>
    /// <param name="key">The idempotency key.</param>
    /// <param name="now">The current time.</param>
    /// <param name="entry">The claimed entry (when true is returned) or the existing one to wait for.</param>
    /// <returns>True when the caller owns the key and must publish, then call <see cref="Complete"/> or <see cref="Abandon"/>.</returns>
    public bool TryClaim(string channel, string scope, string key, DateTimeOffset now, out Entry entry)
    {
        Prune(now);
        var id = (channel, scope, key);
        var mine = new Entry(id);
        while (true)
        {
            var existing = _entries.GetOrAdd(id, mine);
            if (ReferenceEquals(existing, mine))
            {
                entry = mine;
                return true;
            }

            if (!existing.IsExpired(now))
            {
                entry = existing;
                return false;
            }

            // Expired but not yet pruned: take its place atomically; on a lost race look again.
            if (_entries.TryUpdate(id, mine, existing))
            {
                entry = mine;
                return true;
            }
        }
    }

    /// <summary>Records the result of a claimed key and starts its window.</summary>
    public void Complete(Entry entry, PublishResult result)
    {
        entry.ExpiresAt = DateTimeOffset.FromUnixTimeMilliseconds(result.Ts) + _window;
        _expiry.Enqueue(entry);
        entry.Completion.TrySetResult(result);
    }

    /// <summary>
    /// Releases a claimed key whose publish failed or conflicted (nothing was applied); waiters retry (one of them
    /// claims it).
    /// </summary>
    public void Abandon(Entry entry)
    {
        _entries.TryRemove(KeyValuePair.Create(entry.Id, entry));
        entry.Completion.TrySetResult(null);
    }

    private void Prune(DateTimeOffset now)
    {
        // One pruner at a time; the others skip (the next claim prunes what they left).
        if (!_pruneLock.TryEnter())
        {
            return;
        }

        try
        {
            while (_expiry.TryPeek(out var head) && head.IsExpired(now))
            {
                _expiry.TryDequeue(out _);
                _entries.TryRemove(KeyValuePair.Create(head.Id, head));
            }
        }
        finally
        {
            _pruneLock.Exit();
        }
    }

    /// <summary>One remembered key: pending until its publish completes, then its result until it expires.</summary>
    internal sealed class Entry((string Channel, string Scope, string Key) id)
    {
        // UTC ticks of the end of the window; 0 while the publish is pending.
        private long _expiresAtTicks;

        /// <summary>Completes with the first result, or with null when the owner's publish failed.</summary>
        public TaskCompletionSource<PublishResult?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>What it remembers: (channel, scope, key).</summary>
        public (string Channel, string Scope, string Key) Id { get; } = id;

        /// <summary>When the key is forgotten; null while its publish is pending.</summary>
        public DateTimeOffset? ExpiresAt
        {
            get
            {
                var ticks = Volatile.Read(ref _expiresAtTicks);
                return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
            }

            set => Volatile.Write(ref _expiresAtTicks, value?.UtcTicks ?? 0);
        }

        /// <summary>Pending entries never expire; completed ones expire at the end of their window.</summary>
        public bool IsExpired(DateTimeOffset now) => ExpiresAt is { } at && now >= at;
    }
}
