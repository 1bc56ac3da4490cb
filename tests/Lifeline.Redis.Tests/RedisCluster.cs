using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Lifeline.Engine;
using Lifeline.Engine.Tests;
using StackExchange.Redis;

namespace Lifeline.Redis.Tests;

/// <summary>
/// A three-master Redis Cluster on loopback: three <c>redis-server --cluster-enabled yes</c> processes joined with
/// <c>redis-cli --cluster create</c>. Started once for the collection, killed afterwards.
/// </summary>
public sealed class RedisClusterFixture : IAsyncLifetime
{
    private readonly List<RedisServer> _servers = [];
    private string _dir = "";

    /// <summary>The StackExchange.Redis configuration string naming every master.</summary>
    public string Configuration { get; private set; } = "";

    public async Task InitializeAsync()
    {
        try
        {
            await StartAsync();
        }
        catch
        {
            await DisposeAsync(); // no orphaned redis-server when the cluster cannot be formed
            throw;
        }
    }

    private async Task StartAsync()
    {
        _dir = Directory.CreateTempSubdirectory("lifeline-redis-cluster-").FullName;
        var ports = ClusterPorts(3);
        foreach (var port in ports)
        {
            _servers.Add(await RedisServer.StartAsync(
                ["--cluster-enabled", "yes", "--cluster-config-file", Path.Combine(_dir, $"nodes-{port}.conf"), "--cluster-node-timeout", "5000", "--dir", _dir],
                port));
        }

        var create = new ProcessStartInfo(RedisServer.FindExecutable("redis-cli")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        create.ArgumentList.Add("--cluster");
        create.ArgumentList.Add("create");
        foreach (var port in ports)
        {
            create.ArgumentList.Add($"127.0.0.1:{port}");
        }

        create.ArgumentList.Add("--cluster-replicas");
        create.ArgumentList.Add("0");
        create.ArgumentList.Add("--cluster-yes");
        using var process = Process.Start(create)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"redis-cli --cluster create failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        }

        Configuration = string.Join(",", ports.Select(p => $"127.0.0.1:{p}"));

        // redis-cli waits for the configuration to be consistent; check every node agrees that the cluster is up (bounded).
        await using var probe = await ConnectionMultiplexer.ConnectAsync(Configuration + ",allowAdmin=true");
        for (var attempt = 0; ; attempt++)
        {
            var states = await Task.WhenAll(probe.GetServers().Select(async s => (await s.ExecuteAsync("CLUSTER", "INFO")).ToString()));
            if (states.Length == 3 && states.All(s => s.Contains("cluster_state:ok", StringComparison.Ordinal)))
            {
                break;
            }

            if (attempt >= 100)
            {
                throw new InvalidOperationException("the cluster did not reach cluster_state:ok:\n" + string.Join("\n", states));
            }

            await Task.Delay(100);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }

        if (_dir.Length > 0)
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    /// <summary>Free ports whose cluster bus ports (port + 10000) are free too.</summary>
    private static int[] ClusterPorts(int count)
    {
        var ports = new List<int>();
        for (var attempt = 0; ports.Count < count && attempt < 200; attempt++)
        {
            var port = RedisServer.FreePort();
            if (port + 10000 <= 65535 && !ports.Contains(port) && IsFree(port + 10000))
            {
                ports.Add(port);
            }
        }

        return ports.Count == count ? [.. ports] : throw new InvalidOperationException("no free ports for a cluster");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

[CollectionDefinition(Name)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisClusterFixture>
{
    public const string Name = "redis-cluster";
}

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
