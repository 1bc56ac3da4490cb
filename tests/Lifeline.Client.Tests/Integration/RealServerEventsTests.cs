using System.Collections.Concurrent;
using System.Text.Json;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;

namespace Lifeline.Client.Tests.Integration;

/// <summary>Channel events (emit / event) and messages to a user (message) between .NET clients and the real server.</summary>
public class RealServerEventsTests : RealServerClients
{
    private static JsonElement J(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Fact]
    public async Task Emit_ReachesEveryOtherSubscriberOnce_WithUserAndData_NeverTheSender()
    {
        var alice = await ConnectAsync("alice");
        var bob = await ConnectAsync("bob");
        var aliceRoom = alice.Channel("room:events");
        var bobRoom = bob.Channel("room:events");
        await aliceRoom.SubscribeAsync().DefaultTimeout();
        await bobRoom.SubscribeAsync().DefaultTimeout();
        var atBob = new ConcurrentQueue<ChannelEventArgs>();
        var atAlice = new ConcurrentQueue<ChannelEventArgs>();
        var second = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bobRoom.EventReceived += (_, e) =>
        {
            atBob.Enqueue(e);
            if (atBob.Count == 2)
            {
                second.TrySetResult();
            }
        };
        aliceRoom.EventReceived += (_, e) => atAlice.Enqueue(e);

        await aliceRoom.EmitAsync(J("""{"cursor":[10,20]}""")).DefaultTimeout();
        Assert.True(await aliceRoom.Emit(J("\"typing\"")).DefaultTimeout());
        await second.Task.DefaultTimeout();

        Assert.Collection(
            atBob,
            e =>
            {
                Assert.Equal(("room:events", "alice"), (e.Channel, e.User));
                Assert.Equal("""{"cursor":[10,20]}""", e.Data.GetRawText());
                Assert.True(e.TimestampMs > 0);
            },
            e => Assert.Equal("\"typing\"", e.Data.GetRawText()));

        // Alice's own events never come back to her: a publish after them is the proof that everything before it arrived.
        var offset = await aliceRoom.PublishAsync(J("""{"n":1}""")).DefaultTimeout();
        await WaitUntilAsync(() => aliceRoom.Position?.Offset == offset);
        Assert.Empty(atAlice);
    }

    [Fact]
    public async Task Emit_IsRefusedWithTheServersCode_AndNeverQueuedWhileDisconnected()
    {
        var alice = await ConnectAsync("alice");
        var notSubscribed = alice.Channel("room:not-subscribed");

        var refused = await Assert.ThrowsAsync<LifelineRequestException>(() => notSubscribed.EmitAsync(J("1")).DefaultTimeout());
        Assert.Equal(ErrorCodes.NotSubscribed, refused.ErrorCode);

        var errors = new ConcurrentQueue<LifelineErrorEventArgs>();
        alice.Error += (_, e) => errors.Enqueue(e);
        Assert.False(await notSubscribed.Emit(J("1")).DefaultTimeout());
        Assert.Contains(errors, e => e.Code == ErrorCodes.NotSubscribed);

        await alice.CloseAsync().DefaultTimeout();
        await Assert.ThrowsAsync<LifelineDisconnectedException>(() => notSubscribed.EmitAsync(J("1")).DefaultTimeout());
        Assert.False(await notSubscribed.Emit(J("1")).DefaultTimeout());
        await Assert.ThrowsAsync<ArgumentException>(() => notSubscribed.EmitAsync(default));
    }

    [Fact]
    public async Task SendToUser_ReachesEveryConnectionOfThatUser_AndNoOneElse_OncePerMessage()
    {
        var aliceTab1 = await ConnectAsync("alice");
        var aliceTab2 = await ConnectAsync("alice");
        var bob = await ConnectAsync("bob");
        var received = new ConcurrentQueue<(string Who, UserMessageEventArgs Message)>();
        var both = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Record(string who, UserMessageEventArgs e)
        {
            received.Enqueue((who, e));
            if (received.Count(r => r.Who.StartsWith("alice", StringComparison.Ordinal)) == 2)
            {
                both.TrySetResult();
            }
        }

        aliceTab1.MessageReceived += (_, e) => Record("alice-1", e);
        aliceTab2.MessageReceived += (_, e) => Record("alice-2", e);
        bob.MessageReceived += (_, e) => Record("bob", e);

        var delivered = await Server.Lifeline.SendToUserAsync("alice", J("""{"export":"ready"}""")).DefaultTimeout();
        await both.Task.DefaultTimeout();

        Assert.Equal(2, delivered);
        Assert.Equal(["alice-1", "alice-2"], received.Select(r => r.Who).Order());
        Assert.All(received, r => Assert.Equal("""{"export":"ready"}""", r.Message.Data.GetRawText()));

        // Bob got nothing: a message to Bob now arrives first at Bob, and nothing else was there before it.
        var bobGot = new TaskCompletionSource<UserMessageEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        bob.MessageReceived += (_, e) => bobGot.TrySetResult(e);
        Assert.Equal(1, await Server.Lifeline.SendToUserAsync("bob", J("2")).DefaultTimeout());
        Assert.Equal("2", (await bobGot.Task.DefaultTimeout()).Data.GetRawText());
        Assert.Equal(["alice-1", "alice-2", "bob"], received.Select(r => r.Who).Order());
        Assert.Equal(0, await Server.Lifeline.SendToUserAsync("nobody", J("3")).DefaultTimeout());
    }

    [Fact]
    public async Task EventReceivedAndMessageReceived_FireOncePerEvent_AcrossReconnects()
    {
        // Issue 18: "Handlers fire once per event across reconnects, as for deltas" (PROTOCOL.md "Reconnection").
        var alice = await ConnectAsync("alice");
        var bob = await ConnectAsync("bob");
        var aliceRoom = alice.Channel("room:reconnects");
        var bobRoom = bob.Channel("room:reconnects");
        await aliceRoom.SubscribeAsync().DefaultTimeout();
        await bobRoom.SubscribeAsync().DefaultTimeout();
        var events = new ConcurrentQueue<string>();
        var messages = new ConcurrentQueue<string>();
        bobRoom.EventReceived += (_, e) => events.Enqueue(e.Data.GetRawText());
        bob.MessageReceived += (_, m) => messages.Enqueue(m.Data.GetRawText());
        var states = new StateRecorder(bob);

        const int Rounds = 3;
        for (var round = 0; round <= Rounds; round++)
        {
            await aliceRoom.EmitAsync(J($$"""{"e":{{round}}}""")).DefaultTimeout();
            Assert.Equal(1, await Server.Lifeline.SendToUserAsync("bob", J($$"""{"m":{{round}}}""")).DefaultTimeout());
            await WaitUntilAsync(() => events.Count > round && messages.Count > round);
            if (round == Rounds)
            {
                break;
            }

            // Dropped by the server: bob reconnects, resumes and subscribes again. Once bob has applied a publish made
            // on the new connection, its subscription there is live (events reach only synced subscriptions).
            var mark = states.Count;
            Assert.Equal(1, await Server.Lifeline.DisconnectUserAsync("bob", CloseCode.Abnormal));
            await states.WaitForStateAsync(ClientState.Open, from: mark).DefaultTimeout();
            var offset = await bobRoom.PublishAsync(J($$"""{"round":{{round}}}""")).DefaultTimeout();
            await WaitUntilAsync(() => bobRoom.Position?.Offset == offset);
        }

        // Markers queued behind everything above: once they arrived, nothing else is on its way.
        var last = await aliceRoom.PublishAsync(J("""{"marker":true}""")).DefaultTimeout();
        await WaitUntilAsync(() => bobRoom.Position?.Offset == last);
        Assert.Equal(1, await Server.Lifeline.SendToUserAsync("bob", J("\"marker\"")).DefaultTimeout());
        await WaitUntilAsync(() => messages.Count == Rounds + 2);

        Assert.Equal(Enumerable.Range(0, Rounds + 1).Select(i => $$"""{"e":{{i}}}"""), events);
        Assert.Equal(Enumerable.Range(0, Rounds + 1).Select(i => $$"""{"m":{{i}}}""").Append("\"marker\""), messages);
        Assert.Equal(Rounds, states.Events.Count(e => e.NewState == ClientState.Reconnecting));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }
}
