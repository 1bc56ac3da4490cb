using System.Diagnostics;
using System.Text.Json.Nodes;
using Lifeline.Chaos.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Lifeline.Chaos.Tests;

/// <summary>The chaos tests change the kernel's network state: they run alone, one at a time.</summary>
[CollectionDefinition(nameof(ChaosCollection), DisableParallelization = true)]
public sealed class ChaosCollection;

/// <summary>
/// Faults in the kernel, not mocks (issue 5): the server (<c>lifeline serve</c>) and its clients run in two network
/// namespaces joined by a veth pair; nftables rules cut the link, one direction or both; processes get SIGKILL.
/// Heartbeat 1 s / 1 s, presence grace 2 s. Run one scenario: <c>dotnet test tests/Lifeline.Chaos.Tests --filter Name~Partition</c>.
/// </summary>
[Collection(nameof(ChaosCollection))]
public sealed class ChaosTests(ITestOutputHelper output)
{
    private const int Seed = 5;

    /// <summary>The bound the issue sets for the server's teardown of a dead connection: interval + timeout + 1 s.</summary>
    private static readonly TimeSpan TeardownBound = Harness.Interval + Harness.Timeout + TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Scenario1_FullPartition_LongerThanHeartbeat_ServerTearsDown_LeaveOnce_ClientsReconnectAndConverge()
    {
        await using var h = await Harness.StartAsync(output, clients: 5, channels: 2, seed: Seed);
        var acked = new List<JsonNode?>();
        var (a, f) = await h.PublishAsync(10, "before");
        Assert.Empty(f);
        acked.AddRange(a);
        Assert.Equal(h.Users.Length + 1, await h.ConnectionsAsync());
        Assert.Equal(h.Users.Length, (await h.Net.ServerSocketsToClientsAsync()).Count(s => s.State == "ESTAB"));

        var cut = Stopwatch.StartNew();
        await h.Net.DropAllAsync();
        h.Say("partition: 100% loss both ways");
        var gone = await Harness.PollAsync(async () => await h.ConnectionsAsync() == 1, TeardownBound + TimeSpan.FromSeconds(3));
        var socketsGone = await Harness.PollAsync(async () => (await h.Net.ServerSocketsToClientsAsync()).Count == 0, TimeSpan.FromSeconds(5));
        h.Say($"server teardown (healthz connections back to the observer's 1) after {Ms(gone)} ms; no server socket to the clients after {Ms(cut.Elapsed)} ms total");
        Assert.True(gone is not null && gone <= TeardownBound, $"teardown took {Ms(gone)} ms, bound {TeardownBound.TotalMilliseconds} ms");
        Assert.True(socketsGone is not null, "server sockets to the clients remain: " + string.Join(", ", await h.Net.ServerSocketsToClientsAsync()));

        // While still cut off: the observer sees one leave per user (after the 2 s grace), the clients' watchdogs fire.
        foreach (var u in h.Users)
        {
            Assert.NotNull(await h.Observer.WaitForEventAsync(e => IsLeave(e, u), TimeSpan.FromSeconds(6)));
            Assert.NotNull(await h.Clients.WaitForEventAsync(e => (string?)e["user"] == u && (string?)e["new"] == "Reconnecting", TimeSpan.FromSeconds(6)));
        }

        h.Say($"leaves seen by the observer and every client's watchdog fired; healing after {Ms(cut.Elapsed)} ms");
        var watchdogs = h.Clients.Events.Where(e => (string?)e["new"] == "Reconnecting").Select(e => (string?)e["reason"]).Distinct().ToList();
        var healedAt = h.Clients.Events.Count;
        await h.Net.HealAsync();
        foreach (var u in h.Users)
        {
            Assert.NotNull(await h.Clients.WaitForEventAsync(e => (string?)e["user"] == u && (string?)e["new"] == "Open" && h.Clients.Events.IndexOf(e) >= 0 && (string?)e["old"] == "Reconnecting", TimeSpan.FromSeconds(15)));
        }

        h.Say($"every client open again {Ms(cut.Elapsed)} ms after the cut; reconnect reasons {string.Join("/", watchdogs)}; " +
            $"open reasons {string.Join("/", h.Clients.Events.Skip(healedAt).Where(e => (string?)e["new"] == "Open").Select(e => (string?)e["reason"]).Distinct())}");
        (a, f) = await h.PublishAsync(10, "after");
        Assert.Empty(f);
        acked.AddRange(a);
        await h.AssertConvergedAsync(h.Clients, acked, TimeSpan.FromSeconds(15));
        foreach (var u in h.Users)
        {
            var leaves = h.Observer.Events.Count(e => IsLeave(e, u));
            Assert.True(leaves == 1, $"{u}: the observer saw {leaves} leaves, expected exactly 1");
        }
    }

    [Fact]
    public async Task Scenario2_ShortLoss_BelowTheTimeout_NoTeardown_NoReconnect_NoLoss()
    {
        await using var h = await Harness.StartAsync(output, clients: 5, channels: 2, seed: Seed);
        var before = (await h.Net.ServerSocketsToClientsAsync()).Select(s => s.Peer).Order().ToList();
        var eventsBefore = h.Clients.Events.Count;
        var publishing = h.PublishAsync(20, "during");
        var random = new Random(Seed);
        for (var i = 0; i < 3; i++)
        {
            await Task.Delay(random.Next(100, 300));
            await h.Net.DropAllAsync();
            await Task.Delay(500); // the fault's duration (not synchronisation): 0.5 s < the 1 s timeout
            await h.Net.HealAsync();
        }

        var (acked, failed) = await publishing;
        Assert.Empty(failed);
        h.Say($"3 losses of 500 ms during {acked.Count} publishes");
        await h.AssertConvergedAsync(h.Clients, acked, TimeSpan.FromSeconds(10));
        var after = (await h.Net.ServerSocketsToClientsAsync()).Select(s => s.Peer).Order().ToList();
        Assert.Equal(before, after); // the same TCP connections: nothing was torn down
        Assert.Equal(h.Users.Length + 1, await h.ConnectionsAsync());
        Assert.Equal(eventsBefore, h.Clients.Events.Count(e => (string?)e["ev"] == "state"));
        Assert.DoesNotContain(h.Observer.Events, e => (string?)e["kind"] == "leave");
    }

    [Theory]
    [InlineData("client-to-server")]
    [InlineData("server-to-client")]
    public async Task Scenario3_OneWayLoss_ServerTearsDown_ClientsRecover(string direction)
    {
        await using var h = await Harness.StartAsync(output, clients: 5, channels: 2, seed: Seed);
        var acked = new List<JsonNode?>();
        var (a, f) = await h.PublishAsync(10, "before");
        Assert.Empty(f);
        acked.AddRange(a);
        var cut = Stopwatch.StartNew();
        await (direction == "client-to-server" ? h.Net.DropClientToServerAsync() : h.Net.DropServerToClientAsync());
        h.Say($"one-way loss {direction}");
        var gone = await Harness.PollAsync(async () => await h.ConnectionsAsync() == 1, TeardownBound + TimeSpan.FromSeconds(3));
        // SYN-RECV: a client's reconnect attempt whose SYN-ACK the fault drops; not a connection the server holds.
        var socketsGone = await Harness.PollAsync(async () => (await h.Net.ServerSocketsToClientsAsync()).All(s => s.State == "SYN-RECV"), TimeSpan.FromSeconds(5));
        h.Say($"server teardown after {Ms(gone)} ms; no established/closing server socket after {Ms(cut.Elapsed)} ms");
        Assert.True(gone is not null && gone <= TeardownBound, $"teardown took {Ms(gone)} ms, bound {TeardownBound.TotalMilliseconds} ms");
        Assert.True(socketsGone is not null, "server sockets remain: " + string.Join(", ", await h.Net.ServerSocketsToClientsAsync()));
        foreach (var u in h.Users)
        {
            Assert.NotNull(await h.Clients.WaitForEventAsync(e => (string?)e["user"] == u && (string?)e["new"] == "Reconnecting", TimeSpan.FromSeconds(6)));
        }

        var watchdogAt = cut.Elapsed;
        var publishing = h.PublishAsync(5, "queued"); // made while disconnected: queued, flushed after the reconnect
        await h.Net.HealAsync();
        h.Say($"every client lost its connection by {Ms(watchdogAt)} ms; healed");
        (a, f) = await publishing;
        Assert.Empty(f);
        acked.AddRange(a);
        await h.AssertConvergedAsync(h.Clients, acked, TimeSpan.FromSeconds(15));
        h.Say($"recovered {Ms(cut.Elapsed)} ms after the cut; open reasons {string.Join("/", h.Clients.Events.Where(e => (string?)e["old"] == "Reconnecting").Select(e => (string?)e["reason"]).Distinct())}");
    }

    [Fact]
    public async Task Scenario5_ClientProcessesKilled_NoCloseWait_ServerMemoryReturnsToBaseline()
    {
        const int Cycles = 6;
        const int ClientsPerCycle = 20;
        await using var h = await Harness.StartAsync(output, clients: 1, channels: 2, seed: Seed);
        long baseline = 0;
        var closeWaitSeen = 0;
        var rss = new List<long>();
        for (var cycle = 0; cycle < Cycles; cycle++)
        {
            var agent = AgentProcess.Start(h.Net.ClientNs);
            try
            {
                await agent.RequestAsync(Harness.Start(Enumerable.Range(0, ClientsPerCycle).Select(i => $"k{cycle}-{i}"), h.Channels, Seed + cycle, h.Net));
                await agent.RequestAsync(new JsonObject { ["cmd"] = "publish", ["count"] = 10, ["tag"] = $"k{cycle}" });
                Assert.Equal(ClientsPerCycle + 2, await h.ConnectionsAsync());
            }
            finally
            {
                await agent.KillAsync(); // SIGKILL: the kernel closes its sockets, the process sends nothing
                await agent.DisposeAsync();
            }

            var killed = Stopwatch.StartNew();
            var settled = await Harness.PollAsync(
                async () =>
                {
                    var sockets = await h.Net.ServerSocketsToClientsAsync();
                    closeWaitSeen = Math.Max(closeWaitSeen, killed.Elapsed > TimeSpan.FromSeconds(1) ? sockets.Count(s => s.State == "CLOSE-WAIT") : 0);
                    return sockets.Count(s => s.State != "TIME-WAIT") == 1 && await h.ConnectionsAsync() == 2;
                },
                TimeSpan.FromSeconds(10));
            Assert.True(settled is not null, $"cycle {cycle}: the server still holds connections of killed clients: {string.Join(", ", await h.Net.ServerSocketsToClientsAsync())}");
            var sockets = await h.Net.ServerSocketsToClientsAsync();
            Assert.Equal(0, sockets.Count(s => s.State == "CLOSE-WAIT"));
            rss.Add(h.Server.RssKb());
            if (cycle == 1)
            {
                baseline = rss[^1]; // after one warm-up cycle (JIT, pools)
            }

            h.Say($"cycle {cycle}: {ClientsPerCycle} clients killed, server clean after {Ms(settled)} ms, VmRSS {rss[^1] / 1024} MB");
        }

        Assert.Equal(0, closeWaitSeen);
        // Bounded growth: after the warm-up cycle, VmRSS may grow by at most 25% + 16 MB over the remaining cycles.
        var bound = baseline + (baseline / 4) + (16 * 1024);
        h.Say($"VmRSS baseline {baseline / 1024} MB, final {rss[^1] / 1024} MB, bound {bound / 1024} MB");
        Assert.True(rss[^1] <= bound, $"server VmRSS {rss[^1]} kB after {Cycles} kill cycles exceeds the bound {bound} kB (baseline {baseline} kB)");
    }

    private static bool IsLeave(JsonObject e, string user) =>
        (string?)e["ev"] == "presence" && (string?)e["kind"] == "leave" && (string?)e["who"] == user && (string?)e["channel"] == "chaos:0";

    private static string Ms(TimeSpan? t) => t is null ? "(never)" : ((long)t.Value.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
