using Lifeline.Engine.Tests;
using Lifeline.Engine;
using StackExchange.Redis;

namespace Lifeline.Redis.Tests;

/// <summary>The engine contract, run against <see cref="RedisEngine"/> on a real redis-server.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisEngineContractTests(RedisFixture redis) : EngineContractTests
{
    // Each test (a new instance) gets its own key space, so idempotency keys and sessions never leak between tests.
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..12] + ":";
    private readonly List<IConnectionMultiplexer> _connections = [];

    /// <inheritdoc />
    protected override async ValueTask<ILifelineEngine> CreateEngineAsync(TimeProvider time, EngineTestSettings settings)
    {
        var connection = await ConnectionMultiplexer.ConnectAsync(redis.Server.Configuration);
        _connections.Add(connection);
        return new RedisEngine(
            connection,
            new RedisEngineOptions
            {
                KeyPrefix = _prefix,
                HistorySize = settings.HistorySize,
                HistoryAge = settings.HistoryAge,
                IdempotencyWindow = settings.IdempotencyWindow,
            },
            time);
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
