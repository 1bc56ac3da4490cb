using System.Collections.Concurrent;
using System.Text.Json;
using Lifeline.Engine.Internal;
using Lifeline.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lifeline.Engine;

/// <summary>
/// The embedded engine: everything in this process's memory, no setup. It gives every guarantee of
/// <see cref="ILifelineEngine"/> for one server node only; use the Redis engine to run several nodes.
/// </summary>
/// <remarks>
/// <para>Each channel has its own lock (no global lock on the hot path); observers are called inside it, in
/// offset order, so they must return quickly and must not call back into the engine synchronously.</para>
/// <para>Every channel that was ever published to stays in memory, its state whole and its history bounded by
/// <see cref="MemoryEngineOptions.HistorySize"/> and <see cref="MemoryEngineOptions.HistoryAge"/>, for the
/// lifetime of the engine: dropping it would lose its state. Channels with no state, no observers and no
/// presence are dropped. Epochs are random per engine instance, so a restarted process starts new epochs and
/// subscribers recover with a snapshot; within one instance a channel's epoch never changes while it has state or
/// observers, so <see cref="IChannelObserver.OnEpochChanged"/> is never called.</para>
/// <para>Idempotency keys are remembered for <see cref="MemoryEngineOptions.IdempotencyWindow"/> per channel and
/// scope (the same key on another channel is another publish); a key with no scope belongs to one shared empty
/// scope. A conditional publish is checked under the channel's lock; one that conflicted releases its key. Sessions
/// are kept until their expiry. Both are pruned as time passes.</para>
/// </remarks>
public sealed partial class MemoryEngine : ILifelineEngine
{
    private readonly ConcurrentDictionary<string, MemoryChannel> _channels = new(StringComparer.Ordinal);
    private readonly Func<string, MemoryChannel> _createChannel;
    private readonly Func<MemoryChannel, bool> _dropChannel;
    private readonly IdempotencyCache _idempotency;
    private readonly SessionStore _sessions = new();
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private volatile bool _disposed;

    /// <summary>Creates an engine.</summary>
    /// <param name="options">The settings; null for the defaults. Validated and copied here.</param>
    /// <param name="timeProvider">The clock for timestamps and expiry; null for <see cref="TimeProvider.System"/>.</param>
    /// <param name="logger">Where observer failures are logged; null for none.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public MemoryEngine(MemoryEngineOptions? options = null, TimeProvider? timeProvider = null, ILogger<MemoryEngine>? logger = null)
    {
        options ??= new MemoryEngineOptions();
        options.Validate();
        HistorySize = options.HistorySize;
        HistoryAge = options.HistoryAge;
        IdempotencyWindow = options.IdempotencyWindow;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _idempotency = new IdempotencyCache(IdempotencyWindow);
        Func<DeltaHistory> newHistory = () => new DeltaHistory(HistorySize, HistoryAge);
        _createChannel = name => new MemoryChannel(name, Epoch, newHistory, _time, _logger);
        _dropChannel = channel => _channels.TryRemove(KeyValuePair.Create(channel.Name, channel));
    }

    /// <summary>The most deltas kept per channel (from <see cref="MemoryEngineOptions.HistorySize"/>).</summary>
    public int HistorySize { get; }

    /// <summary>This instance's epoch, shared by all its channels; a new instance (a restarted process) has a new one.</summary>
    public string Epoch { get; } = MemoryChannel.NewEpoch();

    /// <summary>How long deltas are kept (from <see cref="MemoryEngineOptions.HistoryAge"/>).</summary>
    public TimeSpan HistoryAge { get; }

    /// <summary>How long idempotency keys are remembered (from <see cref="MemoryEngineOptions.IdempotencyWindow"/>).</summary>
    public TimeSpan IdempotencyWindow { get; }

    /// <summary>The number of channels in memory. For tests and diagnostics.</summary>
    internal int ChannelCount => _channels.Count;

    /// <summary>The number of idempotency keys remembered. For tests and diagnostics.</summary>
    internal int IdempotencyKeyCount => _idempotency.Count;

    /// <summary>The number of sessions held. For tests and diagnostics.</summary>
    internal int SessionCount => _sessions.Count;

    /// <inheritdoc />
    public ValueTask<IAsyncDisposable> ObserveAsync(string channel, IChannelObserver observer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(observer);
        Check(channel, cancellationToken);
        while (true)
        {
            var ch = _channels.GetOrAdd(channel, _createChannel);
            if (ch.TryAddObserver(observer))
            {
                return new ValueTask<IAsyncDisposable>(new Registration(this, ch, observer));
            }
        }
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The patch is not a JSON object.</exception>
    public ValueTask<PublishResult> PublishAsync(PublishRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Check(request.Channel, cancellationToken);
        if (request.Patch.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("a channel patch must be a JSON object", nameof(request));
        }

        // Copy outside the lock: the caller's document may be pooled and disposed after this call.
        var patch = request.Patch.Clone();
        return request.Key is null
            ? new ValueTask<PublishResult>(Publish(request.Channel, patch, request.Expected))
            : PublishOnceAsync(request.Channel, patch, request.Expected, request.IdempotencyScope ?? string.Empty, request.Key, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<RecoveryResult> RecoverAsync(string channel, Position? since, CancellationToken cancellationToken = default)
    {
        Check(channel, cancellationToken);
        while (true)
        {
            if (!_channels.TryGetValue(channel, out var ch))
            {
                // Reading does not create a channel; an absent one is empty, at offset 0 of the instance's epoch.
                return new ValueTask<RecoveryResult>(
                    since is not null && since.Epoch == Epoch && since.Offset == 0
                        ? new RecoveryResult(channel, Epoch, 0, Recovered: true, [], default)
                        : new RecoveryResult(channel, Epoch, 0, Recovered: false, [], EmptyState()));
            }

            if (ch.TryRecover(since, out var result))
            {
                return new ValueTask<RecoveryResult>(result);
            }
        }
    }

    /// <inheritdoc />
    public ValueTask<ChannelSnapshot> GetSnapshotAsync(string channel, CancellationToken cancellationToken = default)
    {
        Check(channel, cancellationToken);
        while (true)
        {
            if (!_channels.TryGetValue(channel, out var ch))
            {
                return new ValueTask<ChannelSnapshot>(new ChannelSnapshot(channel, Epoch, 0, EmptyState()));
            }

            if (ch.TryGetSnapshot(out var snapshot))
            {
                return new ValueTask<ChannelSnapshot>(snapshot);
            }
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> AddPresenceAsync(string channel, string user, string memberKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(memberKey);
        Check(channel, cancellationToken);
        while (true)
        {
            var ch = _channels.GetOrAdd(channel, _createChannel);
            if (ch.TryAddPresence(user, memberKey, out var joined))
            {
                return new ValueTask<bool>(joined);
            }
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> RemovePresenceAsync(string channel, string user, string memberKey, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(memberKey);
        ArgumentNullException.ThrowIfNull(reason);
        Check(channel, cancellationToken);
        var left = _channels.TryGetValue(channel, out var ch) && ch.RemovePresence(user, memberKey, reason, _dropChannel);
        return new ValueTask<bool>(left);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> GetPresenceAsync(string channel, CancellationToken cancellationToken = default)
    {
        Check(channel, cancellationToken);
        IReadOnlyList<string> users = _channels.TryGetValue(channel, out var ch) ? ch.GetPresence() : [];
        return new ValueTask<IReadOnlyList<string>>(users);
    }

    /// <inheritdoc />
    public ValueTask StoreSessionAsync(SessionRecord session, DateTimeOffset expiresAt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        Check(cancellationToken);
        _sessions.Store(session, expiresAt, _time.GetUtcNow());
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<SessionRecord?> FindSessionAsync(string token, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(token);
        Check(cancellationToken);
        return new ValueTask<SessionRecord?>(_sessions.Find(token, _time.GetUtcNow()));
    }

    /// <summary>Forgets every channel and session; later calls throw <see cref="ObjectDisposedException"/>.</summary>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        _disposed = true;
        _channels.Clear();
        _sessions.Clear();
        return ValueTask.CompletedTask;
    }

    private PublishResult Publish(string channel, JsonElement patch, Position? expected)
    {
        while (true)
        {
            var ch = _channels.GetOrAdd(channel, _createChannel);
            if (ch.TryPublish(patch, expected, out var result))
            {
                if (result.Conflict)
                {
                    // A conflict on a channel nobody publishes to or watches must not keep it in memory.
                    ch.DropIfEmpty(_dropChannel);
                }

                return result;
            }
        }
    }

    private async ValueTask<PublishResult> PublishOnceAsync(string channel, JsonElement patch, Position? expected, string scope, string key, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_idempotency.TryClaim(channel, scope, key, _time.GetUtcNow(), out var entry))
            {
                PublishResult result;
                try
                {
                    result = Publish(channel, patch, expected);
                }
                catch
                {
                    _idempotency.Abandon(entry);
                    throw;
                }

                if (result.Conflict)
                {
                    // Nothing was applied: the key is not remembered, so a retry after re-reading may apply.
                    _idempotency.Abandon(entry);
                }
                else
                {
                    _idempotency.Complete(entry, result);
                }

                return result;
            }

            // Another publish holds the key: repeat its result, or retry if it failed or conflicted (then one of us claims it).
            var first = await entry.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (first is not null)
            {
                return first with { Duplicate = true };
            }
        }
    }

    private void RemoveObserver(MemoryChannel channel, IChannelObserver observer) => channel.RemoveObserver(observer, _dropChannel);

    private static JsonElement EmptyState() => MemoryChannel.EmptyState;

    private void Check(string channel, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        Check(cancellationToken);
    }

    private void Check(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>The handle returned by <see cref="ObserveAsync"/>; disposing it twice is harmless.</summary>
    private sealed class Registration(MemoryEngine engine, MemoryChannel channel, IChannelObserver observer) : IAsyncDisposable
    {
        private int _disposed;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                engine.RemoveObserver(channel, observer);
            }

            return ValueTask.CompletedTask;
        }
    }
}
