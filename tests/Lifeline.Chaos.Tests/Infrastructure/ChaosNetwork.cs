using System.Globalization;

namespace Lifeline.Chaos.Tests.Infrastructure;

/// <summary>
/// Two network namespaces created for one test, <c>llc-srv-PID-N</c> (the server) and <c>llc-cli-PID-N</c> (the clients),
/// joined by a veth pair (<c>vs</c> in the server's namespace, <c>vc</c> in the clients'), addresses 10.213.X.1/30 and
/// 10.213.X.2/30 inside those namespaces only. Faults are nftables rules in table <c>inet llc</c> of the server's
/// namespace, matched on the veth interface only, so loopback inside the server's namespace (the observer) is never
/// affected. Disposing deletes both namespaces, which deletes the veth pair, the rules and the qdiscs with them.
/// </summary>
public sealed class ChaosNetwork : IAsyncDisposable
{
    public const int ServerPort = 18080;
    private static int _counter;

    private ChaosNetwork(string server, string client, int subnet)
    {
        ServerNs = server;
        ClientNs = client;
        ServerIp = $"10.213.{subnet}.1";
        ClientIp = $"10.213.{subnet}.2";
    }

    public string ServerNs { get; }

    public string ClientNs { get; }

    public string ServerIp { get; }

    public string ClientIp { get; }

    public Uri WebSocketUrl => new($"ws://{ServerIp}:{ServerPort}/ws");

    public Uri HealthUrl => new($"http://{ServerIp}:{ServerPort}/healthz");

    public static async Task<ChaosNetwork> CreateAsync()
    {
        await Shell.RequirePrivilegesAsync();
        await SweepLeftoversAsync();
        var pid = Environment.ProcessId;
        var n = Interlocked.Increment(ref _counter);
        var net = new ChaosNetwork($"llc-srv-{pid}-{n}", $"llc-cli-{pid}-{n}", (pid + n) % 250 + 1);
        try
        {
            await Shell.MustAsync("ip", "netns", "add", net.ServerNs);
            await Shell.MustAsync("ip", "netns", "add", net.ClientNs);
            await Shell.MustAsync("ip", "-n", net.ServerNs, "link", "add", "vs", "type", "veth", "peer", "name", "vc", "netns", net.ClientNs);
            await Shell.MustAsync("ip", "-n", net.ServerNs, "addr", "add", net.ServerIp + "/30", "dev", "vs");
            await Shell.MustAsync("ip", "-n", net.ClientNs, "addr", "add", net.ClientIp + "/30", "dev", "vc");
            foreach (var (ns, dev) in new[] { (net.ServerNs, "vs"), (net.ClientNs, "vc") })
            {
                await Shell.MustAsync("ip", "-n", ns, "link", "set", "lo", "up");
                await Shell.MustAsync("ip", "-n", ns, "link", "set", dev, "up");
            }

            await net.NftAsync("add table inet llc");
            await net.NftAsync("add chain inet llc input { type filter hook input priority 0 ; policy accept ; }");
            await net.NftAsync("add chain inet llc output { type filter hook output priority 0 ; policy accept ; }");
            return net;
        }
        catch
        {
            await net.DisposeAsync();
            throw;
        }
    }

    /// <summary>Deletes <c>llc-*</c> namespaces left by an earlier test process that is gone (a crash, a kill -9).</summary>
    public static async Task SweepLeftoversAsync()
    {
        var list = await Shell.MustAsync("ip", "netns", "list");
        foreach (var name in list.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]))
        {
            var parts = name.Split('-');
            if (parts.Length == 4 && parts[0] == "llc" && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var owner)
                && owner != Environment.ProcessId && !Directory.Exists($"/proc/{owner}"))
            {
                await DeleteAsync(name);
            }
        }
    }

    /// <summary>100% loss both ways on the veth (what netem loss 100% would do).</summary>
    public Task DropAllAsync() => RulesAsync("iifname \"vs\" drop", "oifname \"vs\" drop");

    /// <summary>Packets from the clients to the server are lost; the server can still send.</summary>
    public Task DropClientToServerAsync() => RulesAsync("iifname \"vs\" drop", null);

    /// <summary>Packets from the server to the clients are lost; the clients can still send.</summary>
    public Task DropServerToClientAsync() => RulesAsync(null, "oifname \"vs\" drop");

    /// <summary>Every TCP segment arriving from the clients is answered with a reset.</summary>
    public Task RejectWithResetAsync() => RulesAsync("iifname \"vs\" meta l4proto tcp reject with tcp reset", null);

    public async Task HealAsync()
    {
        await NftAsync("flush chain inet llc input");
        await NftAsync("flush chain inet llc output");
    }

    /// <summary>Throttles the server's sending side with a token bucket (rate in kbit/s).</summary>
    public Task ThrottleAsync(int kbit) =>
        Shell.MustAsync("ip", "netns", "exec", ServerNs, "tc", "qdisc", "replace", "dev", "vs", "root", "tbf",
            "rate", $"{kbit}kbit", "burst", "4kb", "latency", "400ms");

    public Task UnthrottleAsync() => Shell.MustAsync("ip", "netns", "exec", ServerNs, "tc", "qdisc", "del", "dev", "vs", "root");

    /// <summary>The server namespace's TCP sockets on the server port whose peer is in the clients' namespace: (state, peer).</summary>
    public async Task<List<(string State, string Peer)>> ServerSocketsToClientsAsync()
    {
        var text = await Shell.MustAsync("ip", "netns", "exec", ServerNs, "ss", "-tanH");
        var result = new List<(string, string)>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 5 && f[3].EndsWith($":{ServerPort}", StringComparison.Ordinal) && f[4].StartsWith(ClientIp + ":", StringComparison.Ordinal))
            {
                result.Add((f[0], f[4]));
            }
        }

        return result;
    }

    /// <summary>
    /// The server namespace's sockets on the server port to the clients that a process holds (<c>ss -p</c> names an
    /// owner): what the server still has open. The others are the kernel's orphans (TIME-WAIT, FIN-WAIT-2 after the
    /// process closed its side), which the kernel drops by itself (2 MSL, <c>tcp_fin_timeout</c>).
    /// </summary>
    public async Task<List<(string State, string Peer)>> ServerProcessSocketsToClientsAsync()
    {
        var text = await Shell.MustAsync("ip", "netns", "exec", ServerNs, "ss", "-tanpH");
        var result = new List<(string, string)>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 5 && f[3].EndsWith($":{ServerPort}", StringComparison.Ordinal) && f[4].StartsWith(ClientIp + ":", StringComparison.Ordinal)
                && line.Contains("users:(", StringComparison.Ordinal))
            {
                result.Add((f[0], f[4]));
            }
        }

        return result;
    }

    private async Task RulesAsync(string? input, string? output)
    {
        await HealAsync();
        if (input is not null)
        {
            await NftAsync("add rule inet llc input " + input);
        }

        if (output is not null)
        {
            await NftAsync("add rule inet llc output " + output);
        }
    }

    private Task NftAsync(string command) =>
        Shell.MustAsync("ip", ["netns", "exec", ServerNs, "nft", .. command.Split(' ')]);

    public async ValueTask DisposeAsync()
    {
        await DeleteAsync(ServerNs);
        await DeleteAsync(ClientNs);
    }

    /// <summary>
    /// Kills what still runs inside the namespace (a server or agent the test started, orphaned when a test host
    /// died) so that it cannot keep the namespace alive, then deletes it (which deletes its veth end and rules).
    /// </summary>
    private static async Task DeleteAsync(string name)
    {
        try
        {
            var (code, pids, _) = await Shell.RunAsync("ip", ["netns", "pids", name]);
            if (code == 0)
            {
                foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                    {
                        try
                        {
                            using var p = System.Diagnostics.Process.GetProcessById(id);
                            p.Kill();
                        }
                        catch (ArgumentException)
                        {
                        }
                        catch (InvalidOperationException)
                        {
                        }
                    }
                }
            }
        }
        catch (TimeoutException)
        {
        }

        await Shell.TryAsync("ip", "netns", "delete", name);
    }
}
