using System.Collections.Concurrent;

namespace Lifeline.Engine.Internal;

/// <summary>The connection slots of <see cref="MemoryEngine"/>: a count per address or user; a count of 0 is removed.</summary>
internal sealed class SlotCounts
{
    private readonly ConcurrentDictionary<ConnectionSlot, int> _counts = new();

    /// <summary>Names holding at least one slot. For tests and diagnostics.</summary>
    public int Count => _counts.Count;

    public bool TryAcquire(ConnectionSlot slot, int max)
    {
        while (true)
        {
            if (_counts.TryGetValue(slot, out var current))
            {
                if (current >= max)
                {
                    return false;
                }

                if (_counts.TryUpdate(slot, current + 1, current))
                {
                    return true;
                }
            }
            else if (max <= 0)
            {
                return false;
            }
            else if (_counts.TryAdd(slot, 1))
            {
                return true;
            }
        }
    }

    public void Release(ConnectionSlot slot)
    {
        while (_counts.TryGetValue(slot, out var current))
        {
            var done = current <= 1
                ? _counts.TryRemove(KeyValuePair.Create(slot, current))
                : _counts.TryUpdate(slot, current - 1, current);
            if (done)
            {
                return;
            }
        }
    }
}
