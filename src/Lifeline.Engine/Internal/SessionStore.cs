using System.Collections.Concurrent;

namespace Lifeline.Engine.Internal;

/// <summary>
/// Resumable sessions with an expiry. Expired sessions are never returned; they are removed when looked up
/// and by a sweep that runs at most once per <see cref="SweepInterval"/> of engine time, triggered by stores
/// and lookups, so memory stays bounded by the sessions stored within their windows.
/// </summary>
internal sealed class SessionStore
{
    /// <summary>The least time between two sweeps over all sessions.</summary>
    public static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, (SessionRecord Session, DateTimeOffset ExpiresAt)> _sessions = new(StringComparer.Ordinal);
    private readonly Lock _sweepLock = new();
    private DateTimeOffset _nextSweep = DateTimeOffset.MinValue;

    /// <summary>The number of sessions held, expired ones not yet swept included. For tests.</summary>
    public int Count => _sessions.Count;

    public void Store(SessionRecord session, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        MaybeSweep(now);
        _sessions[session.Token] = (session, expiresAt);
    }

    public SessionRecord? Find(string token, DateTimeOffset now)
    {
        MaybeSweep(now);
        if (!_sessions.TryGetValue(token, out var entry))
        {
            return null;
        }

        if (now >= entry.ExpiresAt)
        {
            _sessions.TryRemove(KeyValuePair.Create(token, entry));
            return null;
        }

        return entry.Session;
    }

    public void Clear() => _sessions.Clear();

    private void MaybeSweep(DateTimeOffset now)
    {
        if (!_sweepLock.TryEnter())
        {
            return;
        }

        try
        {
            if (now < _nextSweep)
            {
                return;
            }

            _nextSweep = now + SweepInterval;
            foreach (var pair in _sessions)
            {
                if (now >= pair.Value.ExpiresAt)
                {
                    _sessions.TryRemove(pair);
                }
            }
        }
        finally
        {
            _sweepLock.Exit();
        }
    }
}
