using System.Diagnostics;
using System.Text.Json.Nodes;
using Lifeline.Client;
using Xunit.Abstractions;

namespace Lifeline.Chaos.Tests.Infrastructure;

/// <summary>An acknowledged publish: who, where, its marker in the channel's <c>log</c>, the offset the server gave it.</summary>
public sealed record Acked(string User, string Channel, string Marker, long Offset);

/// <summary>
/// In-process <see cref="LifelineClient"/>s for the proxy scenarios (what the chaos agent does in a namespace): each
/// checks as it applies that its offsets are consecutive per channel (a snapshot first, then +1 each, same epoch).
/// </summary>
public sealed class ProxyClients : IAsyncDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private ProxyClients(ITestOutputHelper output, List<ProxyMember> members) => (_output, Members) = (output, members);

    public IReadOnlyList<ProxyMember> Members { get; }

    /// <summary>Connects the clients one after the other (so the proxy's connection i is client i) and subscribes them.</summary>
    public static async Task<ProxyClients> StartAsync(ITestOutputHelper output, Uri url, int users, int channels, int seed)
    {
        var names = Enumerable.Range(0, channels).Select(c => $"proxy:{c}").ToArray();
        var members = new List<ProxyMember>();
        var clients = new ProxyClients(output, members);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            for (var i = 0; i < users; i++)
            {
                var m = new ProxyMember($"u{i}", url, names, seed + i);
                members.Add(m);
                await m.Client.ConnectAsync(cts.Token);
                foreach (var ch in m.Channels)
                {
                    await ch.SubscribeAsync(cts.Token);
                }

                m.MarkStarted();
            }

            return clients;
        }
        catch
        {
            await clients.DisposeAsync();
            throw;
        }
    }

    public void Say(string text) => _output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F2}] {text}");

    /// <summary>
    /// Every client publishes <paramref name="count"/> patches round-robin over the channels, one every
    /// <paramref name="pace"/> without waiting for the replies (pipelined), then awaits them all (bounded: 30 s).
    /// </summary>
    public async Task<List<Acked>> PublishAsync(int count, TimeSpan pace)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30) + (pace * count));
        var results = await Task.WhenAll(Members.Select(async m =>
        {
            var pending = new List<(string Channel, string Marker, Task<long> Offset)>();
            for (var i = 0; i < count; i++)
            {
                var (channel, marker, task) = m.Publish(cts.Token);
                pending.Add((channel, marker, task));
                if (pace > TimeSpan.Zero)
                {
                    await Task.Delay(pace, cts.Token); // the load's pacing, not synchronisation
                }
            }

            var acked = new List<Acked>();
            foreach (var (channel, marker, task) in pending)
            {
                acked.Add(new Acked(m.User, channel, marker, await task));
            }

            return acked;
        }));
        return [.. results.SelectMany(r => r)];
    }

    /// <summary>
    /// The invariants at rest: every client open with nothing pending, at the server's position of every channel, with
    /// the server's state, no offset skipped or repeated; every acknowledged publish in the state exactly once.
    /// </summary>
    public async Task AssertConvergedAsync(TestServer server, IEnumerable<Acked> acked, TimeSpan limit)
    {
        var names = Members[0].Channels.Select(c => c.Name).ToArray();
        var snapshots = new Dictionary<string, Lifeline.Engine.ChannelSnapshot>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            snapshots[name] = await server.Lifeline.GetChannelAsync(name);
        }

        var converged = await Harness.PollAsync(
            () => Task.FromResult(Members.All(m => m.Client.State == ClientState.Open && m.Client.PendingPublishCount == 0
                && m.Channels.All(ch => ch.Position is { } p && p.Epoch == snapshots[ch.Name].Epoch && p.Offset == snapshots[ch.Name].Offset))),
            limit);
        Assert.True(converged is not null, $"clients did not reach the server's position within {limit}: " +
            string.Join("; ", Members.Select(m => $"{m.User} {m.Client.State} pending {m.Client.PendingPublishCount} {string.Join(" ", m.Channels.Select(c => c.ToString()))}")) +
            $"; server {string.Join(" ", snapshots.Values.Select(s => $"{s.Epoch}:{s.Offset}"))}");
        foreach (var m in Members)
        {
            foreach (var ch in m.Channels)
            {
                Assert.True(m.Violations(ch.Name).Count == 0, $"{m.User} {ch.Name}: {string.Join("; ", m.Violations(ch.Name))}");
                Assert.True(JsonNode.DeepEquals(JsonNode.Parse(snapshots[ch.Name].State.GetRawText()), JsonNode.Parse(ch.GetState().GetRawText())), $"{m.User} {ch.Name}: state differs from the server's");
            }
        }

        foreach (var group in acked.GroupBy(a => a.Channel))
        {
            var log = JsonNode.Parse(snapshots[group.Key].State.GetRawText())?["log"]?.AsObject();
            var missing = group.Where(a => log is null || !log.ContainsKey(a.Marker)).Select(a => a.Marker).ToList();
            Assert.True(missing.Count == 0, $"{group.Key}: acknowledged publishes missing: {string.Join(", ", missing.Take(10))}");
            Assert.True(group.Select(a => a.Offset).Distinct().Count() == group.Count(), $"{group.Key}: two publishes acknowledged with one offset");
        }

        foreach (var (name, snapshot) in snapshots)
        {
            // Exactly once: every patch adds one distinct marker, so the offset equals the number of markers.
            var markers = JsonNode.Parse(snapshot.State.GetRawText())?["log"]?.AsObject().Count ?? 0;
            Assert.True(markers == snapshot.Offset, $"{name}: offset {snapshot.Offset} but {markers} distinct markers: a patch was applied twice or lost");
        }

        Say($"converged: {Members.Count} clients at {string.Join(", ", snapshots.Values.Select(s => $"{s.Channel}:{s.Offset}"))}");
    }

    public void AssertNoStateChangeAfterOpen()
    {
        foreach (var m in Members)
        {
            m.AssertNoStateChangeAfterOpen();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var m in Members)
        {
            await m.Client.DisposeAsync();
        }
    }
}

/// <summary>One client of <see cref="ProxyClients"/>.</summary>
public sealed class ProxyMember
{
    private readonly Lock _lock = new();
    private readonly List<StateChangedEventArgs> _states = [];
    private readonly Dictionary<string, List<string>> _violations = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Epoch, long Offset)> _last = new(StringComparer.Ordinal);
    private int _started;
    private int _cursor;
    private int _seq;

    public ProxyMember(string user, Uri url, string[] channels, int seed)
    {
        User = user;
        Client = new LifelineClient(url, new LifelineClientOptions
        {
            Token = user,
            // Generous: a first connect through 150 ms each way on a cold, loaded machine must not be retried (the
            // scenarios count the proxy's connections to prove nobody reconnected).
            ConnectTimeout = TimeSpan.FromSeconds(10),
            ReconnectPolicy = new ExponentialBackoffRetryPolicy
            {
                BaseDelay = TimeSpan.FromMilliseconds(100),
                MaxDelay = TimeSpan.FromMilliseconds(500),
                Random = new Random(seed),
            },
        });
        Client.StateChanged += (_, e) =>
        {
            lock (_lock)
            {
                _states.Add(e);
            }
        };
        Channels = [.. channels.Select(Client.Channel)];
        foreach (var ch in Channels)
        {
            var name = ch.Name;
            _violations[name] = [];
            ch.Changed += (_, e) => Check(name, e);
        }
    }

    public string User { get; }

    public LifelineClient Client { get; }

    public LifelineChannel[] Channels { get; }

    public List<string> Violations(string channel)
    {
        lock (_lock)
        {
            return [.. _violations[channel]];
        }
    }

    internal void MarkStarted()
    {
        lock (_lock)
        {
            _started = _cursor = _states.Count;
        }
    }

    public (string Channel, string Marker, Task<long> Offset) Publish(CancellationToken cancellationToken)
    {
        var seq = Interlocked.Increment(ref _seq);
        var channel = Channels[seq % Channels.Length];
        var marker = $"{User}-{seq}";
        return (channel.Name, marker, channel.PublishAsync(new JsonObject { ["last"] = marker, ["log"] = new JsonObject { [marker] = true } }, cancellationToken));
    }

    /// <summary>The next state change to <paramref name="state"/> after the last one returned (or after the start).</summary>
    public async Task<StateChangedEventArgs> WaitForStateAsync(ClientState state, TimeSpan limit)
    {
        StateChangedEventArgs? found = null;
        var waited = await Harness.PollAsync(
            () =>
            {
                lock (_lock)
                {
                    for (var i = _cursor; i < _states.Count; i++)
                    {
                        if (_states[i].NewState == state)
                        {
                            found = _states[i];
                            _cursor = i + 1;
                            return Task.FromResult(true);
                        }
                    }

                    return Task.FromResult(false);
                }
            },
            limit);
        Assert.True(waited is not null && found is not null, $"{User}: no change to {state} within {limit}; states: {string.Join(", ", StatesSince(0))}");
        return found!;
    }

    public void AssertNoStateChangeAfterOpen()
    {
        var after = StatesSince(_started);
        Assert.True(after.Count == 0, $"{User} changed state after it was open: {string.Join(", ", after)}");
    }

    private List<string> StatesSince(int index)
    {
        lock (_lock)
        {
            return [.. _states.Skip(index).Select(s => $"{s.NewState}({s.Reason},{s.CloseCode})")];
        }
    }

    private void Check(string channel, ChannelChangedEventArgs e)
    {
        lock (_lock)
        {
            var had = _last.TryGetValue(channel, out var prev);
            if (!had && !e.IsSnapshot)
            {
                _violations[channel].Add($"first change is a delta at {e.Offset}");
            }
            else if (had && !e.IsSnapshot && (e.Epoch != prev.Epoch || e.Offset != prev.Offset + 1))
            {
                _violations[channel].Add($"delta {e.Epoch}:{e.Offset} after {prev.Epoch}:{prev.Offset}");
            }
            else if (had && e.IsSnapshot && e.Epoch == prev.Epoch && e.Offset < prev.Offset)
            {
                _violations[channel].Add($"snapshot went back {prev.Offset} -> {e.Offset}");
            }

            _last[channel] = (e.Epoch, e.Offset);
        }
    }
}
