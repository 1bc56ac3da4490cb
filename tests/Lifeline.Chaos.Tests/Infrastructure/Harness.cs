using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Lifeline.Chaos.Tests.Infrastructure;

/// <summary>
/// One scenario's world: the namespaces, <c>lifeline serve</c> in the server's namespace, an observer agent next to it
/// (user <c>obs</c>, on the server namespace's own stack, never behind a fault), and an agent of clients in the
/// clients' namespace. Disposing removes all of it, also when the test failed.
/// </summary>
public sealed class Harness : IAsyncDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    /// <summary>The server's handshake timeout (its default): also what Kestrel gives a connection that sends no request.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly ITestOutputHelper _output;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private Harness(ITestOutputHelper output, NetworkPair net) => (_output, Net) = (output, net);

    public NetworkPair Net { get; }

    public ServerProcess Server { get; private set; } = null!;

    private string[] _serverArgs = [];

    private int _seed;

    public AgentProcess Observer { get; private set; } = null!;

    public AgentProcess Clients { get; set; } = null!;

    public string[] Channels { get; private set; } = [];

    public string[] Users { get; private set; } = [];

    public static Task<Harness> StartAsync(ITestOutputHelper output, int clients, int channels, int seed, params string[] serverArgs) =>
        StartOnAsync(output, "websocket", clients, channels, seed, serverArgs);

    /// <summary>
    /// As <see cref="StartAsync"/>, with the clients on <paramref name="transport"/>: <c>websocket</c> (LifelineClient),
    /// <c>http-stream</c> or <c>http-poll</c> (the agent's HTTP-transport client). The observer stays on the WebSocket.
    /// </summary>
    public static async Task<Harness> StartOnAsync(ITestOutputHelper output, string transport, int clients, int channels, int seed, params string[] serverArgs)
    {
        var net = await ChaosNetwork.CreateAsync();
        var h = new Harness(output, net);
        try
        {
            h.Channels = [.. Enumerable.Range(0, channels).Select(c => $"chaos:{c}")];
            h.Users = [.. Enumerable.Range(0, clients).Select(c => $"c{c}")];
            h._serverArgs = serverArgs;
            h._seed = seed;
            h.Server = await ServerProcess.StartAsync(net, serverArgs);
            h.Observer = AgentProcess.Start(net.ServerNs);
            await h.Observer.RequestAsync(Start(["obs"], h.Channels, seed, net));
            h.Clients = AgentProcess.Start(net.ClientNs);
            await h.Clients.RequestAsync(Start(h.Users, h.Channels, seed, net, transport));
            h.Say($"namespaces {net.ServerNs} / {net.ClientNs}, server {net.WebSocketUrl} pid {h.Server.Pid}, {clients} clients ({transport}) x {channels} channels, seed {seed}");
            return h;
        }
        catch
        {
            await h.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts a new server process (after the old one was killed) and a new observer next to it.</summary>
    public async Task RestartServerAsync()
    {
        await Server.DisposeAsync();
        Server = await ServerProcess.StartAsync(Net, _serverArgs);
        Observer = AgentProcess.Start(Net.ServerNs);
        await Observer.RequestAsync(Start(["obs"], Channels, _seed, Net));
    }

    public static JsonObject Start(IEnumerable<string> users, IEnumerable<string> channels, int seed, NetworkPair net, string transport = "websocket") => new()
    {
        ["transport"] = transport,
        ["cmd"] = "start",
        ["url"] = net.WebSocketUrl.ToString(),
        ["users"] = new JsonArray([.. users.Select(u => (JsonNode)JsonValue.Create(u))]),
        ["channels"] = new JsonArray([.. channels.Select(u => (JsonNode)JsonValue.Create(u))]),
        ["seed"] = seed,
    };

    public void Say(string text) => _output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F2}] {text}");

    /// <summary>The server's open connections, from its /healthz (asked by the observer, inside the server namespace).</summary>
    public async Task<int> ConnectionsAsync()
    {
        var r = await Observer.RequestAsync(new JsonObject { ["cmd"] = "health", ["url"] = Net.HealthUrl.ToString() });
        return (int)r["body"]!["connections"]!;
    }

    /// <summary>Polls <paramref name="condition"/> every 100 ms until it holds or <paramref name="limit"/> passes; returns the time it took, or null.</summary>
    public static async Task<TimeSpan?> PollAsync(Func<Task<bool>> condition, TimeSpan limit)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < limit)
        {
            if (await condition())
            {
                return sw.Elapsed;
            }

            await Task.Delay(100);
        }

        return await condition() ? sw.Elapsed : null;
    }

    /// <summary>Each client publishes <paramref name="count"/> patches; returns (acked, failed).</summary>
    public async Task<(JsonArray Acked, JsonArray Failed)> PublishAsync(int count, string tag, int timeoutMs = 30000)
    {
        var r = await Clients.RequestAsync(new JsonObject { ["cmd"] = "publish", ["count"] = count, ["tag"] = tag, ["timeoutMs"] = timeoutMs }, TimeSpan.FromMilliseconds(timeoutMs + 10000));
        return (r["acked"]!.AsArray(), r["failed"]!.AsArray());
    }

    /// <summary>Publishes <paramref name="count"/> patches per client in batches of 5 every 100 ms (a steady trickle over a few seconds).</summary>
    public async Task<(JsonArray Acked, JsonArray Failed)> PublishSlowlyAsync(int count, string tag)
    {
        JsonArray acked = [];
        JsonArray failed = [];
        for (var i = 0; i < count / 5; i++)
        {
            var (a, f) = await PublishAsync(5, tag + i);
            foreach (var x in a.ToList())
            {
                acked.Add(x!.DeepClone());
            }

            foreach (var x in f.ToList())
            {
                failed.Add(x!.DeepClone());
            }

            await Task.Delay(100); // pacing of the load, not synchronisation
        }

        return (acked, failed);
    }

    /// <summary>
    /// The invariants at rest: every client of <paramref name="agent"/> is open with nothing pending, at the server's
    /// position of every channel (a fresh subscription by the observer = the server's state) with an equal state, no
    /// offset skipped or applied twice, and every acknowledged publish is in the state exactly once.
    /// </summary>
    public async Task AssertConvergedAsync(AgentProcess agent, IEnumerable<JsonNode?> acknowledged, TimeSpan limit, bool singleEpoch = true)
    {
        var fresh = (await Observer.RequestAsync(new JsonObject
        {
            ["cmd"] = "fresh", ["url"] = Net.WebSocketUrl.ToString(), ["channels"] = new JsonArray([.. Channels.Select(c => (JsonNode)JsonValue.Create(c))]),
        }))["channels"]!.AsArray().ToDictionary(c => (string)c!["name"]!, c => c!.AsObject());
        JsonArray clients = [];
        var converged = await PollAsync(
            async () =>
            {
                clients = (await agent.RequestAsync(new JsonObject { ["cmd"] = "status" }))["clients"]!.AsArray();
                return clients.All(c => (string?)c!["state"] == "Open" && (int)c["pending"]! == 0
                    && c["channels"]!.AsArray().All(ch =>
                        (string?)ch!["epoch"] == (string?)fresh[(string)ch["name"]!]["epoch"]
                        && (long?)ch["offset"] == (long?)fresh[(string)ch["name"]!]["offset"]));
            },
            limit);
        Assert.True(converged is not null, $"clients did not reach the server's position within {limit}: {clients.ToJsonString()[..Math.Min(2000, clients.ToJsonString().Length)]}\nserver: {string.Join(", ", fresh.Values.Select(f => $"{f["name"]}@{f["epoch"]}:{f["offset"]}"))}");
        foreach (var c in clients)
        {
            foreach (var ch in c!["channels"]!.AsArray())
            {
                var name = (string)ch!["name"]!;
                Assert.True(ch["violations"]!.AsArray().Count == 0, $"{c["user"]} {name}: {ch["violations"]!.ToJsonString()}");
                Assert.True(JsonNode.DeepEquals(fresh[name]["state"], ch["state"]), $"{c["user"]} {name}: state differs from the server's");
            }
        }

        foreach (var group in acknowledged.GroupBy(a => (string)a!["ch"]!))
        {
            var state = fresh[group.Key]["state"]!;
            var log = state["log"]?.AsObject();
            var missing = group.Where(a => log is null || !log.ContainsKey((string)a!["m"]!)).Select(a => (string)a!["m"]!).ToList();
            Assert.True(missing.Count == 0, $"{group.Key}: acknowledged publishes missing: {string.Join(", ", missing.Take(10))}");
            var shared = group.GroupBy(a => (long)a!["o"]!).Where(g => g.Count() > 1).ToList();
            Assert.True(shared.Count == 0, $"{group.Key}: two publishes acknowledged with one offset");
        }

        // Exactly once: within the current epoch, the offset equals the number of distinct markers.
        foreach (var (name, f) in fresh)
        {
            var markers = f["state"]?["log"]?.AsObject().Count ?? 0;
            if (singleEpoch)
            {
                Assert.True(markers == (long)f["offset"]!, $"{name}: offset {f["offset"]} but {markers} distinct markers: a patch was applied more than once (or lost)");
            }
        }

        Say($"converged: {clients.Count} clients at {string.Join(", ", fresh.Values.Select(f => $"{f["name"]}@{((string)f["epoch"]!)[..Math.Min(8, ((string)f["epoch"]!).Length)]}:{f["offset"]}"))}");
    }

    public async ValueTask DisposeAsync()
    {
        if (Clients is not null)
        {
            await Clients.DisposeAsync();
        }

        if (Observer is not null)
        {
            await Observer.DisposeAsync();
        }

        if (Server is not null)
        {
            await Server.DisposeAsync();
        }

        await Net.DisposeAsync();
    }
}
