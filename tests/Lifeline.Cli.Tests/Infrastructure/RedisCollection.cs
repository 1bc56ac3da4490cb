namespace Lifeline.Cli.Tests.Infrastructure;

/// <summary>The tests that share one redis-server (the kit's <see cref="RedisFixture"/>).</summary>
[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisFixture>
{
    public const string Name = "redis";
}
