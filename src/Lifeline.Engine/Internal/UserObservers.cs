using System.Collections.Concurrent;
using System.Collections.Immutable;
using Microsoft.Extensions.Logging;

namespace Lifeline.Engine.Internal;

/// <summary>
/// The user observers of <see cref="MemoryEngine"/>: per user, the observers registered on this node. An entry with
/// no observer left is removed, so the table holds only users with open connections.
/// </summary>
internal sealed class UserObservers(ILogger logger)
{
    private readonly ConcurrentDictionary<string, ImmutableArray<IUserObserver>> _byUser = new(StringComparer.Ordinal);

    /// <summary>Users with at least one observer. For tests and diagnostics.</summary>
    public int UserCount => _byUser.Count;

    public void Add(string user, IUserObserver observer) =>
        _byUser.AddOrUpdate(user, static (_, o) => [o], static (_, a, o) => a.Add(o), observer);

    public void Remove(string user, IUserObserver observer)
    {
        while (_byUser.TryGetValue(user, out var current))
        {
            var next = current.Remove(observer);
            if (next.Length == current.Length)
            {
                return;
            }

            var done = next.IsEmpty
                ? _byUser.TryRemove(KeyValuePair.Create(user, current))
                : _byUser.TryUpdate(user, next, current);
            if (done)
            {
                return;
            }
        }
    }

    /// <summary>Calls <paramref name="deliver"/> for every observer of <paramref name="user"/>; returns how many.</summary>
    public int Deliver<T>(string user, T item, Action<IUserObserver, T> deliver, string callback)
    {
        if (!_byUser.TryGetValue(user, out var observers))
        {
            return 0;
        }

        foreach (var observer in observers)
        {
            try
            {
                deliver(observer, item);
            }
            catch (Exception ex)
            {
                MemoryEngineLog.UserObserverFailed(logger, user, callback, ex);
            }
        }

        return observers.Length;
    }
}
