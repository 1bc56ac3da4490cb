namespace Lifeline.Server.Channels;

/// <summary>
/// A channel's local subscribers, read without a lock by the fan-out (which iterates a snapshot, <see cref="View"/>)
/// and changed by subscribes and detaches. An add appends into spare capacity (the array doubles when full) and a
/// remove clears the slot, so neither copies the whole set: a channel that 10,000 connections join one by one allocates
/// about twice its final array, not 10,000 copies of it (an immutable array did: 400 MB of garbage for 10,000, which
/// the GC then kept as resident memory). The array is compacted (copied without the cleared slots) once more than half
/// of its used slots are cleared.
/// </summary>
/// <remarks>
/// A snapshot's slots up to its <see cref="View.Length"/> are never reused for another subscription: appends go past
/// every published length, and a compaction writes a new array. A reader holding an older snapshot may therefore see a
/// slot cleared after it took the snapshot (it skips it: that subscription was deactivated before it was removed), and
/// never sees a subscription twice. Insertion order is kept.
/// </remarks>
internal sealed class SubscriberSet
{
    private Subscription?[] _items = [];
    private int _length; // under lock (this): used slots, cleared ones included
    private View _view = View.Empty; // published with a volatile write after every change

    /// <summary>The current subscribers; stable for the caller while others change the set.</summary>
    public View Snapshot => Volatile.Read(ref _view);

    /// <summary>The number of subscribers.</summary>
    public int Count => Snapshot.Count;

    public void Add(Subscription subscription)
    {
        lock (this)
        {
            var live = _view.Count;
            if (_length == _items.Length)
            {
                // Full: a new array, without the cleared slots, twice the live count (1 for the first: a channel of
                // one connection holds an array of one).
                var items = new Subscription?[Math.Max(1, live * 2)];
                _length = CopyLive(items);
                _items = items;
            }

            _items[_length++] = subscription;
            Volatile.Write(ref _view, new View(_items, _length, live + 1));
        }
    }

    /// <summary>Removes <paramref name="subscription"/>; nothing happens when it is not in the set.</summary>
    public void Remove(Subscription subscription)
    {
        lock (this)
        {
            var index = Array.IndexOf(_items, subscription, 0, _length);
            if (index < 0)
            {
                return;
            }

            _items[index] = null;
            var live = _view.Count - 1;
            if (live == 0)
            {
                _items = [];
                _length = 0;
                Volatile.Write(ref _view, View.Empty);
                return;
            }

            if (live < _length / 2)
            {
                var items = new Subscription?[live * 2];
                _length = CopyLive(items);
                _items = items;
            }

            Volatile.Write(ref _view, new View(_items, _length, live));
        }
    }

    private int CopyLive(Subscription?[] target)
    {
        var count = 0;
        for (var i = 0; i < _length; i++)
        {
            if (_items[i] is { } s)
            {
                target[count++] = s;
            }
        }

        return count;
    }

    /// <summary>A snapshot: the first <see cref="Length"/> slots of an array, some of them cleared (skipped).</summary>
    /// <param name="items">The array (shared with the set, whose later appends go past <paramref name="length"/>).</param>
    /// <param name="length">The slots of this snapshot.</param>
    /// <param name="count">The subscribers in it when it was taken.</param>
    public sealed class View(Subscription?[] items, int length, int count)
    {
        public static readonly View Empty = new([], 0, 0);

        /// <summary>The subscribers when the snapshot was taken (a slot may be cleared since).</summary>
        public int Count { get; } = count;

        /// <summary>The slots of this snapshot.</summary>
        public int Length { get; } = length;

        public bool IsEmpty => Count == 0;

        /// <summary>True when <paramref name="connectionId"/>'s subscription is the only one.</summary>
        public bool IsOnly(string? connectionId)
        {
            if (Count != 1)
            {
                return false;
            }

            foreach (var s in this)
            {
                return string.Equals(s.Subscriber.Id, connectionId, StringComparison.Ordinal);
            }

            return false;
        }

        /// <summary>The slots of this snapshot, in order; a cleared slot is null.</summary>
        public ReadOnlySpan<Subscription?> Slots => items.AsSpan(0, Length);

        public Enumerator GetEnumerator() => new(items, Length);

        /// <summary>Enumerates the subscribers of the snapshot, skipping cleared slots.</summary>
        public struct Enumerator(Subscription?[] items, int length)
        {
            private int _index = -1;
            private Subscription? _current;

            public readonly Subscription Current => _current!;

            public bool MoveNext()
            {
                while (++_index < length)
                {
                    _current = Volatile.Read(ref items[_index]);
                    if (_current is not null)
                    {
                        return true;
                    }
                }

                return false;
            }
        }
    }
}
