using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;

namespace Lifeline.NetLab;

/// <summary>
/// The names and addresses of a <see cref="NetworkPair"/>. The namespaces are <c>{Prefix}-{ServerRole}-PID-N</c> and
/// <c>{Prefix}-{ClientRole}-PID-N</c>; the veth ends get <c>{Subnet}.X.1/30</c> and <c>{Subnet}.X.2/30</c>.
/// </summary>
/// <param name="Prefix">Namespace prefix, without '-' (the chaos suite: <c>llc</c>; bench: <c>benchnet</c>).</param>
/// <param name="Subnet">The first two octets of the /30 (the chaos suite: <c>10.213</c>; bench: <c>10.214</c>), so two users of the lab never collide.</param>
public sealed record NetworkPairOptions(string Prefix, string Subnet)
{
    /// <summary>The server namespace's middle name.</summary>
    public string ServerRole { get; init; } = "srv";

    /// <summary>The clients namespace's middle name.</summary>
    public string ClientRole { get; init; } = "cli";

    /// <summary>The veth end in the server's namespace.</summary>
    public string ServerDevice { get; init; } = "vs";

    /// <summary>The veth end in the clients' namespace.</summary>
    public string ClientDevice { get; init; } = "vc";

    /// <summary>The nftables table (family inet) in the server's namespace that holds the fault rules.</summary>
    public string NftTable => Prefix;
}

/// <summary>
/// Two network namespaces created for one test or run, the server's and the clients', joined by a veth pair with a /30
/// inside those namespaces only. Faults are nftables rules in table <c>inet {Prefix}</c> of the server's namespace,
/// matched on the veth only, so loopback inside the server's namespace is never affected. Disposing deletes both
/// namespaces (what still runs inside is killed first), which deletes the veth pair, the rules and the qdiscs with them;
/// so do process exit and, at the next start, the sweep of namespaces whose owner process is gone.
/// </summary>
public sealed class NetworkPair : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<string, byte> Live = new();
    private static int _counter;
    private readonly NetworkPairOptions _options;
    private SafeFileHandle? _ownNs;
    private SafeFileHandle? _clientNsHandle;

    static NetworkPair() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var name in Live.Keys)
        {
            Delete(name);
        }
    };

    private NetworkPair(NetworkPairOptions options, int n)
    {
        _options = options;
        var pid = Environment.ProcessId;
        ServerNs = $"{options.Prefix}-{options.ServerRole}-{pid}-{n}";
        ClientNs = $"{options.Prefix}-{options.ClientRole}-{pid}-{n}";
        var subnet = (pid + n) % 250 + 1;
        ServerAddress = IPAddress.Parse($"{options.Subnet}.{subnet}.1");
        ClientAddress = IPAddress.Parse($"{options.Subnet}.{subnet}.2");
    }

    /// <summary>The server's namespace.</summary>
    public string ServerNs { get; }

    /// <summary>The clients' namespace.</summary>
    public string ClientNs { get; }

    /// <summary>The server end's address.</summary>
    public IPAddress ServerAddress { get; }

    /// <summary>The clients end's address.</summary>
    public IPAddress ClientAddress { get; }

    /// <summary>The server end's address as text.</summary>
    public string ServerIp => ServerAddress.ToString();

    /// <summary>The clients end's address as text.</summary>
    public string ClientIp => ClientAddress.ToString();

    private string ServerDevice => _options.ServerDevice;

    private string Table => _options.NftTable;

    /// <summary>
    /// Creates the pair. Throws when this process may not (not root, <c>ip</c> or <c>nft</c> missing): callers that
    /// want a clearer message check <see cref="Shell.MissingPrivileges"/> first.
    /// </summary>
    public static async Task<NetworkPair> CreateAsync(NetworkPairOptions options)
    {
        await SweepLeftoversAsync(options.Prefix);
        var net = new NetworkPair(options, Interlocked.Increment(ref _counter));
        Live[net.ServerNs] = 0;
        Live[net.ClientNs] = 0;
        try
        {
            await Shell.MustAsync("ip", "netns", "add", net.ServerNs);
            await Shell.MustAsync("ip", "netns", "add", net.ClientNs);
            await Shell.MustAsync("ip", "-n", net.ServerNs, "link", "add", options.ServerDevice, "type", "veth", "peer", "name", options.ClientDevice, "netns", net.ClientNs);
            await Shell.MustAsync("ip", "-n", net.ServerNs, "addr", "add", net.ServerIp + "/30", "dev", options.ServerDevice);
            await Shell.MustAsync("ip", "-n", net.ClientNs, "addr", "add", net.ClientIp + "/30", "dev", options.ClientDevice);
            foreach (var (ns, dev) in new[] { (net.ServerNs, options.ServerDevice), (net.ClientNs, options.ClientDevice) })
            {
                await Shell.MustAsync("ip", "-n", ns, "link", "set", "lo", "up");
                await Shell.MustAsync("ip", "-n", ns, "link", "set", dev, "up");
            }

            await net.NftAsync($"add table inet {net.Table}");
            await net.NftAsync($"add chain inet {net.Table} input {{ type filter hook input priority 0 ; policy accept ; }}");
            await net.NftAsync($"add chain inet {net.Table} output {{ type filter hook output priority 0 ; policy accept ; }}");
            net._ownNs = File.OpenHandle("/proc/thread-self/ns/net");
            net._clientNsHandle = File.OpenHandle("/run/netns/" + net.ClientNs);
            return net;
        }
        catch
        {
            await net.DisposeAsync();
            throw;
        }
    }

    /// <summary>Deletes <c>{prefix}-*</c> namespaces left by an earlier process that is gone (a crash, a kill -9).</summary>
    public static async Task SweepLeftoversAsync(string prefix)
    {
        var list = await Shell.MustAsync("ip", "netns", "list");
        foreach (var name in list.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]))
        {
            var parts = name.Split('-');
            if (parts.Length == 4 && parts[0] == prefix && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var owner)
                && owner != Environment.ProcessId && !Directory.Exists($"/proc/{owner}"))
            {
                Delete(name);
            }
        }
    }

    /// <summary>100% loss both ways on the veth (what netem loss 100% would do).</summary>
    public Task DropAllAsync() => RulesAsync($"iifname \"{ServerDevice}\" drop", $"oifname \"{ServerDevice}\" drop");

    /// <summary>Packets from the clients to the server are lost; the server can still send.</summary>
    public Task DropClientToServerAsync() => RulesAsync($"iifname \"{ServerDevice}\" drop", null);

    /// <summary>Packets from the server to the clients are lost; the clients can still send.</summary>
    public Task DropServerToClientAsync() => RulesAsync(null, $"oifname \"{ServerDevice}\" drop");

    /// <summary>Every TCP segment arriving from the clients is answered with a reset.</summary>
    public Task RejectWithResetAsync() => RulesAsync($"iifname \"{ServerDevice}\" meta l4proto tcp reject with tcp reset", null);

    /// <summary>Removes every fault rule.</summary>
    public async Task HealAsync()
    {
        await NftAsync($"flush chain inet {Table} input");
        await NftAsync($"flush chain inet {Table} output");
    }

    /// <summary>
    /// Drops every packet both ways on the veth, in one nft transaction, timed: <c>nft -f -</c> is started and given the
    /// rules first; closing its input commits them, so the returned cut time (Stopwatch, taken just before that) is off by
    /// the commit alone, not by process start-up. Also returns how long the commit took (the uncertainty of the cut).
    /// </summary>
    public async Task<(long Cut, TimeSpan Commit)> DropAllAtCommitAsync()
    {
        var info = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "netns", "exec", ServerNs, "nft", "-f", "-" })
        {
            info.ArgumentList.Add(arg);
        }

        using var nft = Process.Start(info) ?? throw new InvalidOperationException("cannot start nft");
        var stderr = nft.StandardError.ReadToEndAsync();
        await nft.StandardInput.WriteAsync($"add rule inet {Table} input iifname \"{ServerDevice}\" drop\nadd rule inet {Table} output oifname \"{ServerDevice}\" drop\n");
        await nft.StandardInput.FlushAsync();
        await Task.Delay(300); // nft has started and waits for the end of its input
        var cut = Stopwatch.GetTimestamp();
        nft.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await nft.WaitForExitAsync(cts.Token);
        var commit = Stopwatch.GetElapsedTime(cut);
        return nft.ExitCode == 0 ? (cut, commit) : throw new InvalidOperationException($"nft exited with {nft.ExitCode}: {await stderr}");
    }

    /// <summary>Throttles the server's sending side with a token bucket (rate in kbit/s).</summary>
    public Task ThrottleAsync(int kbit) =>
        Shell.MustAsync("ip", "netns", "exec", ServerNs, "tc", "qdisc", "replace", "dev", ServerDevice, "root", "tbf",
            "rate", $"{kbit}kbit", "burst", "4kb", "latency", "400ms");

    /// <summary>Removes the throttle.</summary>
    public Task UnthrottleAsync() => Shell.MustAsync("ip", "netns", "exec", ServerNs, "tc", "qdisc", "del", "dev", ServerDevice, "root");

    /// <summary>
    /// The server namespace's TCP sockets on <paramref name="serverPort"/> whose peer is in the clients' namespace:
    /// (state, peer). With <paramref name="ownedOnly"/>, only those a process holds (<c>ss -p</c> names an owner): what
    /// the server still has open; the others are the kernel's orphans (TIME-WAIT, FIN-WAIT-2), which it drops by itself.
    /// </summary>
    public async Task<List<(string State, string Peer)>> ServerSocketsToClientsAsync(int serverPort, bool ownedOnly = false)
    {
        var text = await Shell.MustAsync("ip", "netns", "exec", ServerNs, "ss", ownedOnly ? "-tanpH" : "-tanH");
        var result = new List<(string, string)>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 5 && f[3].EndsWith($":{serverPort}", StringComparison.Ordinal) && f[4].StartsWith(ClientIp + ":", StringComparison.Ordinal)
                && (!ownedOnly || line.Contains("users:(", StringComparison.Ordinal)))
            {
                result.Add((f[0], f[4]));
            }
        }

        return result;
    }

    /// <summary>A TCP socket created in the clients' namespace (this thread enters it for the socket() call only).</summary>
    public Socket CreateClientSocket()
    {
        Native.EnterNetworkNamespace(_clientNsHandle ?? throw new ObjectDisposedException(nameof(NetworkPair)));
        try
        {
            return new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        }
        finally
        {
            try
            {
                Native.EnterNetworkNamespace(_ownNs!);
            }
            catch (IOException ex)
            {
                Environment.FailFast("could not return to this process's network namespace", ex);
            }
        }
    }

    /// <summary>Deletes both namespaces (killing what still runs inside them first).</summary>
    public async ValueTask DisposeAsync()
    {
        _clientNsHandle?.Dispose();
        _ownNs?.Dispose();
        await Task.Run(() =>
        {
            Delete(ServerNs);
            Delete(ClientNs);
        });
    }

    private async Task RulesAsync(string? input, string? output)
    {
        await HealAsync();
        if (input is not null)
        {
            await NftAsync($"add rule inet {Table} input " + input);
        }

        if (output is not null)
        {
            await NftAsync($"add rule inet {Table} output " + output);
        }
    }

    private Task NftAsync(string command) =>
        Shell.MustAsync("ip", ["netns", "exec", ServerNs, "nft", .. command.Split(' ')]);

    /// <summary>
    /// Kills what still runs inside the namespace (a server or agent started there, orphaned when its owner died) so
    /// that it cannot keep the namespace alive, then deletes it (which deletes its veth end and rules).
    /// </summary>
    private static void Delete(string name)
    {
        Live.TryRemove(name, out _);
        if (!File.Exists("/run/netns/" + name))
        {
            return;
        }

        foreach (var pid in PidsIn(name))
        {
            _ = Native.Signal(pid, Native.SigKill);
        }

        Shell.Try("ip", "netns", "delete", name);
    }

    private static List<int> PidsIn(string name)
    {
        try
        {
            var (_, stdout, _) = Shell.RunAsync("ip", ["netns", "pids", name]).GetAwaiter().GetResult();
            return [.. stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : 0)
                .Where(id => id > 0)];
        }
        catch (TimeoutException)
        {
            return [];
        }
    }
}
