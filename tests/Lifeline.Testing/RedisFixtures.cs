using Lifeline.NetLab;

namespace Lifeline.Testing;

/// <summary>
/// One <see cref="RedisServer"/> shared by the tests of a collection (each test uses its own key prefix). A test project
/// declares the collection (<c>[CollectionDefinition] … : ICollectionFixture&lt;RedisFixture&gt;</c>): xunit looks for it in
/// the test assembly. A machine without redis-server fails these tests, never skips them.
/// </summary>
public sealed class RedisFixture : IAsyncLifetime
{
    /// <summary>The server.</summary>
    public RedisServer Server { get; private set; } = null!;

    /// <inheritdoc />
    public async Task InitializeAsync() => Server = await RedisServer.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>A three-master <see cref="RedisCluster"/> shared by the tests of a collection.</summary>
public sealed class RedisClusterFixture : IAsyncLifetime
{
    private RedisCluster? _cluster;

    /// <summary>The StackExchange.Redis configuration string naming every master.</summary>
    public string Configuration => _cluster?.Configuration ?? throw new InvalidOperationException("the cluster did not start");

    /// <inheritdoc />
    public async Task InitializeAsync() => _cluster = await RedisCluster.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}
