using System.Text.Json;
using Lifeline.Engine;
using Lifeline.Engine.Tests;
using Lifeline.Protocol;
using StackExchange.Redis;
using static Lifeline.Engine.Tests.TestSupport;

namespace Lifeline.Redis.Tests;

/// <summary>What only the Redis engine does: several nodes on one Redis, hole filling, compaction, node death, Redis loss.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisEngineTests(RedisFixture redis) : IAsyncLifetime
{
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..12] + ":";
    private readonly List<IAsyncDisposable> _cleanup = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        for (var i = _cleanup.Count - 1; i >= 0; i--)
        {
            await _cleanup[i].DisposeAsync();
        }
    }

    private async Task<(RedisEngine Engine, ConnectionMultiplexer Connection)> NodeAsync(
        Action<RedisEngineOptions>? configure = null, string? configuration = null, TimeProvider? time = null)
    {
        var connection = await ConnectionMultiplexer.ConnectAsync(configuration ?? redis.Server.Configuration);
        _cleanup.Add(connection);
        var options = new RedisEngineOptions { KeyPrefix = _prefix };
        configure?.Invoke(options);
        var engine = new RedisEngine(connection, options, time);
        _cleanup.Add(engine);
        return (engine, connection);
    }

    private static Task<PublishResult> PublishAsync(ILifelineEngine engine, string channel, string patch) =>
        engine.PublishAsync(new PublishRequest(channel, J(patch))).AsTask();

    [Fact]
    public async Task OnRedis7_FanOutUsesShardedPubSub()
    {
        var (engine, connection) = await NodeAsync();

        Assert.True(connection.GetServers()[0].Version.Major >= 7, "the test server is Redis 7 or later");
        Assert.True(engine.UsesShardedPubSub);
    }

    [Fact]
    public async Task TwoNodes_ConcurrentPublishers_GetConsecutiveOffsets_AndBothNodesSeeEveryDeltaInOrder()
    {
        const int perNode = 300;
        var (a, _) = await NodeAsync();
        var (b, _) = await NodeAsync();
        var channel = NewChannel();
        var onA = new RecordingObserver();
        var onB = new RecordingObserver();
        await using var ra = await a.ObserveAsync(channel, onA);
        await using var rb = await b.ObserveAsync(channel, onB);

        async Task<List<long>> Publisher(ILifelineEngine engine, string name)
        {
            var offsets = new List<long>();
            for (var i = 1; i <= perNode; i++)
            {
                offsets.Add((await PublishAsync(engine, channel, $$"""{"{{name}}":{{i}}}""")).Offset);
            }

            return offsets;
        }

        var results = await Task.WhenAll(Task.Run(() => Publisher(a, "a")), Task.Run(() => Publisher(b, "b"))).DefaultTimeout();

        Assert.Equal(Enumerable.Range(1, 2 * perNode).Select(i => (long)i), results.SelectMany(r => r).Order());
        foreach (var observer in new[] { onA, onB })
        {
            await observer.WaitForDeltasAsync(2 * perNode);
            Assert.Equal(Enumerable.Range(1, 2 * perNode).Select(i => (long)i), observer.Deltas.Select(d => d.Offset));
            Assert.Equal(0, observer.Overlaps);
        }

        Assert.Equal(onA.Deltas.Select(d => d.Patch.GetRawText()), onB.Deltas.Select(d => d.Patch.GetRawText()));
        var state = (await b.GetSnapshotAsync(channel)).State;
        Assert.Equal(perNode, state.GetProperty("a").GetInt32());
        Assert.Equal(perNode, state.GetProperty("b").GetInt32());
    }

    [Fact]
    public async Task ADeltaLostOnPubSub_IsFilledFromTheHistory_BeforeTheNextOne()
    {
        var (engine, connection) = await NodeAsync();
        var channel = NewChannel();
        var observer = new RecordingObserver();
        await using var registration = await engine.ObserveAsync(channel, observer);
        await PublishAsync(engine, channel, """{"n":1}""");
        await observer.WaitForDeltasAsync(1);

        // Offset 2 is applied by the real publish script but announced on a channel nobody listens to: a lost message.
        var keys = new Internal.RedisKeys(_prefix);
        await connection.GetDatabase().ScriptEvaluateAsync(
            Internal.RedisScripts.Publish,
            [keys.Meta(channel), keys.History(channel), keys.Pending(channel)],
            [DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), "unused", """{"n":2}""", 1000, 300_000, 60_000, "SPUBLISH", keys.PubSub(channel) + ":nobody"]);
        await PublishAsync(engine, channel, """{"n":3}""");

        await observer.WaitForDeltasAsync(3);
        Assert.Equal([1L, 2, 3], observer.Deltas.Select(d => d.Offset));
        Assert.Equal(2, observer.Deltas[1].Patch.GetProperty("n").GetInt32());
        Assert.Empty(observer.EpochChanges);
    }

    [Fact]
    public async Task PatchesBeyondTheCompactionThreshold_AreFoldedIntoTheStoredSnapshot()
    {
        var (engine, connection) = await NodeAsync(o => o.CompactionThreshold = 5);
        var channel = NewChannel();
        for (var i = 1; i <= 23; i++)
        {
            await PublishAsync(engine, channel, $$$"""{"n":{{{i}}},"k{{{i}}}":[{{{i}}}],"empty":[],"obj":{}}""");
        }

        var snapshot = await engine.GetSnapshotAsync(channel);

        Assert.Equal(23, snapshot.Offset);
        Assert.Equal(23, snapshot.State.GetProperty("n").GetInt32());
        Assert.Equal(JsonValueKind.Array, snapshot.State.GetProperty("empty").ValueKind);
        Assert.Equal(JsonValueKind.Object, snapshot.State.GetProperty("obj").ValueKind);
        Assert.Equal(23, snapshot.State.EnumerateObject().Count(p => p.Name.StartsWith('k')));
        var keys = new Internal.RedisKeys(_prefix);
        var pending = await connection.GetDatabase().ListLengthAsync(keys.Pending(channel));
        var storedAt = (long)await connection.GetDatabase().HashGetAsync(keys.Meta(channel), "so");
        Assert.True(pending < 5, $"{pending} patches left after the stored snapshot");
        Assert.Equal(23, storedAt + pending);
    }

    [Fact]
    public async Task ADeadNode_ItsUsersLeaveOnce_WhenItsLivenessKeyExpires()
    {
        var fast = (Action<RedisEngineOptions>)(o => o.NodeTtl = TimeSpan.FromSeconds(1));
        var (dying, dyingConnection) = await NodeAsync(fast);
        var (watcher, _) = await NodeAsync(fast);
        var (other, _) = await NodeAsync(fast);
        var channel = NewChannel();
        var observer = new RecordingObserver();
        await using var registration = await watcher.ObserveAsync(channel, observer);
        Assert.True(await dying.AddPresenceAsync(channel, "alice", "s-alice"));
        Assert.True(await watcher.AddPresenceAsync(channel, "bob", "s-bob"));
        await observer.WaitForPresenceAsync(2);

        // The node's connection is cut as by SIGKILL: it can neither clean up nor refresh its liveness key.
        await dyingConnection.CloseAsync(allowCommandsToComplete: false);

        await observer.WaitForPresenceAsync(3);
        var leave = observer.Presence[2];
        Assert.Equal(("leave", "alice", "disconnect"), (leave.Event, leave.User, leave.Reason));
        Assert.Equal(["bob"], await other.GetPresenceAsync(channel));

        // Both survivors keep reaping; a delta published after a full reaping round proves no second leave was queued.
        await watcher.ReapDeadNodesAsync();
        await other.ReapDeadNodesAsync();
        await PublishAsync(watcher, channel, """{"after":true}""");
        await observer.WaitForDeltasAsync(1);
        Assert.Equal(["join", "join", "leave"], observer.Presence.Select(p => p.Event));
    }

    [Fact]
    public async Task TheNodesChannelIndex_ForgetsChannelsWhereItHoldsNoMember_AndStillCoversTheOthers()
    {
        var (node, connection) = await NodeAsync();
        var index = new Lifeline.Redis.Internal.RedisKeys(_prefix).NodeChannels(node.NodeId);
        var db = connection.GetDatabase();
        var (gone, shared, kept) = (NewChannel(), NewChannel(), NewChannel());
        await node.AddPresenceAsync(gone, "alice", "s1");
        await node.AddPresenceAsync(shared, "alice", "s1");
        await node.AddPresenceAsync(shared, "bob", "s2");
        await node.AddPresenceAsync(kept, "carol", "s3");

        await node.RemovePresenceAsync(gone, "alice", "s1", "unsubscribe");
        await node.RemovePresenceAsync(shared, "alice", "s1", "unsubscribe");

        Assert.Equal(1, await node.PruneChannelIndexAsync());
        Assert.Equal(new[] { kept, shared }.Order(StringComparer.Ordinal), (await db.SetMembersAsync(index)).Select(c => c.ToString()).Order(StringComparer.Ordinal));

        // Removing a member that is not there (a second teardown) leaves the others indexed.
        await node.RemovePresenceAsync(shared, "alice", "s1", "unsubscribe");
        Assert.Equal(0, await node.PruneChannelIndexAsync());

        await node.RemovePresenceAsync(shared, "bob", "s2", "unsubscribe");
        await node.RemovePresenceAsync(kept, "carol", "s3", "unsubscribe");
        Assert.Equal(2, await node.PruneChannelIndexAsync());
        Assert.Empty(await db.SetMembersAsync(index));
    }

    [Fact]
    public async Task PruningRacingJoinsAndLeaves_NeverDropsAChannelWhereTheNodeHoldsAMember()
    {
        const int channels = 8;
        const int rounds = 150;
        var (node, connection) = await NodeAsync();
        var index = new Lifeline.Redis.Internal.RedisKeys(_prefix).NodeChannels(node.NodeId);
        var names = Enumerable.Range(0, channels).Select(_ => NewChannel()).ToArray();
        var random = new Random(20261128);
        var plans = Enumerable.Range(0, channels).Select(_ => Enumerable.Range(0, rounds).Select(_ => random.Next(3)).ToArray()).ToArray();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var prunes = 0;
        var churn = Task.WhenAll(names.Select((channel, i) => Task.Run(async () =>
        {
            foreach (var step in plans[i])
            {
                stop.Token.ThrowIfCancellationRequested();
                if (step == 0)
                {
                    await node.RemovePresenceAsync(channel, "u", "m", "unsubscribe");
                }
                else
                {
                    await node.AddPresenceAsync(channel, "u", "m");
                }
            }
        })));
        var pruner = Task.Run(async () =>
        {
            while (!churn.IsCompleted && !stop.IsCancellationRequested)
            {
                await node.PruneChannelIndexAsync();
                prunes++;
            }
        });
        await churn;
        await pruner;
        await node.PruneChannelIndexAsync();

        Assert.True(prunes > 0);
        var indexed = (await connection.GetDatabase().SetMembersAsync(index)).Select(c => c.ToString()).ToHashSet();
        foreach (var channel in names)
        {
            var holdsMember = (await node.GetPresenceAsync(channel)).Count > 0;
            Assert.Equal(holdsMember, indexed.Contains(channel));
        }
    }

    [Fact]
    public async Task RedisDown_PublishFailsUnavailable_AndWhenItReturnsEmpty_ObserversAreToldTheEpochChanged()
    {
        await using var own = await RedisServer.StartAsync();
        var (engine, _) = await NodeAsync(configuration: own.Configuration + ",connectTimeout=2000,syncTimeout=2000,asyncTimeout=2000");
        var channel = NewChannel();
        var observer = new RecordingObserver();
        await using var registration = await engine.ObserveAsync(channel, observer);
        var before = await PublishAsync(engine, channel, """{"n":1}""");
        await observer.WaitForDeltasAsync(1);

        await own.KillAsync();
        await Assert.ThrowsAsync<EngineUnavailableException>(() => PublishAsync(engine, channel, """{"n":2}"""));

        // Redis comes back with nothing (no persistence): the channel's continuity cannot be proven.
        await using var restarted = await RedisServer.StartAsync(port: own.Port);
        await observer.WaitForEpochChangesAsync(1);
        // The subscription connection can be restored (and the epoch change reported) a moment before the interactive
        // one; until then publishes fail fast with unavailable, which is the documented "retry later".
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!((RedisEngine)engine).IsConnected && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(20);
        }

        var after = await PublishAsync(engine, channel, """{"n":3}""");

        Assert.NotEqual(before.Epoch, after.Epoch);
        Assert.Equal(1, after.Offset);
        // Offset 1 of the old epoch was delivered before the outage: wait for the delta of the new epoch itself.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!observer.Deltas.ToArray().Any(d => d.Epoch == after.Epoch) && waited.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(20);
        }

        var delivered = Assert.Single(observer.Deltas.ToArray(), d => d.Epoch == after.Epoch);
        Assert.Equal(1, delivered.Offset);
        // Observers are told of the epoch the channel is in now. A continuity check that ran while only the
        // subscription connection was back may first have asked them to resync in the old epoch.
        Assert.Contains(after.Epoch, observer.EpochChanges);
    }
}
