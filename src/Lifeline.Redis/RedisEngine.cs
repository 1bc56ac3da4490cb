// RedisEngine's entry point: construction and connection (the multiplexer, who owns it, the key names, the clock, the
// logger, the pub/sub publish command), the ILifelineEngine members, presence changes, sessions, and disposal. It
// declares and writes every field of the engine except the observed channels (RedisEngine.Observe.cs) and the node's
// presence index (RedisEngine.PresenceIndex.cs). Channel streams (publish, idempotent publish, read, head, compaction)
// are RedisChannelStore's (Internal/RedisChannelStore.cs), and every Redis call goes through RedisCalls
// (Internal/RedisCalls.cs); this file only wires them and checks arguments.
using System.Text.Json;
using Lifeline.Engine;
using Lifeline.Protocol;
using Lifeline.Redis.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Lifeline.Redis;

/// <summary>
/// The engine on Redis: every guarantee of <see cref="ILifelineEngine"/> across any number of server nodes that share
/// one Redis (a single server, or a Redis Cluster).
/// </summary>
/// <remarks>
/// <para><b>Publish</b> is one Lua script on the channel's keys (all under the hash tag <c>{ch:NAME}</c>, so one cluster
/// slot): it creates the epoch if the channel has none, increments the offset (<c>HINCRBY</c>: offsets are consecutive
/// per channel whichever node publishes), appends the patch to the history stream (id <c>OFFSET-0</c>, trimmed to
/// <see cref="RedisEngineOptions.HistorySize"/> entries and <see cref="RedisEngineOptions.HistoryAge"/>) and to the list of
/// patches after the stored snapshot, and publishes the delta on the channel's pub/sub channel (<c>SPUBLISH</c> on
/// Redis 7, else <c>PUBLISH</c>). Redis runs scripts one at a time, so the offset order, the history order and the
/// pub/sub order are the same.</para>
/// <para><b>State</b> is a stored snapshot plus the patches after it. Merge patches are applied here in .NET, never in Lua
/// (Lua's cjson cannot tell <c>[]</c> from <c>{}</c> and rounds numbers); a node that reads a snapshot, or that sees more
/// than <see cref="RedisEngineOptions.CompactionThreshold"/> patches pile up, folds them and stores the result with a
/// compare-and-set script, so a snapshot costs one read of at most about that many patches.</para>
/// <para><b>Fan-out</b>: one pub/sub subscription per channel with local observers. Messages are handled one at a
/// time; each node remembers the last offset it delivered per channel, drops repeats, and fills holes (a message lost
/// while the connection was down) from the history before delivering, so every observer gets every delta once in offset
/// order. A hole the history no longer covers, or a delta of a new epoch, calls
/// <see cref="IChannelObserver.OnEpochChanged"/>: subscribers resynchronize with a snapshot. After a reconnect every
/// observed channel is checked the same way.</para>
/// <para><b>Idempotency keys</b> are per channel and live in the channel's slot (<c>{ch:NAME}:idem:SCOPE KEY</c>), so the
/// publish script itself checks the key, checks the condition of a conditional publish (<see cref="PublishRequest.Expected"/>)
/// against the channel's epoch and offset, applies the patch and records the key's result, all atomically: a repeated key
/// gets the first result, concurrent publishes with one key apply once, and a conflict changes nothing (its key is not
/// recorded).</para>
/// <para><b>Presence</b>: per channel a hash of members (user and member key to the node holding it) and a hash of
/// users to their member count; joins and leaves are published by the same scripts that change them. Each node keeps a
/// liveness key with a TTL (<see cref="RedisEngineOptions.NodeTtl"/>); the first node to notice another's key gone
/// removes that node's members and so publishes their leaves, once. <b>Sessions</b> are keys that expire.</para>
/// <para><b>Events</b> travel on the channel's pub/sub channel beside its deltas (never stored, no offset); <b>user
/// messages and disconnect orders</b> on the user's sharded pub/sub channel, which a node subscribes to only while it has
/// observers of that user; <b>connection slots</b> are per-node counts in one hash per address or user, checked and
/// taken by one script. A dead node's user observers and slots are given back by the node that reaps it.</para>
/// <para>Time (timestamps, history age, key and session expiry) comes from the engine's <see cref="TimeProvider"/>
/// and is passed to the scripts; Redis TTLs only collect garbage.</para>
/// </remarks>
public sealed partial class RedisEngine : ILifelineEngine
{
    private readonly IConnectionMultiplexer _redis;
    private readonly RedisCalls _calls;
    private readonly RedisChannelStore _store;
    private readonly bool _ownsConnection;
    private readonly RedisKeys _keys;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _publishCommand;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _nodeLoop;
    private int _disposed;

    /// <summary>Creates an engine on an existing connection (which the caller keeps and disposes).</summary>
    /// <param name="redis">The connection.</param>
    /// <param name="options">The settings; null for the defaults (<see cref="RedisEngineOptions.Configuration"/> is not used). Validated and copied.</param>
    /// <param name="timeProvider">The clock for timestamps and expiry; null for <see cref="TimeProvider.System"/>.</param>
    /// <param name="logger">Where events are logged; null for none.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public RedisEngine(IConnectionMultiplexer redis, RedisEngineOptions? options = null, TimeProvider? timeProvider = null, ILogger<RedisEngine>? logger = null)
        : this(redis, ownsConnection: false, options, timeProvider, logger)
    {
    }

    private RedisEngine(IConnectionMultiplexer redis, bool ownsConnection, RedisEngineOptions? options, TimeProvider? timeProvider, ILogger<RedisEngine>? logger)
    {
        ArgumentNullException.ThrowIfNull(redis);
        options = (options ?? new RedisEngineOptions()).Clone();
        options.Validate();
        Options = options;
        _redis = redis;
        _calls = new RedisCalls(redis);
        _ownsConnection = ownsConnection;
        _keys = new RedisKeys(options.KeyPrefix);
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        NodeId = options.NodeId ?? RedisText.RandomId(9);
        var (server, version) = ServerVersion(redis);
        UsesShardedPubSub = options.UseShardedPubSub ?? (version is not null && version.Major >= 7);
        _publishCommand = UsesShardedPubSub ? "SPUBLISH" : "PUBLISH";
        _store = new RedisChannelStore(_calls, _keys, options, _time, _logger, _publishCommand);
        redis.ConnectionFailed += OnConnectionFailed;
        redis.ConnectionRestored += OnConnectionRestored;
        var versionText = version?.ToString() ?? "unknown";
        RedisLog.Started(_logger, NodeId, server, versionText, UsesShardedPubSub);
        _nodeLoop = RunNodeLoopAsync(_stopping.Token);
    }

    /// <summary>The settings in force (a validated copy).</summary>
    public RedisEngineOptions Options { get; }

    /// <summary>This node's id in presence and liveness records.</summary>
    public string NodeId { get; }

    /// <summary>True when fan-out uses sharded pub/sub (<c>SPUBLISH</c>/<c>SSUBSCRIBE</c>).</summary>
    public bool UsesShardedPubSub { get; }

    /// <summary>True while the connection to Redis is up (health checks report degraded otherwise).</summary>
    public bool IsConnected => _redis.IsConnected;

    /// <summary>Connects to Redis with <see cref="RedisEngineOptions.Configuration"/> and creates an engine that owns the connection.</summary>
    /// <param name="options">The settings; null for the defaults.</param>
    /// <param name="timeProvider">The clock; null for <see cref="TimeProvider.System"/>.</param>
    /// <param name="logger">Where events are logged; null for none.</param>
    /// <returns>The engine. When Redis cannot be reached yet the engine still starts, and keeps connecting in the background.</returns>
    public static async Task<RedisEngine> ConnectAsync(RedisEngineOptions? options = null, TimeProvider? timeProvider = null, ILogger<RedisEngine>? logger = null)
    {
        options ??= new RedisEngineOptions();
        options.Validate();
        var redis = await ConnectionMultiplexer.ConnectAsync(ConnectionOptions(options)).ConfigureAwait(false);
        return new RedisEngine(redis, ownsConnection: true, options, timeProvider, logger);
    }

    /// <summary>Connects synchronously (for dependency-injection factories); see <see cref="ConnectAsync"/>.</summary>
    /// <param name="options">The settings; null for the defaults.</param>
    /// <param name="timeProvider">The clock; null for <see cref="TimeProvider.System"/>.</param>
    /// <param name="logger">Where events are logged; null for none.</param>
    /// <returns>The engine, owning its connection.</returns>
    public static RedisEngine Connect(RedisEngineOptions? options = null, TimeProvider? timeProvider = null, ILogger<RedisEngine>? logger = null)
    {
        options ??= new RedisEngineOptions();
        options.Validate();
        var redis = ConnectionMultiplexer.Connect(ConnectionOptions(options));
        return new RedisEngine(redis, ownsConnection: true, options, timeProvider, logger);
    }

    private static ConfigurationOptions ConnectionOptions(RedisEngineOptions options)
    {
        var configuration = ConfigurationOptions.Parse(options.Configuration);
        configuration.AbortOnConnectFail = false; // start degraded and keep trying rather than crash the node
        return configuration;
    }

    private IDatabase Db => _redis.GetDatabase();

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The patch is not a JSON object.</exception>
    public async ValueTask<PublishResult> PublishAsync(PublishRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Check(request.Channel, cancellationToken);
        if (request.Patch.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("a channel patch must be a JSON object", nameof(request));
        }

        return await _store.PublishAsync(request.Channel, request.Patch, request.Expected, request.IdempotencyScope, request.Key).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<RecoveryResult> RecoverAsync(string channel, Position? since, CancellationToken cancellationToken = default)
    {
        Check(channel, cancellationToken);
        var read = await _store.ReadAsync(channel, since, upTo: -1).ConfigureAwait(false);
        return read.Recovered
            ? new RecoveryResult(channel, read.Epoch, read.Offset, Recovered: true, read.Deltas, default)
            : new RecoveryResult(channel, read.Epoch, read.Offset, Recovered: false, [], read.State);
    }

    /// <inheritdoc />
    public async ValueTask<ChannelSnapshot> GetSnapshotAsync(string channel, CancellationToken cancellationToken = default)
    {
        Check(channel, cancellationToken);
        var read = await _store.ReadAsync(channel, since: null, upTo: -1).ConfigureAwait(false);
        return new ChannelSnapshot(channel, read.Epoch, read.Offset, read.State);
    }

    /// <inheritdoc />
    public async ValueTask<bool> AddPresenceAsync(string channel, string user, string memberKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(memberKey);
        Check(channel, cancellationToken);

        var field = RedisKeys.MemberField(user, memberKey);
        await IndexMemberAsync(channel, field).ConfigureAwait(false);
        var joined = await EvalAsync(
            RedisScripts.AddPresence,
            [_keys.Members(channel), _keys.Users(channel)],
            [field, user, NodeId, NowMs, _publishCommand, _keys.PubSub(channel)]).ConfigureAwait(false);
        return (long)joined == 1;
    }

    /// <inheritdoc />
    public async ValueTask<bool> RemovePresenceAsync(string channel, string user, string memberKey, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(memberKey);
        ArgumentNullException.ThrowIfNull(reason);
        Check(channel, cancellationToken);
        var field = RedisKeys.MemberField(user, memberKey);
        var left = await RemoveMemberAsync(channel, field, user, reason, holder: string.Empty).ConfigureAwait(false);
        await UnindexMemberAsync(channel, field).ConfigureAwait(false);
        return left;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<string>> GetPresenceAsync(string channel, CancellationToken cancellationToken = default)
    {
        Check(channel, cancellationToken);
        var users = await CallAsync(() => Db.HashKeysAsync(_keys.Users(channel))).ConfigureAwait(false);
        var list = users.Select(u => u.ToString()).ToArray();
        Array.Sort(list, StringComparer.Ordinal);
        return list;
    }

    /// <inheritdoc />
    public async ValueTask StoreSessionAsync(SessionRecord session, DateTimeOffset expiresAt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        Check(cancellationToken);
        var ttl = expiresAt - _time.GetUtcNow();
        var key = _keys.Session(session.Token);
        if (ttl <= TimeSpan.Zero)
        {
            await CallAsync(() => Db.KeyDeleteAsync(key)).ConfigureAwait(false);
            return;
        }

        var value = SessionCodec.Encode(session, expiresAt);
        await CallAsync(() => Db.StringSetAsync(key, value, ttl)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<SessionRecord?> FindSessionAsync(string token, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(token);
        Check(cancellationToken);
        var value = await CallAsync(() => Db.StringGetAsync(_keys.Session(token))).ConfigureAwait(false);
        if (value.IsNull)
        {
            return null;
        }

        var (session, expiresAt) = SessionCodec.Decode(token, value.ToString());
        return _time.GetUtcNow() >= expiresAt ? null : session;
    }

    /// <summary>
    /// Stops the liveness loop, removes this node's presence members (publishing their leaves), ends every pub/sub
    /// subscription and, when the engine opened the connection, closes it. Later calls throw <see cref="ObjectDisposedException"/>.
    /// </summary>
    /// <returns>A task that completes when done.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _nodeLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await LeaveAsNodeAsync().ConfigureAwait(false);
        await UnobserveAllAsync().ConfigureAwait(false);
        await UnobserveAllUsersAsync().ConfigureAwait(false);
        _redis.ConnectionFailed -= OnConnectionFailed;
        _redis.ConnectionRestored -= OnConnectionRestored;
        if (_ownsConnection)
        {
            await _redis.CloseAsync().ConfigureAwait(false);
            _redis.Dispose();
        }

        _stopping.Dispose();
    }

    private async Task<bool> RemoveMemberAsync(string channel, string field, string user, string reason, string holder)
    {
        var left = await EvalAsync(
            RedisScripts.RemovePresence,
            [_keys.Members(channel), _keys.Users(channel)],
            [field, user, reason, NowMs, _publishCommand, _keys.PubSub(channel), holder]).ConfigureAwait(false);
        return (long)left == 1;
    }

    private Task<RedisResult> EvalAsync(string script, RedisKey[] keys, RedisValue[] values) => _calls.EvalAsync(script, keys, values);

    private Task<T> CallAsync<T>(Func<Task<T>> call) => _calls.CallAsync(call);

    private static (string Server, Version? Version) ServerVersion(IConnectionMultiplexer redis)
    {
        try
        {
            var servers = redis.GetServers().Where(s => s.IsConnected).ToArray();
            if (servers.Length == 0)
            {
                return ("(not connected)", null);
            }

            return (servers[0].EndPoint.ToString() ?? "?", servers.Min(s => s.Version));
        }
        catch (Exception ex) when (ex is RedisException or NotSupportedException)
        {
            return ("(unknown)", null);
        }
    }

    private void Check(string channel, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        Check(cancellationToken);
    }

    private void Check(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
    }
}
