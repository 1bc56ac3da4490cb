namespace Lifeline.Engine.Internal;

/// <summary>
/// One channel's recent deltas, oldest first, bounded by count and by age. Offsets in it are consecutive.
/// Not thread-safe: the owning channel's lock guards it. The buffer grows on demand up to the count bound,
/// so a quiet channel does not hold a full-size array.
/// </summary>
internal sealed class DeltaHistory
{
    private const int InitialCapacity = 16;

    private readonly int _maxCount;
    private readonly long _maxAgeMs;
    private ChannelDelta[] _items = [];
    private int _head;
    private int _count;

    public DeltaHistory(int maxCount, TimeSpan maxAge)
    {
        _maxCount = maxCount;
        _maxAgeMs = (long)maxAge.TotalMilliseconds;
    }

    /// <summary>The number of deltas held.</summary>
    public int Count => _count;

    /// <summary>Appends the next delta (its offset must follow the last one), dropping the oldest beyond the count bound.</summary>
    public void Append(ChannelDelta delta)
    {
        if (_count == _maxCount)
        {
            DropOldest();
        }

        if (_count == _items.Length)
        {
            Grow();
        }

        _items[(_head + _count) % _items.Length] = delta;
        _count++;
    }

    /// <summary>Drops the deltas that are <see cref="MemoryEngineOptions.HistoryAge"/> old or older at <paramref name="nowMs"/>.</summary>
    public void TrimExpired(long nowMs)
    {
        var minTs = nowMs - _maxAgeMs;
        while (_count > 0 && _items[_head].Ts <= minTs)
        {
            DropOldest();
        }
    }

    /// <summary>Copies every delta after <paramref name="offset"/>, if the history still holds all of them.</summary>
    /// <param name="offset">The subscriber's last offset.</param>
    /// <param name="lastOffset">The channel's current offset (the last delta appended).</param>
    /// <param name="deltas">The deltas <c>offset + 1 .. lastOffset</c>, oldest first.</param>
    /// <returns>False when some of them were already dropped.</returns>
    public bool TryGetAfter(long offset, long lastOffset, out ChannelDelta[] deltas)
    {
        deltas = [];
        if (offset == lastOffset)
        {
            return true;
        }

        if (_count == 0 || offset > lastOffset)
        {
            return false;
        }

        var first = _items[_head].Offset;
        if (offset + 1 < first)
        {
            return false;
        }

        var skip = (int)(offset + 1 - first);
        deltas = new ChannelDelta[_count - skip];
        for (var i = 0; i < deltas.Length; i++)
        {
            deltas[i] = _items[(_head + skip + i) % _items.Length];
        }

        return true;
    }

    private void DropOldest()
    {
        _items[_head] = null!;
        _head = (_head + 1) % _items.Length;
        _count--;
    }

    private void Grow()
    {
        var capacity = _items.Length == 0 ? Math.Min(InitialCapacity, _maxCount) : Math.Min(_items.Length * 2, _maxCount);
        var items = new ChannelDelta[capacity];
        for (var i = 0; i < _count; i++)
        {
            items[i] = _items[(_head + i) % _items.Length];
        }

        _items = items;
        _head = 0;
    }
}
