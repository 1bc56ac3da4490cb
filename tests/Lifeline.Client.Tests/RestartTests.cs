using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;

namespace Lifeline.Client.Tests;

/// <summary>ConnectAsync again after CloseAsync or after giving up: the same client comes back (issue 15).</summary>
public class RestartTests : ClientTestBase
{
    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Fact]
    public async Task AfterGivingUp_ConnectAsyncAgain_Resumes_ResubscribesWithSince_FlushesTheQueue_AndKeepsTheHandlers()
    {
        var policy = new RecordingPolicy(new LimitedPolicy(TimeSpan.FromMilliseconds(20), maxAttempts: 1));
        var client = CreateClient(o => o.ReconnectPolicy = policy);
        var states = new StateRecorder(client);
        var channel = client.Channel("room");
        var changes = new List<long>();
        channel.Changed += (_, e) =>
        {
            lock (changes)
            {
                changes.Add(e.Offset);
            }
        };
        var (peer, _) = await ConnectAsync(client, session: "first");
        var subscribe = channel.SubscribeAsync();
        var request = await peer.ExpectAsync("subscribe");
        await peer.SendPackedAsync(
            new SubscribedMessage(request.GetProperty("id").GetInt64(), "room", "e1", 5, false),
            new SnapshotMessage("room", "e1", 5, Json("""{"n":5}""")));
        await subscribe.DefaultTimeout();

        // The server goes away for good: the first reconnect attempt fails and the policy gives up.
        var port = Server.Port;
        await Server.DisposeAsync();
        var closed = await states.WaitForStateAsync(ClientState.Closed, from: 2);
        Assert.Equal("retry_gave_up", closed.Reason);
        Assert.True(channel.IsSubscribed);

        await using var server = await ScriptedServer.StartAsync(port);
        var connect = client.ConnectAsync();
        Assert.Equal(ClientState.Connecting, client.State);

        // Made while connecting: queued, and sent after the channel is subscribed again.
        var publish = channel.PublishAsync(new JsonObject { ["n"] = 6 });
        var second = await server.AcceptAsync();
        var hello = await second.HandshakeAsync(session: "first", resumed: true);
        Assert.Equal("first", hello.GetProperty("resume").GetString());
        var resubscribe = await second.ExpectAsync("subscribe");
        Assert.Equal("e1", resubscribe.GetProperty("since").GetProperty("epoch").GetString());
        Assert.Equal(5, resubscribe.GetProperty("since").GetProperty("offset").GetInt64());
        var sent = await second.ExpectAsync("publish");
        Assert.Equal(6, sent.GetProperty("patch").GetProperty("n").GetInt32());
        await connect.DefaultTimeout();
        Assert.Equal(ClientState.Open, client.State);
        Assert.True(client.Resumed);

        await second.SendPackedAsync(
            new SubscribedMessage(resubscribe.GetProperty("id").GetInt64(), "room", "e1", 5, true),
            new ReplyMessage(sent.GetProperty("id").GetInt64(), true) { Offset = 6 },
            new DeltaMessage("room", 6, Json("""{"n":6}"""), 1));
        Assert.Equal(6, await publish.DefaultTimeout());
        await second.SendAsync(new ServerPing(1));
        await second.ExpectAsync("pong");

        lock (changes)
        {
            Assert.Equal([5L, 6], changes);
        }

        Assert.Equal("""{"n":6}""", channel.GetState().GetRawText());
        Assert.Equal(
            [ClientState.Connecting, ClientState.Open, ClientState.Reconnecting, ClientState.Closed, ClientState.Connecting, ClientState.Open],
            states.Events.Select(e => e.NewState).ToArray());
        second.Abort();
    }

    [Fact]
    public async Task ConnectAsync_WhileConnecting_OrOpen_ThrowsInvalidOperation_AndStartsNoSecondAttempt()
    {
        var client = CreateClient();
        var connect = client.ConnectAsync();
        var peer = await Server.AcceptAsync();
        Assert.Equal(ClientState.Connecting, client.State);
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.ConnectAsync());

        await peer.HandshakeAsync();
        await connect.DefaultTimeout();
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.ConnectAsync());
        await peer.SendAsync(new ServerPing(1));
        await peer.ExpectAsync("pong");
        Assert.Equal(1, Server.ConnectionCount);
        Assert.False(Server.TryAccept(out _));
    }

    [Fact]
    public async Task ConnectAsync_WhileReconnecting_ThrowsInvalidOperation()
    {
        var client = CreateClient(o => o.ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.FromHours(1)));
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);
        peer.Abort();
        await states.WaitForStateAsync(ClientState.Reconnecting);
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.ConnectAsync());
        Assert.Equal(1, Server.ConnectionCount);
    }

    [Fact]
    public async Task CloseThenConnect_ManyTimes_EachRunEndsCleanly_AndHandlersStayAttachedOnce()
    {
        var client = CreateClient();
        var opens = 0;
        client.StateChanged += (_, e) =>
        {
            if (e.NewState == ClientState.Open)
            {
                Interlocked.Increment(ref opens);
            }
        };

        for (var i = 1; i <= 5; i++)
        {
            var connect = client.ConnectAsync();
            var peer = await Server.AcceptAsync();
            var hello = await peer.HandshakeAsync(session: $"s{i}");
            await connect.DefaultTimeout();
            Assert.Equal(i == 1 ? null : $"s{i - 1}", hello.TryGetProperty("resume", out var resume) ? resume.GetString() : null);
            Assert.Equal(i, Volatile.Read(ref opens));

            var background = client.BackgroundTask;
            var closing = peer.WaitForCloseAsync();
            await client.CloseAsync().DefaultTimeout();
            await closing;
            peer.Release();
            Assert.True(background.IsCompleted);
            Assert.Equal(ClientState.Closed, client.State);
        }
    }
}
