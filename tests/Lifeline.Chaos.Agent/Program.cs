// The chaos agent: LifelineClient instances run inside a network namespace (`ip netns exec NS dotnet agent.dll`),
// driven by JSON lines on stdin, answering with JSON lines on stdout. One command per line, handled in order;
// asynchronous events (state changes, presence) are written as they happen.
//
// Commands ({"cmd":...}):
//   start    {url, users:[..], channels:[..], seed, transport?} -> {"ev":"started"} once every client is connected and subscribed
//            transport: "websocket" (default: LifelineClient) or "http-stream" / "http-poll" (HttpMember: the HTTP transport
//            done by hand, since the .NET client has none yet)
//   publish  {count, tag}                                 -> {"ev":"published", acked:[{c,ch,m,o}], failed:[..]}; each client publishes `count` patches round-robin over channels
//   status   {}                                           -> {"ev":"status", clients:[{user,state,pending,channels:[{name,epoch,offset,state,violations}]}]}
//   health   {url}                                        -> {"ev":"health", body} (GET, for the server's /healthz)
//   fresh    {url, channels:[..]}                         -> {"ev":"fresh", channels:[{name,epoch,offset,state}]} (a new client's snapshot = the server's state)
//   quit     {}
// Events: {"ev":"state", user, old, new, reason, code, t}, {"ev":"presence", user, channel, kind, who, t}.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Client;

var output = Console.Out;
var outLock = new Lock();
void Emit(JsonObject o)
{
    var line = o.ToJsonString();
    lock (outLock)
    {
        output.WriteLine(line);
        output.Flush();
    }
}

var members = new List<IAgentMember>();
string? line;
while ((line = await Console.In.ReadLineAsync()) is not null)
{
    if (line.Length == 0)
    {
        continue;
    }

    var cmd = JsonNode.Parse(line)!.AsObject();
    try
    {
        switch ((string?)cmd["cmd"])
        {
            case "start":
            {
                var url = new Uri((string)cmd["url"]!);
                var users = cmd["users"]!.AsArray().Select(u => (string)u!).ToArray();
                var channels = cmd["channels"]!.AsArray().Select(u => (string)u!).ToArray();
                var seed = (int?)cmd["seed"] ?? 1;
                var transport = (string?)cmd["transport"] ?? "websocket";
                var created = users.Select((u, i) => transport == "websocket"
                    ? (IAgentMember)new Member(u, url, channels, seed + i, Emit)
                    : new HttpMember(u, url, channels, seed + i, transport == "http-poll", Emit)).ToList();
                members.AddRange(created);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await Task.WhenAll(created.Select(m => m.StartAsync(cts.Token)));
                Emit(new JsonObject { ["ev"] = "started" });
                break;
            }

            case "publish":
            {
                var count = (int)cmd["count"]!;
                var tag = (string?)cmd["tag"] ?? "p";
                var timeout = TimeSpan.FromMilliseconds((int?)cmd["timeoutMs"] ?? 30000);
                var results = await Task.WhenAll(members.Select(m => m.PublishAsync(count, tag, timeout)));
                var acked = new JsonArray();
                var failed = new JsonArray();
                foreach (var (a, f) in results)
                {
                    foreach (var x in a)
                    {
                        acked.Add(x);
                    }

                    foreach (var x in f)
                    {
                        failed.Add(x);
                    }
                }

                Emit(new JsonObject { ["ev"] = "published", ["acked"] = acked, ["failed"] = failed });
                break;
            }

            case "status":
                Emit(new JsonObject { ["ev"] = "status", ["clients"] = new JsonArray([.. members.Select(m => (JsonNode)m.Status())]) });
                break;

            case "health":
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
                var body = await http.GetStringAsync(new Uri((string)cmd["url"]!));
                Emit(new JsonObject { ["ev"] = "health", ["body"] = JsonNode.Parse(body) });
                break;
            }

            case "fresh":
            {
                var url = new Uri((string)cmd["url"]!);
                var channels = cmd["channels"]!.AsArray().Select(u => (string)u!).ToArray();
                await using var client = new LifelineClient(url, new LifelineClientOptions { Token = "fresh-" + Guid.NewGuid().ToString("N")[..8] });
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
                await client.ConnectAsync(cts.Token);
                var result = new JsonArray();
                foreach (var name in channels)
                {
                    var ch = client.Channel(name);
                    await ch.SubscribeAsync(cts.Token);
                    result.Add(new JsonObject
                    {
                        ["name"] = name,
                        ["epoch"] = ch.Position?.Epoch,
                        ["offset"] = ch.Position?.Offset,
                        ["state"] = JsonNode.Parse(ch.GetState().GetRawText()),
                    });
                }

                await client.CloseAsync();
                Emit(new JsonObject { ["ev"] = "fresh", ["channels"] = result });
                break;
            }

            case "quit":
                foreach (var m in members)
                {
                    await m.DisposeAsync();
                }

                Emit(new JsonObject { ["ev"] = "bye" });
                return 0;

            default:
                Emit(new JsonObject { ["ev"] = "error", ["message"] = "unknown command " + line });
                break;
        }
    }
#pragma warning disable CA1031 // report every failure to the test
    catch (Exception ex)
#pragma warning restore CA1031
    {
        Emit(new JsonObject { ["ev"] = "error", ["message"] = ex.GetType().Name + ": " + ex.Message });
    }
}

return 0;

/// <summary>One client of the agent, whatever its transport.</summary>
internal interface IAgentMember : IAsyncDisposable
{
    string User { get; }

    /// <summary>Connects and subscribes every channel.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    Task<(List<JsonNode> Acked, List<JsonNode> Failed)> PublishAsync(int count, string tag, TimeSpan timeout);

    JsonObject Status();
}

/// <summary>One client (LifelineClient, over the WebSocket): its channels, what it applied (checked as it goes), what it published.</summary>
internal sealed class Member : IAgentMember
{
    private readonly string[] _channelNames;
    private readonly ConcurrentDictionary<string, List<string>> _violations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Epoch, long Offset, bool Snapshot)> _last = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _applied = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _snapshots = new(StringComparer.Ordinal);
    private int _seq;

    public Member(string user, Uri url, string[] channels, int seed, Action<JsonObject> emit)
    {
        User = user;
        _channelNames = channels;
        Client = new LifelineClient(url, new LifelineClientOptions
        {
            Token = user,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            ReconnectPolicy = new ExponentialBackoffRetryPolicy
            {
                BaseDelay = TimeSpan.FromMilliseconds(100),
                MaxDelay = TimeSpan.FromMilliseconds(500),
                Random = new Random(seed),
            },
        });
        Client.StateChanged += (_, e) => emit(new JsonObject
        {
            ["ev"] = "state", ["user"] = user, ["old"] = e.OldState.ToString(), ["new"] = e.NewState.ToString(),
            ["reason"] = e.Reason, ["code"] = e.CloseCode, ["t"] = e.TimestampMs,
        });
        Channels = [.. channels.Select(Client.Channel)];
        foreach (var ch in Channels)
        {
            var name = ch.Name;
            _violations[name] = [];
            ch.Changed += (_, e) => Check(name, e);
            ch.Presence += (_, e) => emit(new JsonObject
            {
                ["ev"] = "presence", ["user"] = user, ["channel"] = e.Channel, ["kind"] = e.Kind, ["who"] = e.User, ["t"] = e.TimestampMs,
            });
        }
    }

    public string User { get; }

    public LifelineClient Client { get; }

    public LifelineChannel[] Channels { get; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await Client.ConnectAsync(cancellationToken);
        await Task.WhenAll(Channels.Select(c => c.SubscribeAsync(cancellationToken)));
    }

    public ValueTask DisposeAsync() => Client.DisposeAsync();

    /// <summary>The invariant per client and channel: a snapshot first; after it each delta is previous + 1 in the same epoch.</summary>
    private void Check(string channel, ChannelChangedEventArgs e)
    {
        _applied.AddOrUpdate(channel, 1, static (_, n) => n + 1);
        if (e.IsSnapshot)
        {
            _snapshots.AddOrUpdate(channel, 1, static (_, n) => n + 1);
        }
        var had = _last.TryGetValue(channel, out var prev);
        var v = _violations[channel];
        if (!had && !e.IsSnapshot)
        {
            lock (v)
            {
                v.Add($"first change is a delta at {e.Offset}");
            }
        }
        else if (had && e.IsSnapshot && e.Epoch == prev.Epoch && e.Offset < prev.Offset)
        {
            lock (v)
            {
                v.Add($"snapshot went back {prev.Offset} -> {e.Offset}");
            }
        }
        else if (had && !e.IsSnapshot && (e.Epoch != prev.Epoch || e.Offset != prev.Offset + 1))
        {
            lock (v)
            {
                v.Add($"delta {e.Epoch}:{e.Offset} after {prev.Epoch}:{prev.Offset}");
            }
        }

        _last[channel] = (e.Epoch, e.Offset, e.IsSnapshot);
    }

    public async Task<(List<JsonNode> Acked, List<JsonNode> Failed)> PublishAsync(int count, string tag, TimeSpan timeout)
    {
        var acked = new List<JsonNode>();
        var failed = new List<JsonNode>();
        using var cts = new CancellationTokenSource(timeout);
        var tasks = new List<(string Channel, string Marker, Task<long> Task)>();
        for (var i = 0; i < count; i++)
        {
            var seq = Interlocked.Increment(ref _seq);
            var channel = Channels[seq % Channels.Length]; // rotates over every channel across calls
            var marker = $"{User}-{tag}-{seq}";
            var patch = new JsonObject { ["last"] = marker, ["log"] = new JsonObject { [marker] = true } };
            tasks.Add((channel.Name, marker, channel.PublishAsync(patch, cts.Token)));
        }

        foreach (var (channel, marker, task) in tasks)
        {
            try
            {
                var offset = await task;
                acked.Add(new JsonObject { ["c"] = User, ["ch"] = channel, ["m"] = marker, ["o"] = offset });
            }
#pragma warning disable CA1031
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failed.Add(new JsonObject { ["c"] = User, ["ch"] = channel, ["m"] = marker, ["error"] = ex.GetType().Name + ": " + ex.Message });
            }
        }

        return (acked, failed);
    }

    public JsonObject Status() => new()
    {
        ["user"] = User,
        ["state"] = Client.State.ToString(),
        ["pending"] = Client.PendingPublishCount,
        ["channels"] = new JsonArray([.. Channels.Select(ch => (JsonNode)new JsonObject
        {
            ["name"] = ch.Name,
            ["epoch"] = ch.Position?.Epoch,
            ["offset"] = ch.Position?.Offset,
            ["applied"] = _applied.GetValueOrDefault(ch.Name),
            ["snapshots"] = _snapshots.GetValueOrDefault(ch.Name),
            ["state"] = ch.Position is null ? null : JsonNode.Parse(ch.GetState().GetRawText()),
            ["violations"] = new JsonArray([.. Snapshot(_violations[ch.Name]).Select(s => (JsonNode)JsonValue.Create(s))]),
        })]),
    };

    private static List<string> Snapshot(List<string> list)
    {
        lock (list)
        {
            return [.. list];
        }
    }
}
