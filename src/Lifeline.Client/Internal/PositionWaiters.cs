// Callers waiting for a channel's local position to reach a point (UpdateAsync: the position of a conflict, or of its
// own publish). No lock of its own: LifelineChannel calls it under the channel's lock and settles what it returns after
// releasing that lock.
using Lifeline.Protocol;

namespace Lifeline.Client.Internal;

/// <summary>Waiters on a channel's position; not thread-safe (the owning channel's lock guards it).</summary>
internal sealed class PositionWaiters
{
    private readonly List<Waiter> _waiters = [];

    /// <summary>Adds a waiter for <paramref name="reached"/>.</summary>
    public Waiter Add(Func<Position?, bool> reached)
    {
        var waiter = new Waiter(reached);
        _waiters.Add(waiter);
        return waiter;
    }

    public void Remove(Waiter waiter) => _waiters.Remove(waiter);

    /// <summary>Takes out the waiters whose condition <paramref name="position"/> meets.</summary>
    public List<Waiter>? TakeReached(Position? position)
    {
        List<Waiter>? reached = null;
        for (var i = _waiters.Count - 1; i >= 0; i--)
        {
            if (_waiters[i].Reached(position))
            {
                (reached ??= []).Add(_waiters[i]);
                _waiters.RemoveAt(i);
            }
        }

        return reached;
    }

    /// <summary>Takes out every waiter (the client closed or the channel was unsubscribed).</summary>
    public List<Waiter>? TakeAll()
    {
        if (_waiters.Count == 0)
        {
            return null;
        }

        List<Waiter> all = [.. _waiters];
        _waiters.Clear();
        return all;
    }

    internal sealed class Waiter(Func<Position?, bool> reached)
    {
        public Func<Position?, bool> Reached { get; } = reached;

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
