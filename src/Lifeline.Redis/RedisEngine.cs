using System.Buffers;
using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
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
/// <para><b>Idempotency keys</b> live in their scope's own hash (<c>{idem:SCOPE}:KEY</c>, another slot than the channel):
/// a publish claims the key (a script), publishes, then records the result; a concurrent publish with the same key waits
/// for that result. Limit: a node that dies between applying a publish and recording its result releases the claim
/// after <see cref="RedisEngineOptions.IdempotencyClaimTimeout"/>, and a retry after that applies again.</para>
/// <para><b>Presence</b>: per channel a hash of members (user and member key to the node holding it) and a hash of
/// users to their member count; joins and leaves are published by the same scripts that change them. Each node keeps a
/// liveness key with a TTL (<see cref="RedisEngineOptions.NodeTtl"/>); the first node to notice another's key gone
/// removes that node's members and so publishes their leaves, once. <b>Sessions</b> are keys that expire.</para>
/// <para>Time (timestamps, history age, key and session expiry) comes from the engine's <see cref="TimeProvider"/>
/// and is passed to the scripts; Redis TTLs only collect garbage.</para>
/// </remarks>
public sealed partial class RedisEngine : ILifelineEngine
{
    private readonly IConnectionMultiplexer _redis;
    private readonly bool _ownsConnection;
    private readonly RedisKeys _keys;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _publishCommand;
    private readonly ConcurrentDictionary<string, byte> _compacting = new(StringComparer.Ordinal);
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
        _ownsConnection = ownsConnection;
        _keys = new RedisKeys(options.KeyPrefix);
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        NodeId = options.NodeId ?? RandomId(9);
        var (server, version) = ServerVersion(redis);
        UsesShardedPubSub = options.UseShardedPubSub ?? (version is not null && version.Major >= 7);
        _publishCommand = UsesShardedPubSub ? "SPUBLISH" : "PUBLISH";
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

        var patch = Compact(request.Patch);
        return request.Key is null
            ? await PublishCoreAsync(request.Channel, patch).ConfigureAwait(false)
            : await PublishOnceAsync(request.Channel, patch, request.IdempotencyScope ?? string.Empty, request.Key, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<RecoveryResult> RecoverAsync(string channel, Position? since, CancellationToken cancellationToken = default)
    {
        Check(channel, cancellationToken);
        var read = await ReadAsync(channel, since, upTo: -1).ConfigureAwait(false);
        return read.Recovered
            ? new RecoveryResult(channel, read.Epoch, read.Offset, Recovered: true, read.Deltas, default)
            : new RecoveryResult(channel, read.Epoch, read.Offset, Recovered: false, [], read.State);
    }

    /// <inheritdoc />
    public async ValueTask<ChannelSnapshot> GetSnapshotAsync(string channel, CancellationToken cancellationToken = default)
    {
        Check(channel, cancellationToken);
        var read = await ReadAsync(channel, since: null, upTo: -1).ConfigureAwait(false);
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
        _redis.ConnectionFailed -= OnConnectionFailed;
        _redis.ConnectionRestored -= OnConnectionRestored;
        if (_ownsConnection)
        {
            await _redis.CloseAsync().ConfigureAwait(false);
            _redis.Dispose();
        }

        _stopping.Dispose();
    }

    private async Task<PublishResult> PublishCoreAsync(string channel, string patch)
    {
        var result = (RedisResult[])(await EvalAsync(
            RedisScripts.Publish,
            [_keys.Meta(channel), _keys.History(channel), _keys.Pending(channel)],
            [NowMs, RandomId(8), patch, Options.HistorySize, (long)Options.HistoryAge.TotalMilliseconds,
                (long)Options.EmptyChannelTtl.TotalMilliseconds, _publishCommand, _keys.PubSub(channel)]).ConfigureAwait(false))!;
        var published = new PublishResult(result[0].ToString(), (long)result[1], (long)result[2], Duplicate: false);
        if ((long)result[3] >= Options.CompactionThreshold)
        {
            StartCompaction(channel);
        }

        return published;
    }

    private async Task<PublishResult> PublishOnceAsync(string channel, string patch, string scope, string key, CancellationToken cancellationToken)
    {
        var idempotencyKey = _keys.Idempotency(scope, key);
        var token = RandomId(12);
        var claimTtl = (long)Options.IdempotencyClaimTimeout.TotalMilliseconds;

        // Wait for another node's (or task's) claim at most twice its lifetime; the claim expires by itself if that publisher died.
        var giveUpAt = TimeProvider.System.GetTimestamp() + (long)(2 * Options.IdempotencyClaimTimeout.TotalSeconds * TimeProvider.System.TimestampFrequency);
        var delay = TimeSpan.FromMilliseconds(1);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var claim = (RedisResult[])(await EvalAsync(RedisScripts.ClaimKey, [idempotencyKey], [NowMs, token, claimTtl]).ConfigureAwait(false))!;
            switch (claim[0].ToString())
            {
                case "c":
                    PublishResult result;
                    try
                    {
                        result = await PublishCoreAsync(channel, patch).ConfigureAwait(false);
                    }
                    catch
                    {
                        await TryAbandonAsync(idempotencyKey, token).ConfigureAwait(false);
                        throw;
                    }

                    var expiresAt = result.Ts + (long)Options.IdempotencyWindow.TotalMilliseconds;
                    var ttl = Math.Max(1, expiresAt - NowMs);
                    await EvalAsync(
                        RedisScripts.CompleteKey,
                        [idempotencyKey],
                        [token, channel, result.Epoch, result.Offset, result.Ts, expiresAt, ttl]).ConfigureAwait(false);
                    return result;
                case "d":
                    var firstChannel = claim[1].ToString();
                    if (!string.Equals(firstChannel, channel, StringComparison.Ordinal))
                    {
                        RedisLog.IdempotencyKeyReused(_logger, scope, firstChannel, channel);
                    }

                    return new PublishResult(claim[2].ToString(), (long)claim[3], (long)claim[4], Duplicate: true);
                default:
                    if (TimeProvider.System.GetTimestamp() > giveUpAt)
                    {
                        throw new EngineUnavailableException("an earlier publish with the same idempotency key is still in flight");
                    }

                    // Real time on purpose: this polls Redis for another publisher's progress, whatever the engine's clock says.
                    await Task.Delay(delay, TimeProvider.System, cancellationToken).ConfigureAwait(false);
                    delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 50));
                    break;
            }
        }
    }

    private async Task TryAbandonAsync(RedisKey idempotencyKey, string token)
    {
        try
        {
            await EvalAsync(RedisScripts.AbandonKey, [idempotencyKey], [token]).ConfigureAwait(false);
        }
        catch (EngineUnavailableException)
        {
            // The claim expires by itself after IdempotencyClaimTimeout.
        }
    }

    /// <summary>One atomic read: the deltas after <paramref name="since"/> up to <paramref name="upTo"/> (-1: the current offset), or a snapshot.</summary>
    private async Task<ChannelRead> ReadAsync(string channel, Position? since, long upTo)
    {
        var result = (RedisResult[])(await EvalAsync(
            RedisScripts.Recover,
            [_keys.Meta(channel), _keys.History(channel), _keys.Pending(channel)],
            [NowMs, RandomId(8), (long)Options.HistoryAge.TotalMilliseconds, (long)Options.EmptyChannelTtl.TotalMilliseconds,
                since?.Epoch ?? string.Empty, since?.Offset ?? 0, upTo]).ConfigureAwait(false))!;
        var epoch = result[0].ToString();
        var offset = (long)result[1];
        switch (result[2].ToString())
        {
            case "R":
                var deltas = new ChannelDelta[(result.Length - 3) / 3];
                for (var i = 0; i < deltas.Length; i++)
                {
                    var id = result[3 + (3 * i)].ToString();
                    deltas[i] = new ChannelDelta(
                        channel,
                        epoch,
                        long.Parse(id.AsSpan(0, id.IndexOf('-', StringComparison.Ordinal)), CultureInfo.InvariantCulture),
                        ParseJson(result[5 + (3 * i)].ToString()),
                        (long)result[4 + (3 * i)]);
                }

                return new ChannelRead(epoch, offset, Recovered: true, deltas, default);
            case "G":
                return new ChannelRead(epoch, offset, Recovered: false, [], default);
            default:
                var snapshotOffset = (long)result[3];
                var state = JsonNode.Parse(result[4].ToString())!.AsObject();
                var patches = result.Length - 5;
                for (var i = 0; i < patches; i++)
                {
                    JsonMergePatch.ApplyToObject(state, ParseJson(result[5 + i].ToString()));
                }

                var json = state.ToJsonString();
                if (patches >= Options.CompactionThreshold)
                {
                    await TryCompactAsync(channel, epoch, snapshotOffset, snapshotOffset + patches, json).ConfigureAwait(false);
                }

                return new ChannelRead(epoch, offset, Recovered: false, [], ParseJson(json));
        }
    }

    /// <summary>The channel's epoch (created when missing) and offset.</summary>
    private async Task<(string Epoch, long Offset)> HeadAsync(string channel)
    {
        var result = (RedisResult[])(await EvalAsync(
            RedisScripts.Head,
            [_keys.Meta(channel), _keys.History(channel), _keys.Pending(channel)],
            [RandomId(8), (long)Options.EmptyChannelTtl.TotalMilliseconds]).ConfigureAwait(false))!;
        return (result[0].ToString(), (long)result[1]);
    }

    private void StartCompaction(string channel)
    {
        if (!_compacting.TryAdd(channel, 0))
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await ReadAsync(channel, since: null, upTo: -1).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                RedisLog.CompactionFailed(_logger, channel, ex);
            }
            finally
            {
                _compacting.TryRemove(channel, out _);
            }
        });
    }

    private async Task TryCompactAsync(string channel, string epoch, long expected, long target, string state)
    {
        try
        {
            await EvalAsync(RedisScripts.Compact, [_keys.Meta(channel), _keys.Pending(channel)], [epoch, expected, target, state]).ConfigureAwait(false);
        }
        catch (EngineUnavailableException ex)
        {
            RedisLog.CompactionFailed(_logger, channel, ex);
        }
    }

    private async Task<bool> RemoveMemberAsync(string channel, string field, string user, string reason, string holder)
    {
        var left = await EvalAsync(
            RedisScripts.RemovePresence,
            [_keys.Members(channel), _keys.Users(channel)],
            [field, user, reason, NowMs, _publishCommand, _keys.PubSub(channel), holder]).ConfigureAwait(false);
        return (long)left == 1;
    }

    private Task<RedisResult> EvalAsync(string script, RedisKey[] keys, RedisValue[] values) =>
        CallAsync(() => Db.ScriptEvaluateAsync(script, keys, values));

    /// <summary>
    /// Runs a Redis call; a lost or timed-out connection becomes <see cref="EngineUnavailableException"/>. With no
    /// connection at all it fails at once rather than queue until the command timeout, so clients get a prompt
    /// <c>unavailable</c>.
    /// </summary>
    private async Task<T> CallAsync<T>(Func<Task<T>> call)
    {
        if (!_redis.IsConnected)
        {
            throw new EngineUnavailableException("Redis is unavailable: not connected");
        }

        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
        {
            throw new EngineUnavailableException("Redis is unavailable: " + ex.Message, ex);
        }
    }

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

    private static string Compact(JsonElement patch)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            patch.WriteTo(writer);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static JsonElement ParseJson(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static string RandomId(int bytes)
    {
        Span<byte> buffer = stackalloc byte[bytes];
        RandomNumberGenerator.Fill(buffer);
        return Base64Url.EncodeToString(buffer);
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

    /// <summary>What <see cref="ReadAsync"/> found.</summary>
    private sealed record ChannelRead(string Epoch, long Offset, bool Recovered, IReadOnlyList<ChannelDelta> Deltas, JsonElement State);
}
