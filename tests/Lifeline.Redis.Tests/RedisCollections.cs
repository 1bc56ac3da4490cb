namespace Lifeline.Redis.Tests;

/// <summary>The tests that share one redis-server (the kit's <see cref="RedisFixture"/>).</summary>
[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisFixture>
{
    public const string Name = "redis";
}

/// <summary>The tests that share one three-master Redis Cluster (the kit's <see cref="RedisClusterFixture"/>).</summary>
[CollectionDefinition(Name)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisClusterFixture>
{
    public const string Name = "redis-cluster";
}
