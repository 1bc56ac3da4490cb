using System.Globalization;

namespace Lifeline.NetLab;

/// <summary>
/// A three-master Redis Cluster on loopback: three <c>redis-server --cluster-enabled yes</c> processes joined with
/// <c>redis-cli --cluster create</c>, returned once every node reports <c>cluster_state:ok</c>. Disposing kills them all.
/// </summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private readonly List<RedisServer> _servers = [];

    private RedisCluster()
    {
    }

    /// <summary>The StackExchange.Redis configuration string naming every master.</summary>
    public string Configuration { get; private set; } = "";

    /// <summary>The masters.</summary>
    public IReadOnlyList<RedisServer> Servers => _servers;

    /// <summary>Starts and joins <paramref name="masters"/> nodes; no orphaned redis-server when the cluster cannot be formed.</summary>
    public static async Task<RedisCluster> StartAsync(int masters = 3)
    {
        var cluster = new RedisCluster();
        try
        {
            await cluster.FormAsync(masters);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
    }

    private async Task FormAsync(int masters)
    {
        var cli = RedisServer.FindExecutable("redis-cli");
        var ports = ClusterPorts(masters);
        foreach (var port in ports)
        {
            _servers.Add(await RedisServer.StartAsync(["--cluster-enabled", "yes", "--cluster-config-file", $"nodes-{port}.conf", "--cluster-node-timeout", "5000"], port));
        }

        var (code, stdout, stderr) = await Shell.RunAsync(
            cli, ["--cluster", "create", .. ports.Select(p => $"127.0.0.1:{p}"), "--cluster-replicas", "0", "--cluster-yes"], TimeSpan.FromSeconds(60));
        if (code != 0)
        {
            throw new InvalidOperationException($"redis-cli --cluster create failed ({code}):\n{stdout}\n{stderr}");
        }

        Configuration = string.Join(",", ports.Select(p => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{p}")));

        // redis-cli waits for the configuration to be consistent; check every node agrees that the cluster is up (bounded).
        for (var attempt = 0; ; attempt++)
        {
            var states = await Task.WhenAll(ports.Select(async p => (await Shell.RunAsync(cli, ["-p", p.ToString(CultureInfo.InvariantCulture), "CLUSTER", "INFO"])).Stdout));
            if (states.All(s => s.Contains("cluster_state:ok", StringComparison.Ordinal)))
            {
                return;
            }

            if (attempt >= 100)
            {
                throw new InvalidOperationException("the cluster did not reach cluster_state:ok:\n" + string.Join("\n", states));
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Free ports whose cluster bus ports (port + 10000) are free too.</summary>
    private static int[] ClusterPorts(int count)
    {
        var ports = new List<int>();
        for (var attempt = 0; ports.Count < count && attempt < 200; attempt++)
        {
            var port = FreePorts.Next();
            if (port + 10000 <= 65535 && !ports.Contains(port) && FreePorts.IsFree(port + 10000))
            {
                ports.Add(port);
            }
        }

        return ports.Count == count ? [.. ports] : throw new InvalidOperationException("no free ports for a cluster");
    }
}
