using System.Collections.Concurrent;

namespace Lifeline.Server.Connections;

/// <summary>
/// Node-wide counters behind the connection limits: connections per remote address and per user, and connections
/// still waiting for their hello. Every acquire that succeeded is released exactly once by its connection.
/// </summary>
internal sealed class ConnectionLimits
{
    private readonly ConcurrentDictionary<string, int> _perAddress = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _perUser = new(StringComparer.Ordinal);
    private int _pendingHandshakes;

    public int PendingHandshakes => Volatile.Read(ref _pendingHandshakes);

    public bool TryEnterHandshake(int max)
    {
        if (Interlocked.Increment(ref _pendingHandshakes) > max)
        {
            Interlocked.Decrement(ref _pendingHandshakes);
            return false;
        }

        return true;
    }

    public void ExitHandshake() => Interlocked.Decrement(ref _pendingHandshakes);

    public bool TryAcquireAddress(string address, int max) => TryAcquire(_perAddress, address, max);

    public void ReleaseAddress(string address) => Release(_perAddress, address);

    public bool TryAcquireUser(string user, int max) => TryAcquire(_perUser, user, max);

    public void ReleaseUser(string user) => Release(_perUser, user);

    /// <summary>True when no counter holds anything (tests: nothing leaked).</summary>
    public bool IsEmpty => _perAddress.IsEmpty && _perUser.IsEmpty && PendingHandshakes == 0;

    private static bool TryAcquire(ConcurrentDictionary<string, int> counters, string key, int max)
    {
        while (true)
        {
            var current = counters.GetOrAdd(key, 0);
            if (current >= max)
            {
                return false;
            }

            if (counters.TryUpdate(key, current + 1, current))
            {
                return true;
            }
        }
    }

    private static void Release(ConcurrentDictionary<string, int> counters, string key)
    {
        while (true)
        {
            if (!counters.TryGetValue(key, out var current))
            {
                return;
            }

            if (current <= 1)
            {
                if (counters.TryRemove(new KeyValuePair<string, int>(key, current)))
                {
                    return;
                }
            }
            else if (counters.TryUpdate(key, current - 1, current))
            {
                return;
            }
        }
    }
}
