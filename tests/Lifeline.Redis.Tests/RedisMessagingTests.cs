using Lifeline.Engine;
using Lifeline.Engine.Tests;
using Lifeline.Redis.Internal;
using StackExchange.Redis;
using static Lifeline.Engine.Tests.TestSupport;

namespace Lifeline.Redis.Tests;

/// <summary>
/// Events, user messages, disconnect orders and connection slots across several nodes (engines with their own
/// connections) on one Redis: run on a redis-server (<see cref="RedisMessagingTests"/>) and on the three-master
/// cluster (<see cref="RedisClusterMessagingTests"/>).
/// </summary>
public abstract class RedisMessagingTestsBase : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _cleanup = [];

    protected string Prefix { get; } = "t" + Guid.NewGuid().ToString("N")[..12] + ":";

    private protected RedisKeys Keys => new(Prefix);

    protected abstract string Configuration { get; }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        for (var i = _cleanup.Count - 1; i >= 0; i--)
        {
            await _cleanup[i].DisposeAsync();
        }
    }

    protected async Task<(RedisEngine Engine, ConnectionMultiplexer Connection)> NodeAsync(
        Action<RedisEngineOptions>? configure = null, string? configuration = null)
    {
        var connection = await ConnectionMultiplexer.ConnectAsync(configuration ?? Configuration);
        _cleanup.Add(connection);
        var options = new RedisEngineOptions { KeyPrefix = Prefix };
        configure?.Invoke(options);
        var engine = new RedisEngine(connection, options);
        _cleanup.Add(engine);
        return (engine, connection);
    }

    /// <summary>Waits until every node finished the first round of its node loop (which runs at start).</summary>
    private protected static async Task FirstNodeLoopRoundAsync(params RedisEngine[] nodes)
    {
        foreach (var node in nodes)
        {
            Assert.Equal(1, await RedisProbe.EventuallyAsync(() => Task.FromResult(Math.Min(node.NodeLoopRounds, 1)), 1));
        }
    }

    protected static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    protected static Task PublishAsync(ILifelineEngine engine, string channel, string patch) =>
        engine.PublishAsync(new PublishRequest(channel, J(patch))).AsTask();

    protected static Task EmitAsync(ILifelineEngine engine, string channel, string data) =>
        engine.EmitAsync(new ChannelEvent(channel, "u1", J(data), Now, "conn-1")).AsTask();

    [Fact]
    public async Task AnEventEmittedOnA_ReachesAnObserverOnB_Once_InOrderWithTheChannelsDeltas()
    {
        var (a, _) = await NodeAsync();
        var (b, _) = await NodeAsync();
        var channel = NewChannel();
        var onA = new SequenceObserver();
        var onB = new SequenceObserver();
        await using var ra = await a.ObserveAsync(channel, onA);
        await using var rb = await b.ObserveAsync(channel, onB);

        var expected = new List<string>();
        for (var i = 1; i <= 20; i++)
        {
            await PublishAsync(a, channel, $$"""{"n":{{i}}}""");
            expected.Add("d" + i);
            await EmitAsync(a, channel, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            expected.Add("e:" + i);
        }

        await PublishAsync(b, channel, """{"last":true}""");
        expected.Add("d21");

        foreach (var observer in new[] { onA, onB })
        {
            await observer.WaitForAsync(expected.Count);
            Assert.Equal(expected, observer.Items);
            Assert.Empty(observer.EpochChanges);
        }

        // Events took no offset: the channel is at the last publish.
        Assert.Equal(21, (await b.GetSnapshotAsync(channel)).Offset);
    }

    [Fact]
    public async Task AnEvent_CarriesItsUserSenderTimeAndData_AcrossNodes()
    {
        var (a, _) = await NodeAsync();
        var (b, _) = await NodeAsync();
        var channel = NewChannel();
        var observer = new RecordingObserver();
        await using var registration = await b.ObserveAsync(channel, observer);

        await a.EmitAsync(new ChannelEvent(channel, "user\nwith:newline", J("""{"cursor":[1,2],"s":"a\nb"}"""), 1234, "conn\n7"));
        await a.EmitAsync(new ChannelEvent(channel, null, J("null"), 1235));

        await observer.WaitForEventsAsync(2);
        var first = observer.Events[0];
        Assert.Equal((channel, "user\nwith:newline", "conn\n7", 1234L), (first.Channel, first.User, first.SenderConnectionId, first.Ts));
        JsonEqual("""{"cursor":[1,2],"s":"a\nb"}""", first.Data);
        var second = observer.Events[1];
        Assert.Equal((null, null, 1235L), (second.User, second.SenderConnectionId, second.Ts));
        Assert.Equal(System.Text.Json.JsonValueKind.Null, second.Data.ValueKind);
    }

    [Fact]
    public async Task ANodeThatObservesNothingOfTheChannel_IsNotSubscribed_AndGetsNothing()
    {
        var (a, connection) = await NodeAsync();
        var (b, _) = await NodeAsync();
        var (c, _) = await NodeAsync();
        var (channel, other) = (NewChannel(), NewChannel());
        var onB = new SequenceObserver();
        var onC = new SequenceObserver();
        var registration = await b.ObserveAsync(channel, onB);
        await using var rc = await c.ObserveAsync(other, onC);

        // Only B's connection listens to the channel: the event goes to B alone.
        Assert.Equal(1, await RedisProbe.ShardSubscribersAsync(connection, Keys.PubSub(channel)));
        await EmitAsync(a, channel, "1");
        await EmitAsync(a, other, "2");
        await onB.WaitForAsync(1);
        await onC.WaitForAsync(1);
        Assert.Equal(["e:1"], onB.Items);
        Assert.Equal(["e:2"], onC.Items);

        // Once B's last observer is gone, nobody is subscribed and an emit reaches no node.
        await registration.DisposeAsync();
        Assert.Equal(0, await RedisProbe.ShardSubscribersAsync(connection, Keys.PubSub(channel)));
        await EmitAsync(a, channel, "3");
        await EmitAsync(a, other, "4");
        await onC.WaitForAsync(2);
        Assert.Equal(["e:1"], onB.Items);
    }

    [Fact]
    public async Task AUserMessageSentViaA_ReachesTheUsersObserversOnOtherNodes_AndCountsThemClusterWide()
    {
        var (a, connection) = await NodeAsync();
        var (b, _) = await NodeAsync();
        var (c, _) = await NodeAsync();
        var user = "user-" + Guid.NewGuid().ToString("N");
        var tabsOnB = new[] { new RecordingUserObserver(), new RecordingUserObserver() };
        var tabOnC = new RecordingUserObserver();
        var otherUser = new RecordingUserObserver();
        var rb1 = await b.ObserveUserAsync(user, tabsOnB[0]);
        var rb2 = await b.ObserveUserAsync(user, tabsOnB[1]);
        await using var rc = await c.ObserveUserAsync(user, tabOnC);
        await using var ro = await b.ObserveUserAsync(user + "-other", otherUser);

        // B and C subscribe once each; A, with no observer of the user, does not.
        Assert.Equal(2, await RedisProbe.ShardSubscribersAsync(connection, Keys.UserPubSub(user)));
        var count = await a.SendToUserAsync(new UserMessage(user, J("""{"export":"ready"}"""), 42));

        Assert.Equal(3, count);
        foreach (var tab in tabsOnB.Append(tabOnC))
        {
            await tab.WaitForMessagesAsync(1);
            var m = Assert.Single(tab.Messages);
            Assert.Equal((user, 42L), (m.User, m.Ts));
            JsonEqual("""{"export":"ready"}""", m.Data);
        }

        // B's tabs close: B unsubscribes after the last one, and only C is counted and reached.
        await rb1.DisposeAsync();
        Assert.Equal(2, await a.SendToUserAsync(new UserMessage(user, J("2"), 43)));
        await tabsOnB[1].WaitForMessagesAsync(2);
        await rb2.DisposeAsync();
        Assert.Equal(1, b.ObservedUserCount); // only the other user is left on B
        Assert.Equal(1, await RedisProbe.ShardSubscribersAsync(connection, Keys.UserPubSub(user)));
        Assert.Equal(1, await a.SendToUserAsync(new UserMessage(user, J("3"), 44)));
        await tabOnC.WaitForMessagesAsync(3);
        Assert.Equal([42L, 43, 44], tabOnC.Messages.Select(m => m.Ts));
        Assert.Equal([42L, 43], tabsOnB[1].Messages.Select(m => m.Ts));
        Assert.Equal([42L], tabsOnB[0].Messages.Select(m => m.Ts));
        Assert.Empty(otherUser.Messages);
    }

    [Fact]
    public async Task ConcurrentRegistrationsOfOneUserOnTwoNodes_AreCountedExactly_AndTheLastOneUnsubscribes()
    {
        const int perNode = 40;
        var (a, connection) = await NodeAsync();
        var (b, _) = await NodeAsync();
        var user = "user-" + Guid.NewGuid().ToString("N");

        var registrations = await Task.WhenAll(Enumerable.Range(0, perNode)
            .SelectMany(_ => new[] { a, b })
            .Select(node => Task.Run(async () => await node.ObserveUserAsync(user, new RecordingUserObserver())))).DefaultTimeout();

        Assert.Equal(2 * perNode, await a.SendToUserAsync(new UserMessage(user, J("1"), Now)));
        Assert.Equal(2, await RedisProbe.ShardSubscribersAsync(connection, Keys.UserPubSub(user)));

        await Task.WhenAll(registrations.Take(perNode).Select(r => Task.Run(async () => await r.DisposeAsync()))).DefaultTimeout();
        Assert.Equal(perNode, await b.SendToUserAsync(new UserMessage(user, J("2"), Now)));

        await Task.WhenAll(registrations.Select(r => Task.Run(async () => await r.DisposeAsync()))).DefaultTimeout(); // twice for half of them
        Assert.Equal(0, await a.SendToUserAsync(new UserMessage(user, J("3"), Now)));
        Assert.Equal(0, await RedisProbe.ShardSubscribersAsync(connection, Keys.UserPubSub(user)));
        Assert.False(await connection.GetDatabase().KeyExistsAsync(Keys.UserNodes(user)));
        Assert.Equal(0, a.ObservedUserCount + b.ObservedUserCount);
    }

    [Fact]
    public async Task AUserWithNoObserverAnywhere_CountsZero_AndNothingIsPublished()
    {
        var (a, connection) = await NodeAsync();
        var user = "nobody-" + Guid.NewGuid().ToString("N");

        Assert.Equal(0, await a.SendToUserAsync(new UserMessage(user, J("1"), Now)));
        Assert.Equal(0, await a.DisconnectUserAsync(new UserDisconnect(user, 4001, null)));
        Assert.False(await connection.GetDatabase().KeyExistsAsync(Keys.UserNodes(user)));
    }

    [Fact]
    public async Task ADisconnectOrderSentViaA_ReachesTheUserOnB()
    {
        var (a, _) = await NodeAsync();
        var (b, _) = await NodeAsync();
        var user = "user-" + Guid.NewGuid().ToString("N");
        var onB = new RecordingUserObserver();
        await using var registration = await b.ObserveUserAsync(user, onB);

        Assert.Equal(1, await a.DisconnectUserAsync(new UserDisconnect(user, 4403, "banned\nfor good")));
        Assert.Equal(1, await a.DisconnectUserAsync(new UserDisconnect(user, 1000, null)));

        await onB.WaitForDisconnectsAsync(2);
        Assert.Equal((user, 4403, "banned\nfor good"), (onB.Disconnects[0].User, onB.Disconnects[0].Code, onB.Disconnects[0].Reason));
        Assert.Equal((1000, (string?)null), (onB.Disconnects[1].Code, onB.Disconnects[1].Reason));
        Assert.Empty(onB.Messages);
    }

    [Fact]
    public async Task ConcurrentAcquiresOnTwoNodes_NeverExceedTheClusterWideLimit()
    {
        const int max = 7;
        const int attemptsPerNode = 30;
        var (a, _) = await NodeAsync();
        var (b, _) = await NodeAsync();
        var slot = new ConnectionSlot(ConnectionSlotKind.Address, "10.1.2." + Random.Shared.Next(1, 250) + "-" + Guid.NewGuid().ToString("N")[..6]);

        var attempts = Enumerable.Range(0, attemptsPerNode)
            .SelectMany(_ => new[] { a, b })
            .Select(node => Task.Run(async () => (node, taken: await node.TryAcquireConnectionSlotAsync(slot, max))))
            .ToArray();
        var results = await Task.WhenAll(attempts).DefaultTimeout();

        Assert.Equal(max, results.Count(r => r.taken));
        var heldByA = results.Count(r => r.taken && r.node == a);
        var heldByB = max - heldByA;
        Assert.False(await b.TryAcquireConnectionSlotAsync(slot, max));

        // A releases more than it holds: only its own slots come back, never B's.
        for (var i = 0; i < heldByA + 3; i++)
        {
            await a.ReleaseConnectionSlotAsync(slot);
        }

        for (var i = 0; i < heldByA; i++)
        {
            Assert.True(await b.TryAcquireConnectionSlotAsync(slot, max));
        }

        Assert.False(await a.TryAcquireConnectionSlotAsync(slot, max));
        for (var i = 0; i < heldByB + heldByA; i++)
        {
            await b.ReleaseConnectionSlotAsync(slot);
        }

        Assert.True(await a.TryAcquireConnectionSlotAsync(slot, 1));
        await a.ReleaseConnectionSlotAsync(slot);
    }

    [Fact]
    public async Task ADeadNodesSlotsAndUserObservers_AreGivenBack_WhenItsLivenessKeyExpires()
    {
        var fast = (Action<RedisEngineOptions>)(o => o.NodeTtl = TimeSpan.FromSeconds(1));
        var (dying, dyingConnection) = await NodeAsync(fast);
        var (watcher, _) = await NodeAsync(fast);
        var user = "user-" + Guid.NewGuid().ToString("N");
        var slot = new ConnectionSlot(ConnectionSlotKind.User, user);
        Assert.True(await dying.TryAcquireConnectionSlotAsync(slot, 2));
        Assert.True(await dying.TryAcquireConnectionSlotAsync(slot, 2));
        await dying.ObserveUserAsync(user, new RecordingUserObserver());
        Assert.False(await watcher.TryAcquireConnectionSlotAsync(slot, 2));
        Assert.Equal(1, await watcher.SendToUserAsync(new UserMessage(user, J("1"), Now)));

        // The node's connection is cut as by SIGKILL: it can neither give anything back nor refresh its liveness key.
        await dyingConnection.CloseAsync(allowCommandsToComplete: false);

        Assert.Equal(0, await RedisProbe.EventuallyAsync(async () => await watcher.SendToUserAsync(new UserMessage(user, J("2"), Now)), 0));
        Assert.True(await RedisProbe.EventuallyAsync(async () => await watcher.TryAcquireConnectionSlotAsync(slot, 2), true));
        Assert.True(await watcher.TryAcquireConnectionSlotAsync(slot, 2));
        Assert.False(await watcher.TryAcquireConnectionSlotAsync(slot, 2));
        await watcher.ReleaseConnectionSlotAsync(slot);
        await watcher.ReleaseConnectionSlotAsync(slot);
    }

    [Fact]
    public async Task ANodeFoundDead_IsNotCountedBeforeItIsReaped()
    {
        var (dying, dyingConnection) = await NodeAsync();
        var (watcher, connection) = await NodeAsync();
        var user = "user-" + Guid.NewGuid().ToString("N");
        var slot = new ConnectionSlot(ConnectionSlotKind.Address, "10.0.0." + Random.Shared.Next(1, 250) + "-" + Guid.NewGuid().ToString("N")[..6]);
        Assert.True(await dying.TryAcquireConnectionSlotAsync(slot, 1));
        await dying.ObserveUserAsync(user, new RecordingUserObserver());
        await FirstNodeLoopRoundAsync(dying, watcher); // the next rounds come after NodeTtl / 3 (5 s): out of the way
        await dyingConnection.CloseAsync(allowCommandsToComplete: false);

        // Its liveness key is gone, and another node claimed the clean-up but has not done it yet.
        var db = connection.GetDatabase();
        await db.KeyDeleteAsync(Keys.NodeAlive(dying.NodeId));
        await db.StringSetAsync(Keys.NodeReaped(dying.NodeId), "someone-else", TimeSpan.FromMinutes(1));
        Assert.False(await watcher.TryAcquireConnectionSlotAsync(slot, 1));
        await watcher.ReapDeadNodesAsync();

        Assert.Equal(0, await watcher.SendToUserAsync(new UserMessage(user, J("1"), Now)));
        Assert.True(await watcher.TryAcquireConnectionSlotAsync(slot, 1));
        Assert.False(await db.HashExistsAsync(Keys.Slot(RedisKeys.SlotEntry(slot)), dying.NodeId));
        Assert.False(await db.HashExistsAsync(Keys.UserNodes(user), dying.NodeId));
        await watcher.ReleaseConnectionSlotAsync(slot);
    }
}

/// <summary><see cref="RedisMessagingTestsBase"/> on a redis-server, and what needs one server of its own (outages).</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisMessagingTests(RedisFixture redis) : RedisMessagingTestsBase
{
    protected override string Configuration => redis.Server.Configuration;

    [Fact]
    public async Task EventsBetweenDeltas_DoNotDisturbHoleFilling()
    {
        var (engine, connection) = await NodeAsync();
        var channel = NewChannel();
        var observer = new SequenceObserver();
        await using var registration = await engine.ObserveAsync(channel, observer);
        await PublishAsync(engine, channel, """{"n":1}""");
        await EmitAsync(engine, channel, "1");

        // Offset 2 is applied by the real publish script but announced on a channel nobody listens to: a lost message.
        await connection.GetDatabase().ScriptEvaluateAsync(
            RedisScripts.Publish,
            [Keys.Meta(channel), Keys.History(channel), Keys.Pending(channel)],
            [Now, "unused", """{"n":2}""", 1000, 300_000, 60_000, "SPUBLISH", Keys.PubSub(channel) + ":nobody"]);
        await EmitAsync(engine, channel, "2");
        await PublishAsync(engine, channel, """{"n":3}""");

        await observer.WaitForAsync(5);
        Assert.Equal(["d1", "e:1", "e:2", "d2", "d3"], observer.Items);
        Assert.Empty(observer.EpochChanges);
    }

    [Fact]
    public async Task ANodeCleanedUpAfterWhileAlive_WritesItsUserObserversAndSlotsAgain()
    {
        // A long NodeTtl: the node loops stay out of the way (their first round runs at start, the next after 20 s).
        var slow = (Action<RedisEngineOptions>)(o => o.NodeTtl = TimeSpan.FromSeconds(60));
        var (node, connection) = await NodeAsync(slow);
        var (watcher, _) = await NodeAsync(slow);
        var db = connection.GetDatabase();
        var user = "user-" + Guid.NewGuid().ToString("N");
        var slot = new ConnectionSlot(ConnectionSlotKind.User, user);
        var observer = new RecordingUserObserver();
        Assert.True(await node.TryAcquireConnectionSlotAsync(slot, 1));
        await using var registration = await node.ObserveUserAsync(user, observer);
        await FirstNodeLoopRoundAsync(node, watcher);

        // Its liveness key expires (say its link to Redis was down longer than NodeTtl) and another node cleans up after it.
        await db.KeyDeleteAsync(Keys.NodeAlive(node.NodeId));
        await watcher.ReapDeadNodesAsync();
        Assert.False(await db.HashExistsAsync(Keys.Slot(RedisKeys.SlotEntry(slot)), node.NodeId));
        Assert.False(await db.HashExistsAsync(Keys.UserNodes(user), node.NodeId));
        Assert.Equal(0, await watcher.SendToUserAsync(new UserMessage(user, J("1"), Now)));

        // Its next round finds its key gone and writes its counts (and its indexes) again.
        await node.HeartbeatAsync();
        await node.MaintainRegistrationsAsync();
        await watcher.ReapDeadNodesAsync(); // the watcher's next round: the node is alive again

        Assert.Equal(1, (int)await db.HashGetAsync(Keys.Slot(RedisKeys.SlotEntry(slot)), node.NodeId));
        Assert.True(await db.SetContainsAsync(Keys.NodeSlots(node.NodeId), RedisKeys.SlotEntry(slot)));
        Assert.True(await db.SetContainsAsync(Keys.NodeUsers(node.NodeId), user));
        Assert.False(await watcher.TryAcquireConnectionSlotAsync(slot, 1));
        Assert.Equal(1, await watcher.SendToUserAsync(new UserMessage(user, J("2"), Now)));
        await observer.WaitForMessagesAsync(1);
        Assert.Equal("2", Assert.Single(observer.Messages).Data.GetRawText());
        await node.ReleaseConnectionSlotAsync(slot);
    }

    [Fact]
    public async Task TheNodesUserAndSlotIndexes_ForgetWhatItHoldsNothingOf_AndCoverTheRest()
    {
        var (node, connection) = await NodeAsync();
        var db = connection.GetDatabase();
        var id = Guid.NewGuid().ToString("N")[..8];
        var (address, user) = (new ConnectionSlot(ConnectionSlotKind.Address, "10.0.0.1-" + id), new ConnectionSlot(ConnectionSlotKind.User, "u-" + id));
        Assert.True(await node.TryAcquireConnectionSlotAsync(address, 5));
        Assert.True(await node.TryAcquireConnectionSlotAsync(address, 5));
        Assert.True(await node.TryAcquireConnectionSlotAsync(user, 5));
        var first = await node.ObserveUserAsync("u1-" + id, new RecordingUserObserver());
        await using var second = await node.ObserveUserAsync("u2-" + id, new RecordingUserObserver());

        async Task<string[]> Members(RedisKey key) => [.. (await db.SetMembersAsync(key)).Select(m => m.ToString()).Order(StringComparer.Ordinal)];
        Assert.Equal(["a:10.0.0.1-" + id, "u:u-" + id], await Members(Keys.NodeSlots(node.NodeId)));
        Assert.Equal(["u1-" + id, "u2-" + id], await Members(Keys.NodeUsers(node.NodeId)));
        Assert.Equal(2, (int)await db.HashGetAsync(Keys.Slot(RedisKeys.SlotEntry(address)), node.NodeId));

        await node.ReleaseConnectionSlotAsync(user);
        await node.ReleaseConnectionSlotAsync(user); // holds none: nothing happens
        await node.ReleaseConnectionSlotAsync(address);
        await first.DisposeAsync();
        await node.MaintainRegistrationsAsync();

        Assert.Equal(["a:10.0.0.1-" + id], await Members(Keys.NodeSlots(node.NodeId)));
        Assert.Equal(["u2-" + id], await Members(Keys.NodeUsers(node.NodeId)));
        Assert.Equal(1, (int)await db.HashGetAsync(Keys.Slot(RedisKeys.SlotEntry(address)), node.NodeId));
        Assert.False(await db.KeyExistsAsync(Keys.Slot(RedisKeys.SlotEntry(user))));
        Assert.False(await db.KeyExistsAsync(Keys.UserNodes("u1-" + id)));

        await node.ReleaseConnectionSlotAsync(address);
        await node.MaintainRegistrationsAsync();
        Assert.Empty(await Members(Keys.NodeSlots(node.NodeId)));
        Assert.False(await db.KeyExistsAsync(Keys.Slot(RedisKeys.SlotEntry(address))));
    }

    [Fact]
    public async Task RedisDown_SendsAndAcquiresFailUnavailable_ReleasesDoNot_AndWhenItReturnsEverythingWorksAgain()
    {
        await using var own = await RedisServer.StartAsync();
        var (engine, _) = await NodeAsync(
            o => o.NodeTtl = TimeSpan.FromSeconds(1),
            configuration: own.Configuration + ",connectTimeout=2000,syncTimeout=2000,asyncTimeout=2000");
        var channel = NewChannel();
        var user = "user-" + Guid.NewGuid().ToString("N");
        var slot = new ConnectionSlot(ConnectionSlotKind.User, user);
        var observer = new RecordingObserver();
        var userObserver = new RecordingUserObserver();
        await using var registration = await engine.ObserveAsync(channel, observer);
        await using var userRegistration = await engine.ObserveUserAsync(user, userObserver);
        Assert.True(await engine.TryAcquireConnectionSlotAsync(slot, 1));
        Assert.True(await engine.TryAcquireConnectionSlotAsync(slot with { Kind = ConnectionSlotKind.Address }, 1));

        await own.KillAsync();

        await Assert.ThrowsAsync<EngineUnavailableException>(() => EmitAsync(engine, channel, "1"));
        await Assert.ThrowsAsync<EngineUnavailableException>(() => engine.SendToUserAsync(new UserMessage(user, J("1"), Now)).AsTask());
        await Assert.ThrowsAsync<EngineUnavailableException>(() => engine.DisconnectUserAsync(new UserDisconnect(user, 1000, null)).AsTask());
        await Assert.ThrowsAsync<EngineUnavailableException>(() => engine.TryAcquireConnectionSlotAsync(slot, 5).AsTask());
        await engine.ReleaseConnectionSlotAsync(slot); // logged, never thrown

        // Redis comes back empty (no persistence). The node finds its liveness key gone and writes its user observers
        // and slots again: the user is reachable and counted, and the slot still held (the address) still counts.
        await using var restarted = await RedisServer.StartAsync(port: own.Port);
        Assert.Equal(1, await RedisProbe.EventuallyAsync(
            async () =>
            {
                try
                {
                    return await engine.SendToUserAsync(new UserMessage(user, J("\"back\""), Now));
                }
                catch (EngineUnavailableException)
                {
                    return -1;
                }
            },
            1));
        await userObserver.WaitForMessagesAsync(1);
        Assert.Equal("\"back\"", userObserver.Messages[^1].Data.GetRawText());
        Assert.False(await engine.TryAcquireConnectionSlotAsync(slot with { Kind = ConnectionSlotKind.Address }, 1));
        Assert.True(await engine.TryAcquireConnectionSlotAsync(slot, 1));
        Assert.False(await engine.TryAcquireConnectionSlotAsync(slot, 1));

        // Events flow again once the channel's subscription is restored.
        Assert.True(await RedisProbe.EventuallyAsync(
            async () =>
            {
                await EmitAsync(engine, channel, "2");
                await Task.Delay(50);
                return observer.Events.Count > 0;
            },
            true));
        Assert.All(observer.Events, e => Assert.Equal("2", e.Data.GetRawText()));
    }

    [Fact]
    public async Task WithClassicPubSub_EventsAndUserMessagesCrossNodesToo()
    {
        var classic = (Action<RedisEngineOptions>)(o => o.UseShardedPubSub = false);
        var (a, _) = await NodeAsync(classic);
        var (b, _) = await NodeAsync(classic);
        Assert.False(a.UsesShardedPubSub);
        var channel = NewChannel();
        var user = "user-" + Guid.NewGuid().ToString("N");
        var onB = new SequenceObserver();
        var userOnB = new RecordingUserObserver();
        await using var rb = await b.ObserveAsync(channel, onB);
        await using var ub = await b.ObserveUserAsync(user, userOnB);

        await PublishAsync(a, channel, """{"n":1}""");
        await EmitAsync(a, channel, "1");
        Assert.Equal(1, await a.SendToUserAsync(new UserMessage(user, J("2"), Now)));
        Assert.Equal(1, await a.DisconnectUserAsync(new UserDisconnect(user, 1000, "bye")));

        await onB.WaitForAsync(2);
        Assert.Equal(["d1", "e:1"], onB.Items);
        await userOnB.WaitForMessagesAsync(1);
        await userOnB.WaitForDisconnectsAsync(1);
    }

    [Fact]
    public async Task WritesThatFailedWhileRedisWasDown_AreMadeGood_WhenItReturnsWithItsData()
    {
        await using var own = await RedisServer.StartAsync();
        var (node, _) = await NodeAsync(
            o => o.NodeTtl = TimeSpan.FromSeconds(60), // the node loop stays out of the way: the test runs its round
            configuration: own.Configuration + ",connectTimeout=2000,syncTimeout=2000,asyncTimeout=2000");
        var user = "user-" + Guid.NewGuid().ToString("N");
        var slot = new ConnectionSlot(ConnectionSlotKind.User, user);
        Assert.True(await node.TryAcquireConnectionSlotAsync(slot, 1));
        var registration = await node.ObserveUserAsync(user, new RecordingUserObserver());
        await using (var saver = await ConnectionMultiplexer.ConnectAsync(own.Configuration + ",allowAdmin=true"))
        {
            await saver.GetDatabase().ExecuteAsync("SAVE");
        }

        await own.KillAsync();
        await node.ReleaseConnectionSlotAsync(slot); // logged, never thrown
        await registration.DisposeAsync(); // logged, never thrown

        // Redis comes back from its dump: it still counts the slot and the observer that went while it was down.
        await using var restarted = await RedisServer.StartAsync(["--dir", own.Directory], port: own.Port);
        await using var probe = await ConnectionMultiplexer.ConnectAsync(own.Configuration);
        var db = probe.GetDatabase();
        Assert.Equal(1, (int)await db.HashGetAsync(Keys.Slot(RedisKeys.SlotEntry(slot)), node.NodeId));
        Assert.Equal(1, (int)await db.HashGetAsync(Keys.UserNodes(user), node.NodeId));
        Assert.True(await RedisProbe.EventuallyAsync(() => Task.FromResult(node.IsConnected), true));

        await node.MaintainRegistrationsAsync();

        Assert.False(await db.KeyExistsAsync(Keys.Slot(RedisKeys.SlotEntry(slot))));
        Assert.False(await db.KeyExistsAsync(Keys.UserNodes(user)));
        Assert.Equal(0, await node.SendToUserAsync(new UserMessage(user, J("1"), Now)));
        Assert.True(await node.TryAcquireConnectionSlotAsync(slot, 1));
        await node.ReleaseConnectionSlotAsync(slot);
    }
}

/// <summary><see cref="RedisMessagingTestsBase"/> on the three-master Redis Cluster.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class RedisClusterMessagingTests(RedisClusterFixture cluster) : RedisMessagingTestsBase
{
    protected override string Configuration => cluster.Configuration;
}
