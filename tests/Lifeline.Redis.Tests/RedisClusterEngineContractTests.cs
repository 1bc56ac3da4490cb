using Lifeline.Engine;
using Lifeline.Engine.Tests;
using StackExchange.Redis;

namespace Lifeline.Redis.Tests;

/// <summary>The engine contract, run against <see cref="RedisEngine"/> on a three-master Redis Cluster.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class RedisClusterEngineContractTests(RedisClusterFixture cluster) : EngineContractTests
{
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..12] + ":";
    private readonly List<IConnectionMultiplexer> _connections = [];

    /// <inheritdoc />
    protected override async ValueTask<ILifelineEngine> CreateEngineAsync(TimeProvider time, EngineTestSettings settings)
    {
        var connection = await ConnectionMultiplexer.ConnectAsync(cluster.Configuration);
        _connections.Add(connection);
        var engine = new RedisEngine(
            connection,
            new RedisEngineOptions
            {
                KeyPrefix = _prefix,
                HistorySize = settings.HistorySize,
                HistoryAge = settings.HistoryAge,
                IdempotencyWindow = settings.IdempotencyWindow,
            },
            time);
        Assert.True(engine.UsesShardedPubSub);
        return engine;
    }

    /// <inheritdoc />
    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }
    }
}
