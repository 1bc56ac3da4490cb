using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;

namespace Lifeline.Bench.Net;

/// <summary>
/// Two network namespaces for one run, <c>benchnet-s-PID-N</c> (the server) and <c>benchnet-c-PID-N</c> (the
/// generator's clients), joined by a veth pair (<c>bns</c> / <c>bnc</c>) with 10.214.X.1/30 and 10.214.X.2/30 inside
/// those namespaces only (the approach of tests/Lifeline.Chaos.Tests). The server runs under <c>ip netns exec</c>; the
/// clients' sockets are created by this process on a thread that enters the clients' namespace for the socket() call
/// only (<see cref="CreateClientSocket"/>). Faults are nftables rules in table <c>inet benchnet</c> of the server's
/// namespace on the veth only. Disposing deletes both namespaces (and with them the veth, the rules and any leftover
/// process is killed first); so do process exit and the sweep of dead owners' namespaces at the next start.
/// </summary>
internal sealed class Namespaces : IAsyncDisposable
{
    private const string Prefix = "benchnet-";
    private static readonly ConcurrentDictionary<string, byte> Live = new();
    private static int _counter;
    private readonly SafeFileHandle _ownNs;
    private SafeFileHandle? _clientNs;

    static Namespaces() => AppDomain.CurrentDomain.ProcessExit += (_, _) => DeleteAllLive();

    private Namespaces(string server, string client, int subnet)
    {
        ServerNs = server;
        ClientNs = client;
        ServerIp = IPAddress.Parse($"10.214.{subnet}.1");
        ClientIp = IPAddress.Parse($"10.214.{subnet}.2");
        _ownNs = File.OpenHandle("/proc/thread-self/ns/net");
    }

    public string ServerNs { get; }

    public string ClientNs { get; }

    public IPAddress ServerIp { get; }

    public IPAddress ClientIp { get; }

    /// <summary>What to put before a command to run it in the server's namespace.</summary>
    public IReadOnlyList<string> ServerPrefix => ["ip", "netns", "exec", ServerNs];

    public static async Task<Namespaces> CreateAsync()
    {
        await SweepLeftoversAsync();
        var pid = Environment.ProcessId;
        var n = Interlocked.Increment(ref _counter);
        var names = new Namespaces($"{Prefix}s-{pid}-{n}", $"{Prefix}c-{pid}-{n}", (pid + n) % 250 + 1);
        Live[names.ServerNs] = 0;
        Live[names.ClientNs] = 0;
        try
        {
            await Shell.MustAsync("ip", "netns", "add", names.ServerNs);
            await Shell.MustAsync("ip", "netns", "add", names.ClientNs);
            await Shell.MustAsync("ip", "-n", names.ServerNs, "link", "add", "bns", "type", "veth", "peer", "name", "bnc", "netns", names.ClientNs);
            await Shell.MustAsync("ip", "-n", names.ServerNs, "addr", "add", names.ServerIp + "/30", "dev", "bns");
            await Shell.MustAsync("ip", "-n", names.ClientNs, "addr", "add", names.ClientIp + "/30", "dev", "bnc");
            foreach (var (ns, dev) in new[] { (names.ServerNs, "bns"), (names.ClientNs, "bnc") })
            {
                await Shell.MustAsync("ip", "-n", ns, "link", "set", "lo", "up");
                await Shell.MustAsync("ip", "-n", ns, "link", "set", dev, "up");
            }

            await names.NftAsync("add table inet benchnet");
            await names.NftAsync("add chain inet benchnet input { type filter hook input priority 0 ; policy accept ; }");
            await names.NftAsync("add chain inet benchnet output { type filter hook output priority 0 ; policy accept ; }");
            names._clientNs = File.OpenHandle("/run/netns/" + names.ClientNs);
            return names;
        }
        catch
        {
            await names.DisposeAsync();
            throw;
        }
    }

    /// <summary>A TCP socket created in the clients' namespace (this thread enters it for the socket() call only).</summary>
    public Socket CreateClientSocket()
    {
        Native.EnterNetworkNamespace(_clientNs ?? throw new ObjectDisposedException(nameof(Namespaces)));
        try
        {
            return new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        }
        finally
        {
            try
            {
                Native.EnterNetworkNamespace(_ownNs);
            }
            catch (IOException ex)
            {
                Environment.FailFast("could not return to the generator's network namespace", ex);
            }
        }
    }

    /// <summary>
    /// Drops every packet both ways on the veth, in one nft transaction. <c>nft -f -</c> is started and given the rules
    /// first; closing its input commits them, so the returned cut time (Stopwatch, taken just before that) is off by the
    /// commit alone, not by process start-up. Also returns how long the commit took (the uncertainty of the cut).
    /// </summary>
    public async Task<(long Cut, TimeSpan Commit)> DropAllAsync()
    {
        var info = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "netns", "exec", ServerNs, "nft", "-f", "-" })
        {
            info.ArgumentList.Add(arg);
        }

        using var nft = Process.Start(info) ?? throw new InvalidOperationException("cannot start nft");
        var stderr = nft.StandardError.ReadToEndAsync();
        await nft.StandardInput.WriteAsync("add rule inet benchnet input iifname \"bns\" drop\nadd rule inet benchnet output oifname \"bns\" drop\n");
        await nft.StandardInput.FlushAsync();
        await Task.Delay(300); // nft has started and waits for the end of its input
        var cut = Stopwatch.GetTimestamp();
        nft.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await nft.WaitForExitAsync(cts.Token);
        var commit = Stopwatch.GetElapsedTime(cut);
        return nft.ExitCode == 0 ? (cut, commit) : throw new InvalidOperationException($"nft exited with {nft.ExitCode}: {await stderr}");
    }

    public async ValueTask DisposeAsync()
    {
        _clientNs?.Dispose();
        _ownNs.Dispose();
        await Task.Run(() =>
        {
            Delete(ServerNs);
            Delete(ClientNs);
        });
    }

    /// <summary>Deletes <c>benchnet-*</c> namespaces whose owner process is gone (a crash, a kill -9).</summary>
    public static async Task SweepLeftoversAsync()
    {
        var list = await Shell.MustAsync("ip", "netns", "list");
        foreach (var name in list.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]))
        {
            var parts = name.Split('-');
            if (parts.Length == 4 && name.StartsWith(Prefix, StringComparison.Ordinal)
                && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var owner)
                && owner != Environment.ProcessId && !Directory.Exists($"/proc/{owner}"))
            {
                Delete(name);
            }
        }
    }

    private Task NftAsync(string command) => Shell.MustAsync("ip", "netns", "exec", ServerNs, "nft", command);

    private static void DeleteAllLive()
    {
        foreach (var name in Live.Keys)
        {
            Delete(name);
        }
    }

    /// <summary>Kills what still runs inside the namespace, then deletes it (its veth end and rules go with it).</summary>
    private static void Delete(string name)
    {
        Live.TryRemove(name, out _);
        if (!File.Exists("/run/netns/" + name))
        {
            return;
        }

        foreach (var pid in PidsIn(name))
        {
            _ = Native.Signal(pid, 9);
        }

        Shell.Try("ip", "netns", "delete", name);
    }

    private static IEnumerable<int> PidsIn(string name)
    {
        try
        {
            var (_, stdout, _) = Shell.RunAsync("ip", ["netns", "pids", name]).GetAwaiter().GetResult();
            return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : 0)
                .Where(id => id > 0)
                .ToList();
        }
        catch (TimeoutException)
        {
            return [];
        }
    }
}
