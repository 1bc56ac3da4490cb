using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests;

/// <summary>Channels over the wire: subscribe, snapshot, delta, publish, idempotency, recovery, refusals.</summary>
public sealed class ChannelTests
{
    [Fact]
    public async Task Subscribe_without_since_gets_subscribed_then_an_empty_snapshot()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room:1" });

        var subscribed = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal(1, subscribed.GetProperty("id").GetInt64());
        Assert.Equal("room:1", subscribed.GetProperty("channel").GetString());
        Assert.Equal(0, subscribed.GetProperty("offset").GetInt64());
        Assert.False(subscribed.GetProperty("recovered").GetBoolean());
        var snapshot = await client.ReceiveTypeAsync("snapshot");
        Assert.Equal(subscribed.GetProperty("epoch").GetString(), snapshot.GetProperty("epoch").GetString());
        Assert.Equal(0, snapshot.GetProperty("offset").GetInt64());
        Assert.Equal("{}", snapshot.GetProperty("state").GetRawText());
    }

    [Fact]
    public async Task Publish_replies_with_the_offset_and_every_subscriber_gets_the_delta()
    {
        await using var server = await TestServer.StartAsync();
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        var (b, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = a;
        await using var ___ = b;
        foreach (var c in new[] { a, b })
        {
            await c.SendJsonAsync(new { type = "subscribe", id = 1, channel = "todo" });
            await c.ReceiveTypeAsync("snapshot");
        }

        await a.SendJsonAsync(new { type = "publish", id = 2, channel = "todo", key = "k1", patch = new { title = "hi", done = false } });
        var received = await a.ReceiveUntilAsync(list => list.Any(m => m.GetProperty("type").GetString() == "reply") && list.Any(m => m.GetProperty("type").GetString() == "delta"));
        var reply = received.Single(m => m.GetProperty("type").GetString() == "reply");
        Assert.True(reply.GetProperty("ok").GetBoolean());
        Assert.Equal(1, reply.GetProperty("offset").GetInt64());

        foreach (var c in new[] { a, b })
        {
            var delta = c == a ? received.Single(m => m.GetProperty("type").GetString() == "delta") : await c.ReceiveTypeAsync("delta");
            Assert.Equal("todo", delta.GetProperty("channel").GetString());
            Assert.Equal(1, delta.GetProperty("offset").GetInt64());
            Assert.Equal("hi", delta.GetProperty("patch").GetProperty("title").GetString());
            Assert.True(delta.GetProperty("ts").GetInt64() > 1_700_000_000_000);
        }

        var state = await server.Lifeline.GetChannelAsync("todo");
        Assert.Equal(1, state.Offset);
        Assert.Equal("hi", state.State.GetProperty("title").GetString());
    }

    [Fact]
    public async Task Merge_patch_null_removes_a_member()
    {
        await using var server = await TestServer.StartAsync();
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = a;
        await a.SendTextAsync("{\"type\":\"publish\",\"id\":1,\"channel\":\"c\",\"patch\":{\"x\":1,\"y\":{\"z\":2}}}");
        await a.ReceiveTypeAsync("reply");
        await a.SendTextAsync("{\"type\":\"publish\",\"id\":2,\"channel\":\"c\",\"patch\":{\"x\":null,\"y\":{\"w\":3}}}");
        await a.ReceiveTypeAsync("reply");
        var state = await server.Lifeline.GetChannelAsync("c");
        Assert.Equal("{\"y\":{\"z\":2,\"w\":3}}", state.State.GetRawText());
    }

    [Fact]
    public async Task A_repeated_idempotency_key_returns_the_first_result_and_is_not_applied_again()
    {
        await using var server = await TestServer.StartAsync();
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = a;
        await a.SendJsonAsync(new { type = "subscribe", id = 1, channel = "c" });
        await a.ReceiveTypeAsync("snapshot");
        await a.SendJsonAsync(new { type = "publish", id = 2, channel = "c", key = "same", patch = new { n = 1 } });
        var first = await a.ReceiveTypeAsync("reply");
        await a.SendJsonAsync(new { type = "publish", id = 3, channel = "c", key = "same", patch = new { n = 2 } });
        var second = await a.ReceiveTypeAsync("reply");

        Assert.Equal(3, second.GetProperty("id").GetInt64());
        Assert.Equal(first.GetProperty("offset").GetInt64(), second.GetProperty("offset").GetInt64());
        var state = await server.Lifeline.GetChannelAsync("c");
        Assert.Equal(1, state.Offset);
        Assert.Equal(1, state.State.GetProperty("n").GetInt32());
    }

    [Fact]
    public async Task Idempotency_holds_across_a_reconnect_of_the_same_user()
    {
        await using var server = await TestServer.StartAsync(authenticator: new TokenIsUserAuthenticator());
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, token: "u1");
        await a.SendJsonAsync(new { type = "publish", id = 1, channel = "c", key = "k", patch = new { n = 1 } });
        var first = await a.ReceiveTypeAsync("reply");
        await a.DisposeAsync();

        var (b, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, token: "u1");
        await using var __ = b;
        await b.SendJsonAsync(new { type = "publish", id = 1, channel = "c", key = "k", patch = new { n = 1 } });
        var again = await b.ReceiveTypeAsync("reply");
        Assert.Equal(first.GetProperty("offset").GetInt64(), again.GetProperty("offset").GetInt64());
        Assert.Equal(1, (await server.Lifeline.GetChannelAsync("c")).Offset);
    }

    [Fact]
    public async Task Subscribe_with_since_in_the_same_epoch_recovers_only_the_missing_deltas()
    {
        await using var server = await TestServer.StartAsync();
        for (var i = 1; i <= 5; i++)
        {
            await server.Lifeline.PublishAsync("c", JsonDocument.Parse($"{{\"v\":{i}}}").RootElement);
        }

        var epoch = (await server.Lifeline.GetChannelAsync("c")).Epoch;
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = a;
        await a.SendJsonAsync(new { type = "subscribe", id = 7, channel = "c", since = new { epoch, offset = 3 } });
        var subscribed = await a.ReceiveTypeAsync("subscribed");
        Assert.True(subscribed.GetProperty("recovered").GetBoolean());
        Assert.Equal(5, subscribed.GetProperty("offset").GetInt64());
        Assert.Equal(4, (await a.ReceiveTypeAsync("delta")).GetProperty("offset").GetInt64());
        Assert.Equal(5, (await a.ReceiveTypeAsync("delta")).GetProperty("offset").GetInt64());
    }

    [Fact]
    public async Task Subscribe_with_an_unknown_epoch_gets_a_snapshot()
    {
        await using var server = await TestServer.StartAsync();
        await server.Lifeline.PublishAsync("c", JsonDocument.Parse("{\"v\":1}").RootElement);
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = a;
        await a.SendJsonAsync(new { type = "subscribe", id = 1, channel = "c", since = new { epoch = "old", offset = 0 } });
        var subscribed = await a.ReceiveTypeAsync("subscribed");
        Assert.False(subscribed.GetProperty("recovered").GetBoolean());
        var snapshot = await a.ReceiveTypeAsync("snapshot");
        Assert.Equal(1, snapshot.GetProperty("state").GetProperty("v").GetInt32());
    }

    [Theory]
    [InlineData("")]
    [InlineData("room 1")]
    [InlineData("room\u0001")]
    [InlineData("räum")]
    public async Task Bad_channel_names_get_invalid_channel(string channel)
    {
        await using var server = await TestServer.StartAsync();
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = a;
        await a.SendJsonAsync(new { type = "subscribe", id = 1, channel });
        var reply = await a.ReceiveTypeAsync("reply");
        Assert.False(reply.GetProperty("ok").GetBoolean());
        Assert.Equal("invalid_channel", reply.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Too_long_channel_name_gets_invalid_channel()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxChannelNameLength = 16);
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = a;
        await a.SendJsonAsync(new { type = "publish", id = 1, channel = new string('a', 17), patch = new { } });
        var reply = await a.ReceiveTypeAsync("reply");
        Assert.Equal("invalid_channel", reply.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Unsubscribe_replies_ok_and_unknown_channel_gets_not_subscribed()
    {
        await using var server = await TestServer.StartAsync();
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = a;
        await a.SendJsonAsync(new { type = "unsubscribe", id = 1, channel = "nope" });
        var refused = await a.ReceiveTypeAsync("reply");
        Assert.False(refused.GetProperty("ok").GetBoolean());
        Assert.Equal("not_subscribed", refused.GetProperty("error").GetProperty("code").GetString());

        await a.SendJsonAsync(new { type = "subscribe", id = 2, channel = "c" });
        await a.ReceiveTypeAsync("snapshot");
        await a.SendJsonAsync(new { type = "unsubscribe", id = 3, channel = "c" });
        var ok = await a.ReceiveTypeAsync("reply");
        Assert.Equal(3, ok.GetProperty("id").GetInt64());
        Assert.True(ok.GetProperty("ok").GetBoolean());

        // no more deltas after unsubscribe
        await server.Lifeline.PublishAsync("c", JsonDocument.Parse("{\"v\":1}").RootElement);
        await a.SendJsonAsync(new { type = "ping", n = 99 });
        var next = await a.ReceiveAsync();
        Assert.Equal("pong", next!.Value.GetProperty("type").GetString());
    }

    [Fact]
    public async Task Channel_policy_refusals_get_forbidden_and_change_nothing()
    {
        await using var server = await TestServer.StartAsync(services: s => s.AddSingleton<IChannelPolicy>(new ReadOnlyPolicy()));
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = a;
        await a.SendJsonAsync(new { type = "publish", id = 1, channel = "c", patch = new { v = 1 } });
        var reply = await a.ReceiveTypeAsync("reply");
        Assert.Equal("forbidden", reply.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("read only", reply.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(0, (await server.Lifeline.GetChannelAsync("c")).Offset);

        await a.SendJsonAsync(new { type = "subscribe", id = 2, channel = "secret:x" });
        Assert.Equal("forbidden", (await a.ReceiveTypeAsync("reply")).GetProperty("error").GetProperty("code").GetString());
        await a.SendJsonAsync(new { type = "presence", id = 3, channel = "secret:x" });
        Assert.Equal("forbidden", (await a.ReceiveTypeAsync("reply")).GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Server_side_publish_validates_like_a_client_publish()
    {
        await using var server = await TestServer.StartAsync();
        var error = await Assert.ThrowsAsync<LifelineRequestException>(() => server.Lifeline.PublishAsync("c", JsonDocument.Parse("[1]").RootElement));
        Assert.Equal("invalid_message", error.Code);
        error = await Assert.ThrowsAsync<LifelineRequestException>(() => server.Lifeline.PublishAsync("bad name", JsonDocument.Parse("{}").RootElement));
        Assert.Equal("invalid_channel", error.Code);
        var result = await server.Lifeline.PublishAsync("c", JsonDocument.Parse("{\"a\":1}").RootElement, key: "job-1");
        var again = await server.Lifeline.PublishAsync("c", JsonDocument.Parse("{\"a\":2}").RootElement, key: "job-1");
        Assert.Equal(result.Offset, again.Offset);
        Assert.True(again.Duplicate);
    }

    [Fact]
    public async Task Slow_consumer_is_closed_with_1013_and_recovers_from_its_offset()
    {
        await using var server = await TestServer.StartAsync(o => o.SendQueueLimit = 64);
        var (slow, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = slow;
        var mirror = new ChannelMirror();
        await slow.SendJsonAsync(new { type = "subscribe", id = 1, channel = "c" });
        while (mirror.Epoch is null || mirror.Snapshots == 0)
        {
            mirror.Apply((await slow.ReceiveAsync())!.Value);
        }

        // The client stops reading; 20,000 deltas of 1 KiB overflow its 64-message queue once the socket buffers fill.
        var pad = new string('p', 1024);
        for (var i = 1; i <= 20_000 && server.Disconnects.Calls.Count == 0; i++)
        {
            await server.Lifeline.PublishAsync("c", JsonDocument.Parse($"{{\"n\":{i},\"pad\":\"{pad}\"}}").RootElement);
        }

        await server.Disconnects.WaitForCountAsync(1);
        var disconnect = Assert.Single(server.Disconnects.Calls);
        Assert.Equal(1013, disconnect.CloseCode.Code);
        Assert.Equal("slow_consumer", disconnect.Reason);

        // What the client had read before the close is consistent; it resumes from there and loses nothing.
        while (await slow.ReceiveAsync(TimeSpan.FromSeconds(10)).ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : null) is { } m)
        {
            mirror.Apply(m);
        }

        // The 1013 close frame reaches the client only if its socket buffers had room for it; otherwise the server's
        // close bound ran out and it reset the connection. Either way the connection is over.
        Assert.True(slow.CloseStatus is null || (int)slow.CloseStatus == 1013, $"closed with {slow.CloseStatus}");
        Assert.NotEqual(WebSocketState.Open, slow.Socket.State);
        var (again, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var ___ = again;
        await again.SendJsonAsync(new { type = "subscribe", id = 1, channel = "c", since = new { epoch = mirror.Epoch, offset = mirror.Offset } });
        var server_ = await server.Lifeline.GetChannelAsync("c");
        while (mirror.Offset < server_.Offset)
        {
            mirror.Apply((await again.ReceiveAsync())!.Value);
        }

        Assert.Empty(mirror.Violations);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(server_.State.GetRawText()), mirror.State));
    }

    [Fact]
    public async Task A_catch_up_longer_than_the_send_queue_limit_is_delivered_not_closed_as_a_slow_consumer()
    {
        // Chaos scenario 6: a client that resumed 500 deltas behind was closed with 1013 by its own catch-up, at once,
        // on every reconnect (each delta was one entry against the 16-message queue). The catch-up is packed into
        // frame-sized entries; the bound judges how fast the client reads.
        await using var server = await TestServer.StartAsync(o => o.SendQueueLimit = 16);
        for (var i = 1; i <= 500; i++)
        {
            await server.Lifeline.PublishAsync("c", JsonDocument.Parse($"{{\"n\":{i},\"pad\":\"{new string('p', 100)}\"}}").RootElement);
        }

        var epoch = (await server.Lifeline.GetChannelAsync("c")).Epoch;
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = "c", since = new { epoch, offset = 1 } });
        Assert.True((await client.ReceiveTypeAsync("subscribed")).GetProperty("recovered").GetBoolean());
        for (var expected = 2L; expected <= 500; expected++)
        {
            var delta = await client.ReceiveTypeAsync("delta");
            Assert.Equal(expected, delta.GetProperty("offset").GetInt64());
        }

        Assert.Empty(server.Disconnects.Calls);
        Assert.Equal(WebSocketState.Open, client.Socket.State);
        Assert.Empty(server.Logs.Named("SlowConsumer"));
    }

    private sealed class ReadOnlyPolicy : IChannelPolicy
    {
        public ValueTask<ChannelDecision> DecideAsync(ChannelRequest request, CancellationToken cancellationToken) =>
            ValueTask.FromResult(request switch
            {
                { Operation: ChannelOperation.Publish } => ChannelDecision.Forbid("read only"),
                { Channel: var c } when c.StartsWith("secret:", StringComparison.Ordinal) => ChannelDecision.Forbid(),
                _ => ChannelDecision.Allow,
            });
    }
}
