namespace Lifeline.Redis;

/// <summary>Settings of <see cref="RedisEngine"/>. Values are read once, when the engine is created.</summary>
public sealed class RedisEngineOptions
{
    /// <summary>The default of <see cref="Configuration"/>: <c>localhost:6379</c>.</summary>
    public const string DefaultConfiguration = "localhost:6379";

    /// <summary>The default of <see cref="KeyPrefix"/>: <c>lifeline:</c>.</summary>
    public const string DefaultKeyPrefix = "lifeline:";

    /// <summary>The default of <see cref="HistorySize"/>: 1000 deltas per channel.</summary>
    public const int DefaultHistorySize = 1000;

    /// <summary>The default of <see cref="HistoryAge"/> in seconds: 5 minutes.</summary>
    public const int DefaultHistoryAgeSeconds = 5 * 60;

    /// <summary>The default of <see cref="IdempotencyWindow"/> in seconds: 120 (the protocol's default resume window).</summary>
    public const int DefaultIdempotencyWindowSeconds = 120;

    /// <summary>The default of <see cref="CompactionThreshold"/>: 100 patches.</summary>
    public const int DefaultCompactionThreshold = 100;

    /// <summary>The default of <see cref="EmptyChannelTtl"/> in hours: 24.</summary>
    public const int DefaultEmptyChannelTtlHours = 24;

    /// <summary>The default of <see cref="NodeTtl"/> in seconds: 15.</summary>
    public const int DefaultNodeTtlSeconds = 15;

    /// <summary>
    /// The StackExchange.Redis configuration string (for example <c>localhost:6379</c> or
    /// <c>10.0.0.1:7000,10.0.0.2:7000,password=...</c>), used when the engine connects by itself.
    /// The default is <c>localhost:6379</c>.
    /// </summary>
    public string Configuration { get; set; } = DefaultConfiguration;

    /// <summary>
    /// Prepended to every key and pub/sub channel, so several deployments (or test runs) can share one Redis.
    /// The default is <c>lifeline:</c>.
    /// </summary>
    public string KeyPrefix { get; set; } = DefaultKeyPrefix;

    /// <summary>
    /// The most deltas kept per channel for recovery; a subscriber further behind gets a snapshot.
    /// Must be at least 1. The default is 1000.
    /// </summary>
    public int HistorySize { get; set; } = DefaultHistorySize;

    /// <summary>
    /// How long a delta stays in the history for recovery; a subscriber whose position is older gets a snapshot.
    /// Must be positive. The default is 5 minutes.
    /// </summary>
    public TimeSpan HistoryAge { get; set; } = TimeSpan.FromSeconds(DefaultHistoryAgeSeconds);

    /// <summary>
    /// How long a publish idempotency key (per channel and scope) is remembered; a repeat within it returns the first result.
    /// Must be positive. The default is 120 seconds.
    /// </summary>
    public TimeSpan IdempotencyWindow { get; set; } = TimeSpan.FromSeconds(DefaultIdempotencyWindowSeconds);

    /// <summary>
    /// How many patches may pile up after a channel's stored snapshot before a node folds them into it
    /// (the state is kept as a snapshot plus the patches after it). Must be at least 1. The default is 100.
    /// </summary>
    public int CompactionThreshold { get; set; } = DefaultCompactionThreshold;

    /// <summary>
    /// How long Redis keeps the epoch of a channel that was read but never published to. Must be positive.
    /// The default is 24 hours.
    /// </summary>
    public TimeSpan EmptyChannelTtl { get; set; } = TimeSpan.FromHours(DefaultEmptyChannelTtlHours);

    /// <summary>
    /// How long this node's liveness key lives without a refresh (it is refreshed every third of it). Other nodes
    /// treat a node whose key expired as dead and broadcast the presence leaves of its users.
    /// Must be at least 1 second. The default is 15 seconds.
    /// </summary>
    public TimeSpan NodeTtl { get; set; } = TimeSpan.FromSeconds(DefaultNodeTtlSeconds);

    /// <summary>
    /// Whether fan-out uses sharded pub/sub (<c>SPUBLISH</c>/<c>SSUBSCRIBE</c>, Redis 7 and later, required to spread
    /// fan-out over a Redis Cluster) or classic <c>PUBLISH</c>. Null: decided from the server's version at start-up
    /// (classic when Redis cannot be reached then). All nodes must agree: set it explicitly when nodes may start while
    /// Redis is down. The default is null.
    /// </summary>
    public bool? UseShardedPubSub { get; set; }

    /// <summary>This node's id in presence and liveness records; null for a random one. The default is null.</summary>
    public string? NodeId { get; set; }

    /// <summary>Throws when a value is impossible (a history of no entries, a zero or negative duration).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    /// <exception cref="ArgumentException">The configuration string or the key prefix is empty.</exception>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(Configuration, nameof(Configuration));
        ArgumentException.ThrowIfNullOrEmpty(KeyPrefix, nameof(KeyPrefix));
        ArgumentOutOfRangeException.ThrowIfLessThan(HistorySize, 1, nameof(HistorySize));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(HistoryAge, TimeSpan.Zero, nameof(HistoryAge));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(IdempotencyWindow, TimeSpan.Zero, nameof(IdempotencyWindow));
        ArgumentOutOfRangeException.ThrowIfLessThan(CompactionThreshold, 1, nameof(CompactionThreshold));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(EmptyChannelTtl, TimeSpan.Zero, nameof(EmptyChannelTtl));
        ArgumentOutOfRangeException.ThrowIfLessThan(NodeTtl, TimeSpan.FromSeconds(1), nameof(NodeTtl));
    }

    /// <summary>A copy, so that later changes to this instance do not reach a running engine.</summary>
    internal RedisEngineOptions Clone() => (RedisEngineOptions)MemberwiseClone();
}
