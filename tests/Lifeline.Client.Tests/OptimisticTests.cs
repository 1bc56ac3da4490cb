using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;

namespace Lifeline.Client.Tests;

/// <summary>LifelineClientOptions.Optimistic: pending publishes shown at once, rebased on every delta, rolled back when refused (issue 15).</summary>
public class OptimisticTests : ClientTestBase
{
    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static DeltaMessage Delta(long offset, string patch) => new("doc", offset, Json(patch), 1_764_340_000_000 + offset);

    private async Task<(LifelineClient Client, ScriptedPeer Peer, LifelineChannel Channel, ConcurrentQueue<ChannelChangedEventArgs> Changes)> SubscribedAsync(bool optimistic, string state = """{"a":0}""", Action<LifelineClientOptions>? configure = null)
    {
        var client = CreateClient(o =>
        {
            o.Optimistic = optimistic;
            configure?.Invoke(o);
        });
        var (peer, _) = await ConnectAsync(client);
        var channel = client.Channel("doc");
        var changes = new ConcurrentQueue<ChannelChangedEventArgs>();
        channel.Changed += (_, e) => changes.Enqueue(e);
        var subscribe = channel.SubscribeAsync();
        var request = await peer.ExpectAsync("subscribe");
        await peer.SendPackedAsync(
            new SubscribedMessage(request.GetProperty("id").GetInt64(), "doc", "e1", 1, false),
            new SnapshotMessage("doc", "e1", 1, Json(state)));
        await subscribe.DefaultTimeout();
        Assert.Equal(ChannelChangeKind.Snapshot, Assert.Single(changes).Kind);
        changes.Clear();
        return (client, peer, channel, changes);
    }

    private static Task ReplyAsync(ScriptedPeer peer, JsonElement publish, string body) =>
        peer.SendRawAsync($$"""{"type":"reply","id":{{publish.GetProperty("id").GetInt64()}},{{body}}}""");

    /// <summary>A ping round trip: every message sent before it has been handled.</summary>
    private static async Task SettleAsync(ScriptedPeer peer)
    {
        await peer.SendAsync(new ServerPing(7));
        await peer.ExpectAsync("pong");
    }

    private static void AssertState(string expected, JsonElement actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), JsonNode.Parse(actual.GetRawText())), $"expected {expected}, got {actual.GetRawText()}");

    [Fact]
    public async Task Off_TheStateIsTheConfirmedOne_AndChangedFiresPerDelta_AsBefore()
    {
        var (_, peer, channel, changes) = await SubscribedAsync(optimistic: false);

        var publish = channel.PublishAsync(new JsonObject { ["a"] = 1 });
        var sent = await peer.ExpectAsync("publish");
        Assert.Equal(1, channel.PendingCount);
        AssertState("""{"a":0}""", channel.GetState());
        Assert.Empty(changes);

        await ReplyAsync(peer, sent, "\"ok\":true,\"offset\":2");
        await publish.DefaultTimeout();
        Assert.Equal(0, channel.PendingCount);
        await peer.SendAsync(Delta(2, """{"a":1}"""));
        await SettleAsync(peer);
        AssertState("""{"a":1}""", channel.GetState());
        AssertState("""{"a":1}""", channel.GetConfirmedState());
        Assert.Equal(ChannelChangeKind.Delta, Assert.Single(changes).Kind);
    }

    [Fact]
    public async Task EditsMadeOffline_ShowAtOnce_InOrder_AndTheServersConfirmationChangesNothingVisible()
    {
        var (client, peer, channel, changes) = await SubscribedAsync(optimistic: true);
        var states = new StateRecorder(client);
        peer.Abort();
        await states.WaitForStateAsync(ClientState.Reconnecting);

        var publishes = new[]
        {
            channel.PublishAsync(new JsonObject { ["a"] = 1, ["list"] = new JsonArray(1) }),
            channel.PublishAsync(new JsonObject { ["list"] = new JsonArray(1, 2) }),
            channel.PublishAsync(new JsonObject { ["b"] = "x" }),
        };

        // Shown at once, each one its own Changed, before anything reached a server.
        AssertState("""{"a":1,"list":[1,2],"b":"x"}""", channel.GetState());
        AssertState("""{"a":0}""", channel.GetConfirmedState());
        Assert.Equal(3, channel.PendingCount);
        Assert.Equal([ChannelChangeKind.Optimistic, ChannelChangeKind.Optimistic, ChannelChangeKind.Optimistic], changes.Select(c => c.Kind));
        Assert.All(changes, c => Assert.Equal(new Position("e1", 1), c.Position));
        changes.Clear();

        peer = await Server.AcceptAsync();
        await peer.HandshakeAsync();
        var resubscribe = await peer.ExpectAsync("subscribe");
        await peer.SendAsync(new SubscribedMessage(resubscribe.GetProperty("id").GetInt64(), "doc", "e1", 1, true));
        var flushed = new List<JsonElement>();
        for (var i = 0; i < 3; i++)
        {
            flushed.Add(await peer.ExpectAsync("publish"));
        }

        for (var i = 0; i < 3; i++)
        {
            var sent = flushed[i];
            await ReplyAsync(peer, sent, $"\"ok\":true,\"offset\":{2 + i}");

            // Between the reply and its delta the edit stays visible (no flicker).
            await SettleAsync(peer);
            AssertState("""{"a":1,"list":[1,2],"b":"x"}""", channel.GetState());
            await peer.SendAsync(Delta(2 + i, sent.GetProperty("patch").GetRawText()));
        }

        await Task.WhenAll(publishes).DefaultTimeout();
        await SettleAsync(peer);
        Assert.Equal(0, channel.PendingCount);
        AssertState("""{"a":1,"list":[1,2],"b":"x"}""", channel.GetState());
        AssertState("""{"a":1,"list":[1,2],"b":"x"}""", channel.GetConfirmedState());
        Assert.Empty(changes);
    }

    [Fact]
    public async Task EveryDeltaRebases_ThePendingPublishesStayOnTop()
    {
        var (_, peer, channel, changes) = await SubscribedAsync(optimistic: true);
        var publish = channel.PublishAsync(new JsonObject { ["a"] = 1 });
        var sent = await peer.ExpectAsync("publish");
        changes.Clear();

        // Someone else's change to another member: visible (Changed, Delta), with our pending edit still on top.
        await peer.SendAsync(Delta(2, """{"b":2}"""));
        await SettleAsync(peer);
        AssertState("""{"a":1,"b":2}""", channel.GetState());
        AssertState("""{"a":0,"b":2}""", channel.GetConfirmedState());
        Assert.Equal(ChannelChangeKind.Delta, Assert.Single(changes).Kind);
        changes.Clear();

        // Someone else's change to the member we edit: hidden under our pending edit, so nothing visible changes.
        await peer.SendAsync(Delta(3, """{"a":5}"""));
        await SettleAsync(peer);
        AssertState("""{"a":1,"b":2}""", channel.GetState());
        AssertState("""{"a":5,"b":2}""", channel.GetConfirmedState());
        Assert.Empty(changes);

        await ReplyAsync(peer, sent, "\"ok\":true,\"offset\":4");
        await peer.SendAsync(Delta(4, """{"a":1}"""));
        await publish.DefaultTimeout();
        await SettleAsync(peer);
        AssertState("""{"a":1,"b":2}""", channel.GetConfirmedState());
        Assert.Empty(changes);
    }

    [Fact]
    public async Task ARefusedPublish_IsRolledBack_AndChangedShowsIt()
    {
        var (_, peer, channel, changes) = await SubscribedAsync(optimistic: true);
        var allowed = channel.PublishAsync(new JsonObject { ["b"] = 1 });
        var forbidden = channel.PublishAsync(new JsonObject { ["a"] = 9 });
        AssertState("""{"a":9,"b":1}""", channel.GetState());
        var first = await peer.ExpectAsync("publish");
        var second = await peer.ExpectAsync("publish");
        changes.Clear();

        await ReplyAsync(peer, second, "\"ok\":false,\"error\":{\"code\":\"forbidden\",\"message\":\"read-only\"}");
        await Assert.ThrowsAsync<LifelinePublishException>(() => forbidden.DefaultTimeout());
        var rollback = await WaitForChangeAsync(changes);
        Assert.Equal(ChannelChangeKind.Rollback, rollback.Kind);
        Assert.Null(rollback.Patch);
        AssertState("""{"a":0,"b":1}""", channel.GetState());
        Assert.Equal(1, channel.PendingCount);

        await ReplyAsync(peer, first, "\"ok\":true,\"offset\":2");
        await peer.SendAsync(Delta(2, """{"b":1}"""));
        await allowed.DefaultTimeout();
        await SettleAsync(peer);
        AssertState("""{"a":0,"b":1}""", channel.GetState());
        Assert.Single(changes);
    }

    [Fact]
    public async Task ACancelledQueuedPublish_IsRolledBack()
    {
        var (client, peer, channel, changes) = await SubscribedAsync(optimistic: true, configure: o => o.ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.FromHours(1)));
        var states = new StateRecorder(client);
        peer.Abort();
        await states.WaitForStateAsync(ClientState.Reconnecting);

        using var cts = new CancellationTokenSource();
        var publish = channel.PublishAsync(new JsonObject { ["a"] = 3 }, cts.Token);
        AssertState("""{"a":3}""", channel.GetState());
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => publish.DefaultTimeout());
        var rollback = await WaitForChangeAsync(changes, ChannelChangeKind.Rollback);
        AssertState("""{"a":0}""", channel.GetState());
        Assert.Equal(0, channel.PendingCount);
        GC.KeepAlive(rollback);
    }

    [Fact]
    public async Task ConflictingUpdate_ShowsThenRollsBack_ThenShowsTheRetry()
    {
        var (_, peer, channel, changes) = await SubscribedAsync(optimistic: true, state: """{"items":[1]}""");
        var update = channel.UpdateAsync(s =>
        {
            s["items"] = new JsonArray([.. s["items"]!.AsArray().Select(n => n?.DeepClone()), JsonValue.Create(9)]);
            return s;
        });
        var first = await peer.ExpectAsync("publish");
        AssertState("""{"items":[1,9]}""", channel.GetState());

        await peer.SendAsync(Delta(2, """{"items":[1,2]}"""));
        await ReplyAsync(peer, first, "\"ok\":false,\"error\":{\"code\":\"conflict\",\"message\":\"moved\",\"epoch\":\"e1\",\"offset\":2}");
        var second = await peer.ExpectAsync("publish");
        Assert.Equal("""{"items":[1,2,9]}""", second.GetProperty("patch").GetRawText());
        AssertState("""{"items":[1,2,9]}""", channel.GetState());
        await ReplyAsync(peer, second, "\"ok\":true,\"offset\":3");
        await peer.SendAsync(Delta(3, """{"items":[1,2,9]}"""));
        Assert.Equal(3, await update.DefaultTimeout());
        AssertState("""{"items":[1,2,9]}""", channel.GetConfirmedState());
        Assert.Contains(changes, c => c.Kind == ChannelChangeKind.Rollback);
    }

    private static async Task<ChannelChangedEventArgs> WaitForChangeAsync(ConcurrentQueue<ChannelChangedEventArgs> changes, ChannelChangeKind? kind = null)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (DateTime.UtcNow < deadline)
        {
            var match = changes.FirstOrDefault(c => kind is null || c.Kind == kind);
            if (match is not null)
            {
                return match;
            }

            await Task.Delay(5);
        }

        throw new TimeoutException("no Changed event");
    }
}
