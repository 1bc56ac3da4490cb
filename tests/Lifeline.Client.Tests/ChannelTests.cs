using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;

namespace Lifeline.Client.Tests;

/// <summary>Channel state, resume and the publish queue against a scripted server.</summary>
public partial class ChannelTests : ClientTestBase
{
    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static SubscribedMessage Subscribed(long id, string channel, string epoch, long offset, bool recovered) =>
        new(id, channel, epoch, offset, recovered);

    private static DeltaMessage Delta(string channel, long offset, string patch) => new(channel, offset, Json(patch), 1_764_340_000_000 + offset);

    /// <summary>Answers the client's subscribe for <paramref name="channel"/> with a snapshot at <paramref name="offset"/>.</summary>
    private static async Task<JsonElement> ServeSnapshotAsync(ScriptedPeer peer, string channel, string epoch, long offset, string state)
    {
        var subscribe = await peer.ExpectAsync("subscribe");
        Assert.Equal(channel, subscribe.GetProperty("channel").GetString());
        await peer.SendPackedAsync(
            Subscribed(subscribe.GetProperty("id").GetInt64(), channel, epoch, offset, recovered: false),
            new SnapshotMessage(channel, epoch, offset, Json(state)));
        return subscribe;
    }

    [Fact]
    public async Task Subscribe_AppliesTheSnapshot_ThenDeltasInOrder_FromPackedFrames()
    {
        var client = CreateClient();
        var (peer, _) = await ConnectAsync(client);
        var channel = client.Channel("room:42");
        var changes = new List<ChannelChangedEventArgs>();
        channel.Changed += (_, e) => changes.Add(e);

        var subscribe = channel.SubscribeAsync();
        var request = await ServeSnapshotAsync(peer, "room:42", "e1", 41, """{"title":"old","n":1}""");
        Assert.False(request.TryGetProperty("since", out _));
        await subscribe.DefaultTimeout();
        Assert.Equal(new Position("e1", 41), channel.Position);

        await peer.SendPackedAsync(Delta("room:42", 42, """{"title":"hi"}"""), Delta("room:42", 43, """{"n":null,"done":true}"""));
        await peer.SendAsync(new ServerPing(1));
        await peer.ExpectAsync("pong");

        Assert.Equal(new Position("e1", 43), channel.Position);
        Assert.Equal("""{"title":"hi","done":true}""", channel.GetState().GetRawText());
        Assert.Equal([(41L, true), (42L, false), (43L, false)], changes.Select(c => (c.Offset, c.IsSnapshot)).ToArray());
        Assert.Equal("hi", channel.GetState(RoomJson.Default.Room)!.Title);
    }

    [Fact]
    public async Task Deltas_DuplicatesAreIgnored_AndAGapResubscribesFromTheLastPosition()
    {
        var client = CreateClient();
        var (peer, _) = await ConnectAsync(client);
        var channel = client.Channel("c");
        var applied = new List<long>();
        channel.Changed += (_, e) => applied.Add(e.Offset);
        var subscribe = channel.SubscribeAsync();
        await ServeSnapshotAsync(peer, "c", "e1", 3, """{"a":0}""");
        await subscribe.DefaultTimeout();

        await peer.SendPackedAsync(Delta("c", 4, """{"a":4}"""), Delta("c", 4, """{"a":-1}"""), Delta("c", 2, """{"a":-2}"""), Delta("c", 6, """{"a":6}"""));
        var resubscribe = await peer.ExpectAsync("subscribe");
        Assert.Equal("e1", resubscribe.GetProperty("since").GetProperty("epoch").GetString());
        Assert.Equal(4, resubscribe.GetProperty("since").GetProperty("offset").GetInt64());

        await peer.SendPackedAsync(
            Subscribed(resubscribe.GetProperty("id").GetInt64(), "c", "e1", 6, recovered: true),
            Delta("c", 5, """{"a":5}"""),
            Delta("c", 6, """{"a":6}"""),
            Delta("c", 6, """{"a":-6}"""));
        await peer.SendAsync(new ServerPing(1));
        await peer.ExpectAsync("pong");

        Assert.Equal([3L, 4, 5, 6], applied);
        Assert.Equal("""{"a":6}""", channel.GetState().GetRawText());
    }

    [Fact]
    public async Task Reconnect_ResubscribesWithSince_AndHandlersFireOncePerMessage_After10Reconnects()
    {
        var client = CreateClient(o => o.ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.Zero));
        var states = new StateRecorder(client);
        var channel = client.Channel("room");
        var applied = new List<long>();
        var messages = 0;
        channel.Changed += (_, e) =>
        {
            lock (applied)
            {
                applied.Add(e.Offset);
            }
        };
        client.ServerMessageReceived += (_, e) =>
        {
            if (e.Message is DeltaMessage)
            {
                Interlocked.Increment(ref messages);
            }
        };

        var (peer, _) = await ConnectAsync(client);
        var subscribe = channel.SubscribeAsync();
        await ServeSnapshotAsync(peer, "room", "e1", 0, "{}");
        await subscribe.DefaultTimeout();

        for (var k = 1; k <= 10; k++)
        {
            // One delta on this connection, then the server drops it without a close frame.
            await peer.SendAsync(Delta("room", k, $$"""{"k":{{k}}}"""));
            await peer.SendAsync(new ServerPing(k));
            await peer.ExpectAsync("pong");
            peer.Abort();

            peer = await Server.AcceptAsync();
            var hello = await peer.HandshakeAsync(resumed: true);
            Assert.Equal("s1", hello.GetProperty("resume").GetString());
            var resubscribe = await peer.ExpectAsync("subscribe");
            Assert.Equal("e1", resubscribe.GetProperty("since").GetProperty("epoch").GetString());
            Assert.Equal(k, resubscribe.GetProperty("since").GetProperty("offset").GetInt64());
            await peer.SendAsync(Subscribed(resubscribe.GetProperty("id").GetInt64(), "room", "e1", k, recovered: true));
        }

        await peer.SendAsync(new ServerPing(99));
        await peer.ExpectAsync("pong");
        lock (applied)
        {
            Assert.Equal(Enumerable.Range(0, 11).Select(i => (long)i), applied);
        }

        Assert.Equal(10, Volatile.Read(ref messages));
        Assert.Equal(11, Server.ConnectionCount);
        Assert.Equal(10, states.Events.Count(e => e.NewState == ClientState.Reconnecting));
        Assert.Equal("""{"k":10}""", channel.GetState().GetRawText());
    }

    [Fact]
    public async Task Reconnect_ToANewEpoch_ReplacesTheStateFromTheSnapshot()
    {
        var client = CreateClient();
        var (peer, _) = await ConnectAsync(client);
        var channel = client.Channel("c");
        var subscribe = channel.SubscribeAsync();
        await ServeSnapshotAsync(peer, "c", "e1", 50, """{"old":true}""");
        await subscribe.DefaultTimeout();
        peer.Abort();

        // The server restarted: new epoch, offsets restart. A stray delta before the snapshot must not apply.
        peer = await Server.AcceptAsync();
        await peer.HandshakeAsync(session: "s2");
        var resubscribe = await peer.ExpectAsync("subscribe");
        Assert.Equal(50, resubscribe.GetProperty("since").GetProperty("offset").GetInt64());
        await peer.SendPackedAsync(
            Subscribed(resubscribe.GetProperty("id").GetInt64(), "c", "e2", 2, recovered: false),
            Delta("c", 51, """{"bogus":true}"""),
            new SnapshotMessage("c", "e2", 2, Json("""{"fresh":1}""")),
            Delta("c", 3, """{"fresh":3}"""));
        await peer.SendAsync(new ServerPing(1));
        await peer.ExpectAsync("pong");

        Assert.Equal(new Position("e2", 3), channel.Position);
        Assert.Equal("""{"fresh":3}""", channel.GetState().GetRawText());
    }

    [Fact]
    public async Task PublishesMadeWhileDisconnected_AreSentAfterResubscribe_InOrder_WithTheirKeys()
    {
        var client = CreateClient(o => o.ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(200)));
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);
        var channel = client.Channel("c");
        var subscribe = channel.SubscribeAsync();
        await ServeSnapshotAsync(peer, "c", "e1", 0, "{}");
        await subscribe.DefaultTimeout();

        peer.Abort();
        await states.WaitForStateAsync(ClientState.Reconnecting);
        var publishes = Enumerable.Range(1, 3).Select(i => channel.PublishAsync(new JsonObject { ["i"] = i })).ToList();
        Assert.All(publishes, p => Assert.False(p.IsCompleted));
        Assert.Equal(3, client.PendingPublishCount);

        peer = await Server.AcceptAsync();
        await peer.HandshakeAsync();
        await peer.ExpectAsync("subscribe");
        var keys = new List<string>();
        for (var i = 1; i <= 3; i++)
        {
            var publish = await peer.ExpectAsync("publish");
            Assert.Equal("c", publish.GetProperty("channel").GetString());
            Assert.Equal(i, publish.GetProperty("patch").GetProperty("i").GetInt32());
            keys.Add(publish.GetProperty("key").GetString()!);
            await peer.SendRawAsync($$"""{"type":"reply","id":{{publish.GetProperty("id").GetInt64()}},"ok":true,"offset":{{100 + i}}}""");
        }

        var offsets = await Task.WhenAll(publishes).DefaultTimeout();
        Assert.Equal(new long[] { 101, 102, 103 }, offsets);
        Assert.Equal(3, keys.Distinct().Count());
        Assert.All(keys, k => Assert.InRange(k.Length, 1, ProtocolConstants.MaxKeyLength));
        Assert.Equal(0, client.PendingPublishCount);
    }

    [Fact]
    public async Task PublishInFlight_WhenTheConnectionDrops_IsResentWithTheSameKey()
    {
        var client = CreateClient();
        var (peer, _) = await ConnectAsync(client);
        var channel = client.Channel("c");

        var publish = channel.PublishAsync(Json("""{"x":1}"""));
        var first = await peer.ExpectAsync("publish");
        peer.Abort();

        peer = await Server.AcceptAsync();
        await peer.HandshakeAsync();
        var resent = await peer.ExpectAsync("publish");
        Assert.Equal(first.GetProperty("key").GetString(), resent.GetProperty("key").GetString());
        Assert.Equal(1, resent.GetProperty("patch").GetProperty("x").GetInt32());
        await peer.SendRawAsync($$"""{"type":"reply","id":{{resent.GetProperty("id").GetInt64()}},"ok":true,"offset":7}""");
        Assert.Equal(7, await publish.DefaultTimeout());
    }

    [Fact]
    public async Task PublishRefused_ThrowsLifelinePublishException_WithTheServerCode()
    {
        var client = CreateClient();
        var (peer, _) = await ConnectAsync(client);
        var channel = client.Channel("c");

        var refused = channel.PublishAsync(Json("""{"x":1}"""));
        var request = await peer.ExpectAsync("publish");
        await peer.SendAsync(new ReplyMessage(request.GetProperty("id").GetInt64(), false) { Error = new ErrorInfo(ErrorCodes.Forbidden, "no") });
        var ex = await Assert.ThrowsAsync<LifelinePublishException>(() => refused.DefaultTimeout());
        Assert.Equal(ErrorCodes.Forbidden, ex.ErrorCode);

        var invalid = channel.PublishAsync(Json("""{"x":2}"""));
        request = await peer.ExpectAsync("publish");
        await peer.SendRawAsync($$"""{"type":"error","id":{{request.GetProperty("id").GetInt64()}},"code":"limit_exceeded","message":"too big"}""");
        Assert.Equal(ErrorCodes.LimitExceeded, (await Assert.ThrowsAsync<LifelinePublishException>(() => invalid.DefaultTimeout())).ErrorCode);

        await Assert.ThrowsAsync<ArgumentException>(() => channel.PublishAsync(Json("[1]")));
        Assert.Equal(0, client.PendingPublishCount);
    }

    [Fact]
    public async Task OfflineQueue_IsBounded_AndOverflowIsAnExplicitError()
    {
        var client = CreateClient(o =>
        {
            o.OfflineQueueLimit = 2;
            o.ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.FromHours(1));
        });
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);
        peer.Abort();
        await states.WaitForStateAsync(ClientState.Reconnecting);

        var channel = client.Channel("c");
        var a = channel.PublishAsync(Json("""{"a":1}"""));
        var b = channel.PublishAsync(Json("""{"b":1}"""));
        await Assert.ThrowsAsync<LifelineQueueFullException>(() => channel.PublishAsync(Json("""{"c":1}""")));
        Assert.Equal(2, client.PendingPublishCount);

        // Cancelling a queued publish frees its place.
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await client.CloseAsync();
        await Assert.ThrowsAsync<LifelineDisconnectedException>(() => a.DefaultTimeout());
        await Assert.ThrowsAsync<LifelineDisconnectedException>(() => b.DefaultTimeout());
    }

    [Fact]
    public async Task CancellingAQueuedPublish_RemovesItFromTheQueue()
    {
        var client = CreateClient(o => o.ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.FromHours(1)));
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);
        peer.Abort();
        await states.WaitForStateAsync(ClientState.Reconnecting);
        using var cts = new CancellationTokenSource();
        var publish = client.Channel("c").PublishAsync(Json("""{"a":1}"""), cts.Token);
        Assert.Equal(1, client.PendingPublishCount);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => publish.DefaultTimeout());
        Assert.Equal(0, client.PendingPublishCount);
    }

    [Fact]
    public async Task PendingRequests_FailWithDisconnected_WhenTheConnectionDrops_AndTheChannelStaysSubscribed()
    {
        var client = CreateClient();
        var (peer, _) = await ConnectAsync(client);
        var channel = client.Channel("c");

        var presence = channel.GetPresenceAsync();
        await peer.ExpectAsync("presence");
        var subscribe = channel.SubscribeAsync();
        await peer.ExpectAsync("subscribe");
        peer.Abort();

        await Assert.ThrowsAsync<LifelineDisconnectedException>(() => presence.DefaultTimeout());
        await Assert.ThrowsAsync<LifelineDisconnectedException>(() => subscribe.DefaultTimeout());
        Assert.True(channel.IsSubscribed);

        // The subscription is made again on the next connection, and a new SubscribeAsync completes with it.
        peer = await Server.AcceptAsync();
        await peer.HandshakeAsync();
        var again = channel.SubscribeAsync();
        await ServeSnapshotAsync(peer, "c", "e1", 1, """{"v":1}""");
        await again.DefaultTimeout();
        Assert.Equal(new Position("e1", 1), channel.Position);
    }

    [Fact]
    public async Task SubscribeMadeBeforeWelcome_IsSentAfterHello_AndCompletesOnceSynchronized()
    {
        var client = CreateClient();
        var connect = client.ConnectAsync();
        var channel = client.Channel("early");
        var subscribe = channel.SubscribeAsync();
        var peer = await Server.AcceptAsync();
        await peer.HandshakeAsync();

        var request = await peer.ExpectAsync("subscribe");
        Assert.False(subscribe.IsCompleted);
        await peer.SendAsync(Subscribed(request.GetProperty("id").GetInt64(), "early", "e1", 5, recovered: false));
        await connect.DefaultTimeout();
        await peer.SendAsync(new ServerPing(1));
        await peer.ExpectAsync("pong");
        Assert.False(subscribe.IsCompleted, "SubscribeAsync completed before the snapshot arrived");

        await peer.SendAsync(new SnapshotMessage("early", "e1", 5, Json("""{"ready":true}""")));
        await subscribe.DefaultTimeout();
        Assert.Equal(new Position("e1", 5), channel.Position);

        // Subscribing again while synchronized completes at once and sends nothing.
        await channel.SubscribeAsync().DefaultTimeout();
        await peer.SendAsync(new ServerPing(2));
        Assert.Equal(2, (await peer.ExpectAsync("pong")).GetProperty("n").GetInt64());
    }

    [Fact]
    public async Task SubscribeRefused_ThrowsLifelineRequestException_AndIsNotRetried()
    {
        var client = CreateClient();
        var (peer, _) = await ConnectAsync(client);
        var channel = client.Channel("secret");
        var subscribe = channel.SubscribeAsync();
        var request = await peer.ExpectAsync("subscribe");
        await peer.SendAsync(new ReplyMessage(request.GetProperty("id").GetInt64(), false) { Error = new ErrorInfo(ErrorCodes.Forbidden, "no") });
        Assert.Equal(ErrorCodes.Forbidden, (await Assert.ThrowsAsync<LifelineRequestException>(() => subscribe.DefaultTimeout())).ErrorCode);
        Assert.False(channel.IsSubscribed);
    }

    [Fact]
    public async Task Presence_EventsAndMembers()
    {
        var client = CreateClient();
        var (peer, _) = await ConnectAsync(client);
        var channel = client.Channel("c");
        var events = new List<PresenceEventArgs>();
        channel.Presence += (_, e) => events.Add(e);
        var subscribe = channel.SubscribeAsync();
        await ServeSnapshotAsync(peer, "c", "e1", 0, "{}");
        await subscribe.DefaultTimeout();

        var members = channel.GetPresenceAsync();
        var request = await peer.ExpectAsync("presence");
        await peer.SendPackedAsync(
            new PresenceMessage("c", "join", "u2", null, 1),
            new ReplyMessage(request.GetProperty("id").GetInt64(), true) { Members = ["u1", "u2"] },
            new PresenceMessage("c", "leave", "u2", "disconnect", 2));

        Assert.Equal(["u1", "u2"], await members.DefaultTimeout());
        await peer.SendAsync(new ServerPing(1));
        await peer.ExpectAsync("pong");
        Assert.Equal([("join", "u2", (string?)null), ("leave", "u2", "disconnect")], events.Select(e => (e.Kind, e.User, e.Reason)).ToArray());
    }

    [Fact]
    public async Task Unsubscribe_StopsApplyingDeltas_AndIsNotResubscribed()
    {
        var client = CreateClient();
        var (peer, _) = await ConnectAsync(client);
        var channel = client.Channel("c");
        var subscribe = channel.SubscribeAsync();
        await ServeSnapshotAsync(peer, "c", "e1", 0, "{}");
        await subscribe.DefaultTimeout();

        var unsubscribe = channel.UnsubscribeAsync();
        var request = await peer.ExpectAsync("unsubscribe");
        await peer.SendRawAsync($$"""{"type":"reply","id":{{request.GetProperty("id").GetInt64()}},"ok":true}""");
        await unsubscribe.DefaultTimeout();
        await peer.SendAsync(Delta("c", 1, """{"a":1}"""));
        peer.Abort();

        peer = await Server.AcceptAsync();
        await peer.HandshakeAsync();
        await peer.SendAsync(new ServerPing(5));
        Assert.Equal(5, (await peer.ExpectAsync("pong")).GetProperty("n").GetInt64());
        Assert.Equal(new Position("e1", 0), channel.Position);
        Assert.False(channel.IsSubscribed);
    }
}

internal sealed record Room(string? Title);

[JsonSerializable(typeof(Room))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class RoomJson : JsonSerializerContext;
