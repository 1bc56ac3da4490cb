using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Protocol;
using Microsoft.Extensions.Logging;

namespace Lifeline.Engine.Internal;

/// <summary>
/// One channel of <see cref="MemoryEngine"/>: state, epoch, offset, history, observers and presence, all
/// guarded by one lock. Observers are called inside that lock, which is what orders deliveries per channel.
/// Every operation returns false when the channel was dropped from the engine meanwhile (it was empty);
/// the engine then retries on the channel that replaced it.
/// </summary>
/// <remarks>
/// A channel that is only observed (subscribers, nothing published yet, nobody present) holds no state object, no
/// history and no presence dictionary: they are created by the first publish (the first member), so that a server with
/// a channel per connection does not keep them for every idle one. The lock is <c>lock (this)</c> (no
/// <see cref="Lock"/> object, one allocation less per channel); nothing else locks on a channel.
/// </remarks>
internal sealed class MemoryChannel
{
    // Immutable and safe to share: the state of a channel nothing was published to.
    private static readonly JsonElement s_emptyState = JsonDocument.Parse("{}").RootElement.Clone();

    private readonly Func<DeltaHistory> _newHistory;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private JsonObject? _state; // created by the first publish
    private DeltaHistory? _history; // created by the first publish: null exactly while the offset is 0
    private Dictionary<string, HashSet<string>>? _presence; // created by the first member, dropped with the last
    private IChannelObserver[] _observers = [];
    private JsonElement? _snapshot;
    private long _offset;
    private bool _dropped;

    public MemoryChannel(string name, string epoch, Func<DeltaHistory> newHistory, TimeProvider time, ILogger logger)
    {
        Name = name;
        Epoch = epoch;
        _newHistory = newHistory;
        _time = time;
        _logger = logger;
    }

    /// <summary>The state of a channel nothing was published to: <c>{}</c>, shared.</summary>
    public static JsonElement EmptyState => s_emptyState;

    public string Name { get; }

    /// <summary>
    /// The engine instance's epoch: random per <see cref="MemoryEngine"/> (a restarted process starts a new epoch), the
    /// same for every channel of one instance. A channel is only dropped while empty (offset 0, no history), so an
    /// empty channel recreated in the same epoch is indistinguishable from the one dropped: a subscriber at
    /// (epoch, 0) recovers with nothing to send instead of taking a needless snapshot on every reconnect.
    /// </summary>
    public string Epoch { get; }

    /// <summary>Creates an epoch: 8 random bytes, base64url (11 characters).</summary>
    public static string NewEpoch()
    {
        Span<byte> bytes = stackalloc byte[8];
        RandomNumberGenerator.Fill(bytes);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>
    /// Applies <paramref name="patch"/>, or, when <paramref name="expected"/> is given and the channel is at another
    /// position, changes nothing and returns a conflict with the current position (checked under the lock, so atomic
    /// with the offset assignment).
    /// </summary>
    public bool TryPublish(JsonElement patch, Position? expected, out PublishResult result)
    {
        lock (this)
        {
            if (_dropped)
            {
                result = null!;
                return false;
            }

            var ts = _time.GetUtcNow().ToUnixTimeMilliseconds();
            if (expected is not null && (expected.Offset != _offset || !string.Equals(expected.Epoch, Epoch, StringComparison.Ordinal)))
            {
                result = new PublishResult(Epoch, _offset, ts, Duplicate: false, Conflict: true);
                return true;
            }

            JsonMergePatch.ApplyToObject(_state ??= [], patch);
            _snapshot = null;
            var delta = new ChannelDelta(Name, Epoch, ++_offset, patch, ts);
            _history ??= _newHistory();
            _history.Append(delta);
            _history.TrimExpired(ts);
            foreach (var observer in _observers)
            {
                try
                {
                    observer.OnDelta(delta);
                }
                catch (Exception ex)
                {
                    MemoryEngineLog.ObserverFailed(_logger, Name, nameof(IChannelObserver.OnDelta), ex);
                }
            }

            result = new PublishResult(Epoch, _offset, ts, Duplicate: false);
            return true;
        }
    }

    public bool TryRecover(Position? since, out RecoveryResult result)
    {
        lock (this)
        {
            if (_dropped)
            {
                result = null!;
                return false;
            }

            _history?.TrimExpired(_time.GetUtcNow().ToUnixTimeMilliseconds());
            ChannelDelta[] deltas = [];
            if (since is not null && since.Epoch == Epoch && (_history is null ? since.Offset == _offset : _history.TryGetAfter(since.Offset, _offset, out deltas)))
            {
                result = new RecoveryResult(Name, Epoch, _offset, Recovered: true, deltas, default);
            }
            else
            {
                result = new RecoveryResult(Name, Epoch, _offset, Recovered: false, [], Snapshot());
            }

            return true;
        }
    }

    public bool TryGetSnapshot(out ChannelSnapshot snapshot)
    {
        lock (this)
        {
            if (_dropped)
            {
                snapshot = null!;
                return false;
            }

            _history?.TrimExpired(_time.GetUtcNow().ToUnixTimeMilliseconds());
            snapshot = new ChannelSnapshot(Name, Epoch, _offset, Snapshot());
            return true;
        }
    }

    public bool TryAddObserver(IChannelObserver observer)
    {
        lock (this)
        {
            if (_dropped)
            {
                return false;
            }

            _observers = [.. _observers, observer];
            return true;
        }
    }

    /// <summary>Removes one registration of <paramref name="observer"/>; true when the channel is now empty and was dropped.</summary>
    public bool RemoveObserver(IChannelObserver observer, Func<MemoryChannel, bool> drop)
    {
        lock (this)
        {
            var index = Array.IndexOf(_observers, observer);
            if (index >= 0)
            {
                _observers = [.. _observers.AsSpan(0, index), .. _observers.AsSpan(index + 1)];
            }

            return DropIfEmpty(drop);
        }
    }

    public bool TryAddPresence(string user, string memberKey, out bool joined)
    {
        lock (this)
        {
            joined = false;
            if (_dropped)
            {
                return false;
            }

            _presence ??= new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            if (!_presence.TryGetValue(user, out var keys))
            {
                keys = new HashSet<string>(StringComparer.Ordinal);
                _presence.Add(user, keys);
                joined = true;
            }

            keys.Add(memberKey);
            if (joined)
            {
                Emit(new PresenceEvent(Name, "join", user, null, _time.GetUtcNow().ToUnixTimeMilliseconds()));
            }

            return true;
        }
    }

    /// <summary>Removes a member; returns whether the user left. Drops the channel when it becomes empty.</summary>
    public bool RemovePresence(string user, string memberKey, string reason, Func<MemoryChannel, bool> drop)
    {
        lock (this)
        {
            if (_presence is null || !_presence.TryGetValue(user, out var keys) || !keys.Remove(memberKey))
            {
                return false;
            }

            if (keys.Count > 0)
            {
                return false;
            }

            _presence.Remove(user);
            if (_presence.Count == 0)
            {
                _presence = null;
            }

            Emit(new PresenceEvent(Name, "leave", user, reason, _time.GetUtcNow().ToUnixTimeMilliseconds()));
            DropIfEmpty(drop);
            return true;
        }
    }

    public string[] GetPresence()
    {
        lock (this)
        {
            if (_presence is null)
            {
                return [];
            }

            var users = _presence.Keys.ToArray();
            Array.Sort(users, StringComparer.Ordinal);
            return users;
        }
    }

    /// <summary>Drops the channel if it holds nothing worth keeping: no state, no observers, no presence.</summary>
    public bool DropIfEmpty(Func<MemoryChannel, bool> drop)
    {
        lock (this)
        {
            // A channel with state is never dropped: that would lose the state and change its epoch.
            if (_dropped || _offset != 0 || _observers.Length != 0 || _presence is not null)
            {
                return false;
            }

            _dropped = drop(this);
            return _dropped;
        }
    }

    /// <summary>Hands an event to every observer, inside the lock like deltas (so calls never overlap).</summary>
    public void EmitEvent(ChannelEvent channelEvent)
    {
        lock (this)
        {
            foreach (var observer in _observers)
            {
                try
                {
                    observer.OnEvent(channelEvent);
                }
                catch (Exception ex)
                {
                    MemoryEngineLog.ObserverFailed(_logger, Name, nameof(IChannelObserver.OnEvent), ex);
                }
            }
        }
    }

    private void Emit(PresenceEvent presence)
    {
        foreach (var observer in _observers)
        {
            try
            {
                observer.OnPresence(presence);
            }
            catch (Exception ex)
            {
                MemoryEngineLog.ObserverFailed(_logger, Name, nameof(IChannelObserver.OnPresence), ex);
            }
        }
    }

    // The state serialized once per offset: a reconnect storm reads the same snapshot many times.
    private JsonElement Snapshot()
    {
        if (_snapshot is { } cached)
        {
            return cached;
        }

        if (_state is null)
        {
            return s_emptyState; // nothing published: no document per channel for "{}"
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            _state.WriteTo(writer);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        var snapshot = document.RootElement.Clone();
        _snapshot = snapshot;
        return snapshot;
    }
}
