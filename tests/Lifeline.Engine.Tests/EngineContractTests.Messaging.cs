using static Lifeline.Engine.Tests.TestSupport;

namespace Lifeline.Engine.Tests;

// The guarantees of ILifelineEngine.Messaging.cs on one engine: events, user messages, disconnect orders, slots.
// Across nodes (Redis) the same rules are checked by the Redis suite with two engines.
public abstract partial class EngineContractTests
{
    [Fact]
    public async Task Emit_ReachesEveryObserverOnce_AndStoresNothing()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        await PublishAsync(engine, channel, """{"a":1}""");
        var first = new RecordingObserver();
        var second = new RecordingObserver();
        await using var r1 = await engine.ObserveAsync(channel, first);
        await using var r2 = await engine.ObserveAsync(channel, second);

        await engine.EmitAsync(new ChannelEvent(channel, "u1", J("""{"cursor":[10,20]}"""), NowMs, "conn-1"));

        foreach (var observer in new[] { first, second })
        {
            await observer.WaitForEventsAsync(1);
            var e = Assert.Single(observer.Events);
            Assert.Equal(channel, e.Channel);
            Assert.Equal("u1", e.User);
            Assert.Equal("conn-1", e.SenderConnectionId);
            Assert.Equal(NowMs, e.Ts);
            JsonEqual("""{"cursor":[10,20]}""", e.Data);
            Assert.Empty(observer.Deltas);
        }

        // No offset, no history, no state: the channel is where the publish left it.
        var snapshot = await engine.GetSnapshotAsync(channel);
        Assert.Equal(1, snapshot.Offset);
        JsonEqual("""{"a":1}""", snapshot.State);
        var recovery = await engine.RecoverAsync(channel, new Lifeline.Protocol.Position(snapshot.Epoch, 0));
        Assert.True(recovery.Recovered);
        Assert.Single(recovery.Deltas);
    }

    [Fact]
    public async Task Emit_OnAChannelNobodyObserves_IsHarmlessAndCreatesNothing()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();

        await engine.EmitAsync(new ChannelEvent(channel, null, J("42"), NowMs));

        var snapshot = await engine.GetSnapshotAsync(channel);
        Assert.Equal(0, snapshot.Offset);
        JsonEqual("{}", snapshot.State);
    }

    [Fact]
    public async Task Emit_KeepsItsOwnCopyOfTheData()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var observer = new RecordingObserver();
        await using var registration = await engine.ObserveAsync(channel, observer);
        var document = System.Text.Json.JsonDocument.Parse("""{"typing":true}""");

        await engine.EmitAsync(new ChannelEvent(channel, "u1", document.RootElement, NowMs));
        document.Dispose();

        await observer.WaitForEventsAsync(1);
        JsonEqual("""{"typing":true}""", Assert.Single(observer.Events).Data);
    }

    [Fact]
    public async Task Emit_AfterTheObserverIsDisposed_IsNotDelivered()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var gone = new RecordingObserver();
        var staying = new RecordingObserver();
        var registration = await engine.ObserveAsync(channel, gone);
        await using var stays = await engine.ObserveAsync(channel, staying);
        await registration.DisposeAsync();

        await engine.EmitAsync(new ChannelEvent(channel, "u1", J("1"), NowMs));

        await staying.WaitForEventsAsync(1);
        Assert.Empty(gone.Events);
    }

    [Fact]
    public async Task UserMessage_ReachesEveryObserverOfThatUserOnly_AndCountsThem()
    {
        var engine = await NewEngineAsync();
        var user = "user-" + Guid.NewGuid().ToString("N");
        var tab1 = new RecordingUserObserver();
        var tab2 = new RecordingUserObserver();
        var other = new RecordingUserObserver();
        await using var r1 = await engine.ObserveUserAsync(user, tab1);
        await using var r2 = await engine.ObserveUserAsync(user, tab2);
        await using var r3 = await engine.ObserveUserAsync(user + "-other", other);

        var count = await engine.SendToUserAsync(new UserMessage(user, J("""{"export":"ready"}"""), NowMs));

        Assert.Equal(2, count);
        foreach (var tab in new[] { tab1, tab2 })
        {
            await tab.WaitForMessagesAsync(1);
            var m = Assert.Single(tab.Messages);
            Assert.Equal(user, m.User);
            Assert.Equal(NowMs, m.Ts);
            JsonEqual("""{"export":"ready"}""", m.Data);
        }

        Assert.Empty(other.Messages);
    }

    [Fact]
    public async Task UserMessage_ToAUserWithNoObserver_CountsZero_AndIsNoError()
    {
        var engine = await NewEngineAsync();

        var count = await engine.SendToUserAsync(new UserMessage("nobody-" + Guid.NewGuid().ToString("N"), J("1"), NowMs));

        Assert.Equal(0, count);
    }

    [Fact]
    public async Task UserObserver_AfterDisposal_GetsNothing_AndIsNotCounted()
    {
        var engine = await NewEngineAsync();
        var user = "user-" + Guid.NewGuid().ToString("N");
        var observer = new RecordingUserObserver();
        var registration = await engine.ObserveUserAsync(user, observer);
        await registration.DisposeAsync();
        await registration.DisposeAsync(); // twice is harmless

        Assert.Equal(0, await engine.SendToUserAsync(new UserMessage(user, J("1"), NowMs)));
        Assert.Equal(0, await engine.DisconnectUserAsync(new UserDisconnect(user, 4001, "bye")));
        Assert.Empty(observer.Messages);
        Assert.Empty(observer.Disconnects);
    }

    [Fact]
    public async Task DisconnectUser_ReachesEveryObserverOfThatUser_WithCodeAndReason()
    {
        var engine = await NewEngineAsync();
        var user = "user-" + Guid.NewGuid().ToString("N");
        var observer = new RecordingUserObserver();
        await using var registration = await engine.ObserveUserAsync(user, observer);

        var count = await engine.DisconnectUserAsync(new UserDisconnect(user, 1008, "banned"));

        Assert.Equal(1, count);
        await observer.WaitForDisconnectsAsync(1);
        var d = Assert.Single(observer.Disconnects);
        Assert.Equal((user, 1008, "banned"), (d.User, d.Code, d.Reason));
        Assert.Empty(observer.Messages);
    }

    [Fact]
    public async Task ConnectionSlots_AreLimitedPerName_AndGivenBack()
    {
        var engine = await NewEngineAsync();
        var user = new ConnectionSlot(ConnectionSlotKind.User, "user-" + Guid.NewGuid().ToString("N"));
        var address = new ConnectionSlot(ConnectionSlotKind.Address, "10.9.8." + Random.Shared.Next(1, 250));
        var sameNameOtherKind = user with { Kind = ConnectionSlotKind.Address };

        Assert.True(await engine.TryAcquireConnectionSlotAsync(user, 2));
        Assert.True(await engine.TryAcquireConnectionSlotAsync(user, 2));
        Assert.False(await engine.TryAcquireConnectionSlotAsync(user, 2));
        Assert.True(await engine.TryAcquireConnectionSlotAsync(sameNameOtherKind, 1));
        Assert.True(await engine.TryAcquireConnectionSlotAsync(address, 1));
        Assert.False(await engine.TryAcquireConnectionSlotAsync(address, 1));

        await engine.ReleaseConnectionSlotAsync(user);
        Assert.True(await engine.TryAcquireConnectionSlotAsync(user, 2));
        Assert.False(await engine.TryAcquireConnectionSlotAsync(user, 2));

        await engine.ReleaseConnectionSlotAsync(address);
        Assert.True(await engine.TryAcquireConnectionSlotAsync(address, 1));

        // Clean up: every acquire that succeeded is released once.
        await engine.ReleaseConnectionSlotAsync(user);
        await engine.ReleaseConnectionSlotAsync(user);
        await engine.ReleaseConnectionSlotAsync(address);
        await engine.ReleaseConnectionSlotAsync(sameNameOtherKind);
        Assert.True(await engine.TryAcquireConnectionSlotAsync(user, 1));
        await engine.ReleaseConnectionSlotAsync(user);
    }

    [Fact]
    public async Task ConnectionSlots_ConcurrentAcquires_NeverExceedTheLimit()
    {
        const int max = 5;
        const int attempts = 40;
        var engine = await NewEngineAsync();
        var slot = new ConnectionSlot(ConnectionSlotKind.User, "user-" + Guid.NewGuid().ToString("N"));

        var results = await Task.WhenAll(Enumerable.Range(0, attempts)
            .Select(_ => Task.Run(async () => await engine.TryAcquireConnectionSlotAsync(slot, max)))).DefaultTimeout();

        Assert.Equal(max, results.Count(taken => taken));
        for (var i = 0; i < max; i++)
        {
            await engine.ReleaseConnectionSlotAsync(slot);
        }

        Assert.True(await engine.TryAcquireConnectionSlotAsync(slot, 1));
        await engine.ReleaseConnectionSlotAsync(slot);
    }
}
