using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;

namespace Lifeline.Client.Tests.Integration;

/// <summary>Channels, publishes, resume and presence against the real server.</summary>
public class RealServerChannelTests : RealServerClients
{
    private async Task AssertConvergedAsync(LifelineChannel channel)
    {
        var server = await Server.Lifeline.GetChannelAsync(channel.Name);
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (channel.Position?.Offset != server.Offset && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Equal(new Position(server.Epoch, server.Offset), channel.Position);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(server.State.GetRawText()), JsonNode.Parse(channel.GetState().GetRawText())), $"client {channel.GetState()} != server {server.State}");
    }

    [Fact]
    public async Task PublishesFanOut_InOrder_AndEveryClientConvergesOnTheServersState()
    {
        var alice = await ConnectAsync("alice");
        var bob = await ConnectAsync("bob");
        var aliceRoom = alice.Channel("room:1");
        var bobRoom = bob.Channel("room:1");
        var bobOffsets = new ConcurrentQueue<long>();
        bobRoom.Changed += (_, e) => bobOffsets.Enqueue(e.Offset);
        await aliceRoom.SubscribeAsync().DefaultTimeout();
        await bobRoom.SubscribeAsync().DefaultTimeout();

        var offsets = new List<long>();
        for (var i = 1; i <= 5; i++)
        {
            offsets.Add(await aliceRoom.PublishAsync(new JsonObject { ["n"] = i, [$"k{i}"] = true }).DefaultTimeout());
        }

        Assert.Equal(Enumerable.Range((int)offsets[0], 5).Select(o => (long)o), offsets);
        await AssertConvergedAsync(aliceRoom);
        await AssertConvergedAsync(bobRoom);
        var applied = bobOffsets.ToList();
        Assert.Equal(applied.Distinct().Count(), applied.Count);
        Assert.Equal(offsets, applied.Where(o => o >= offsets[0]));
        Assert.Equal(5, bobRoom.GetState().GetProperty("n").GetInt32());
    }

    [Fact]
    public async Task ServerSideAborts_WithPublishesInFlightOrQueued_AreAppliedExactlyOnce_AndTheSessionResumes()
    {
        var alice = await ConnectAsync("alice");
        var room = alice.Channel("room:2");
        var applied = new ConcurrentQueue<(long Offset, bool Snapshot)>();
        room.Changed += (_, e) => applied.Enqueue((e.Offset, e.IsSnapshot));
        await room.SubscribeAsync().DefaultTimeout();
        var states = new StateRecorder(alice);

        var publishes = new List<Task<long>>();
        for (var i = 1; i <= 8; i++)
        {
            var mark = states.Count;

            // Published just before the server drops the connection: in flight, or queued while reconnecting.
            publishes.Add(room.PublishAsync(new JsonObject { ["n"] = i, [$"p{i}"] = i }));
            Assert.Equal(1, await Server.Lifeline.DisconnectUserAsync("alice", CloseCode.Abnormal));
            publishes.Add(room.PublishAsync(new JsonObject { [$"q{i}"] = i }));
            await states.WaitForStateAsync(ClientState.Open, from: mark);
        }

        var offsets = await Task.WhenAll(publishes).DefaultTimeout();
        var server = await Server.Lifeline.GetChannelAsync("room:2");

        // Exactly once: 16 publishes, 16 offsets, all distinct, and the channel advanced by exactly 16.
        Assert.Equal(16, offsets.Distinct().Count());
        Assert.Equal(16, server.Offset);
        await AssertConvergedAsync(room);
        var deltas = applied.Where(a => !a.Snapshot).Select(a => a.Offset).ToList();
        Assert.Equal(deltas.Distinct().Count(), deltas.Count);
        Assert.True(alice.Resumed, "the session was not resumed");
    }

    [Fact]
    public async Task Presence_JoinEventsAndMembers()
    {
        var alice = await ConnectAsync("alice");
        var room = alice.Channel("room:3");
        var joined = new TaskCompletionSource<PresenceEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        room.Presence += (_, e) =>
        {
            if (e.IsJoin && e.User == "bob")
            {
                joined.TrySetResult(e);
            }
        };
        await room.SubscribeAsync().DefaultTimeout();

        var bob = await ConnectAsync("bob");
        await bob.Channel("room:3").SubscribeAsync().DefaultTimeout();

        await joined.Task.DefaultTimeout();
        var members = await room.GetPresenceAsync().DefaultTimeout();
        Assert.Equal(["alice", "bob"], members.Order());
    }
}
