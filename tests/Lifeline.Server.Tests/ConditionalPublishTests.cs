using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Protocol;
using Lifeline.Server.Tests.Infrastructure;

namespace Lifeline.Server.Tests;

/// <summary>
/// Conditional publish over the wire (issue 15, PROTOCOL.md publish <c>if</c> and the <c>conflict</c> error): every bad
/// <c>if</c> with its exact answer, the conflict reply, per-channel keys, and a read-modify-write loop that loses nothing.
/// </summary>
public sealed class ConditionalPublishTests
{
    private const string BadIf = "publish.if must be {\"epoch\": string, \"offset\": non-negative integer below 2^53}";

    [Theory]
    [InlineData("5")]
    [InlineData("\"e1:44\"")]
    [InlineData("[\"e1\",44]")]
    [InlineData("true")]
    [InlineData("{}")]
    [InlineData("{\"epoch\":\"e1\"}")]
    [InlineData("{\"offset\":0}")]
    [InlineData("{\"epoch\":\"e1\",\"offset\":-1}")]
    [InlineData("{\"epoch\":\"e1\",\"offset\":1.5}")]
    [InlineData("{\"epoch\":\"e1\",\"offset\":\"0\"}")]
    [InlineData("{\"epoch\":\"e1\",\"offset\":9007199254740992}")]
    [InlineData("{\"epoch\":7,\"offset\":0}")]
    [InlineData("{\"epoch\":null,\"offset\":0}")]
    public async Task A_bad_if_gets_invalid_message_changes_nothing_and_the_connection_stays_open(string condition)
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;

        await client.SendTextAsync("{\"type\":\"publish\",\"id\":3,\"channel\":\"room\",\"patch\":{\"a\":1},\"if\":" + condition + "}");
        var error = await client.ReceiveAsync();

        Assert.NotNull(error);
        AssertJson(new JsonObject { ["type"] = "error", ["id"] = 3, ["code"] = "invalid_message", ["message"] = BadIf }, error.Value);
        Assert.Equal(0, (await server.Lifeline.GetChannelAsync("room")).Offset);
        await client.SendJsonAsync(new { type = "ping", n = 5 });
        Assert.Equal(5, (await client.ReceiveTypeAsync("pong")).GetProperty("n").GetInt64());
        Assert.Equal(WebSocketState.Open, client.Socket.State);
    }

    [Fact]
    public async Task A_stale_if_gets_the_conflict_reply_with_the_current_position_and_no_delta()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        var mirror = await SubscribeAsync(client, "room");
        await server.Lifeline.PublishAsync("room", Json("""{"v":1}"""));
        await server.Lifeline.PublishAsync("room", Json("""{"v":2}"""));
        await ReceiveUntilOffsetAsync(client, mirror, 2);

        await client.SendTextAsync($$$"""{"type":"publish","id":3,"channel":"room","patch":{"v":"stale"},"if":{"epoch":"{{{mirror.Epoch}}}","offset":1}}""");
        var reply = await client.ReceiveAsync();
        await client.SendTextAsync("""{"type":"publish","id":4,"channel":"room","patch":{"w":1}}""");
        var next = await client.ReceiveUntilAsync(received => received.Count == 2);

        Assert.NotNull(reply);
        Assert.Equal(
            $$$"""{"type":"reply","id":3,"ok":false,"error":{"code":"conflict","message":"the channel is at another position (epoch {{{mirror.Epoch}}}, offset 2); nothing was applied","epoch":"{{{mirror.Epoch}}}","offset":2}}""",
            reply.Value.GetRawText());

        // No offset was used and no delta sent for the conflict: the next publish is offset 3, its reply before its delta.
        Assert.Equal("""{"type":"reply","id":4,"ok":true,"offset":3}""", next[0].GetRawText());
        Assert.Equal(3, next[1].GetProperty("offset").GetInt64());
        Assert.Equal("""{"w":1}""", next[1].GetProperty("patch").GetRawText());
        var channel = await server.Lifeline.GetChannelAsync("room");
        Assert.Equal(3, channel.Offset);
        Assert.Equal("""{"v":2,"w":1}""", channel.State.GetRawText());
    }

    [Fact]
    public async Task An_if_at_the_current_position_applies_and_its_reply_comes_before_its_delta()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        var mirror = await SubscribeAsync(client, "room");

        await client.SendTextAsync($$$"""{"type":"publish","id":3,"channel":"room","patch":{"a":1},"if":{"epoch":"{{{mirror.Epoch}}}","offset":0}}""");
        var received = await client.ReceiveUntilAsync(r => r.Count == 2);

        Assert.Equal("""{"type":"reply","id":3,"ok":true,"offset":1}""", received[0].GetRawText());
        Assert.Equal("delta", received[1].GetProperty("type").GetString());
        Assert.Equal(1, received[1].GetProperty("offset").GetInt64());
    }

    [Fact]
    public async Task Keys_are_per_channel_and_a_keyed_if_repeats_its_first_result()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        var epoch = (await server.Lifeline.GetChannelAsync("a")).Epoch;

        await client.SendTextAsync($$$"""{"type":"publish","id":1,"channel":"a","key":"k","patch":{"x":1},"if":{"epoch":"{{{epoch}}}","offset":0}}""");
        Assert.Equal("""{"type":"reply","id":1,"ok":true,"offset":1}""", (await client.ReceiveTypeAsync("reply")).GetRawText());
        await client.SendTextAsync("""{"type":"publish","id":2,"channel":"b","key":"k","patch":{"y":1}}""");
        Assert.Equal("""{"type":"reply","id":2,"ok":true,"offset":1}""", (await client.ReceiveTypeAsync("reply")).GetRawText());
        await server.Lifeline.PublishAsync("a", Json("""{"z":1}"""));

        // The same key and the same (now stale) if on channel a: the first result again, not a conflict.
        await client.SendTextAsync($$$"""{"type":"publish","id":3,"channel":"a","key":"k","patch":{"x":2},"if":{"epoch":"{{{epoch}}}","offset":0}}""");
        Assert.Equal("""{"type":"reply","id":3,"ok":true,"offset":1}""", (await client.ReceiveTypeAsync("reply")).GetRawText());

        Assert.Equal("""{"x":1,"z":1}""", (await server.Lifeline.GetChannelAsync("a")).State.GetRawText());
        Assert.Equal("""{"y":1}""", (await server.Lifeline.GetChannelAsync("b")).State.GetRawText());
    }

    [Fact]
    public async Task Server_publish_with_a_stale_position_throws_conflict_with_the_current_position()
    {
        await using var server = await TestServer.StartAsync();
        var first = await server.Lifeline.PublishAsync("room", Json("""{"v":1}"""));
        await server.Lifeline.PublishAsync("room", Json("""{"v":2}"""));

        var error = await Assert.ThrowsAsync<LifelineRequestException>(() => server.Lifeline.PublishAsync("room", Json("""{"v":3}"""), expected: first.Position));
        var applied = await server.Lifeline.PublishAsync("room", Json("""{"v":3}"""), key: "job", expected: error.CurrentPosition);

        Assert.Equal(ErrorCodes.Conflict, error.Code);
        Assert.Equal(new Position(first.Epoch, 2), error.CurrentPosition);
        Assert.Equal(3, applied.Offset);
        Assert.Null(new LifelineRequestException(ErrorCodes.Forbidden, "no").CurrentPosition);
    }

    [Fact]
    public async Task Two_clients_appending_50_items_each_with_if_and_retry_end_with_exactly_100_items()
    {
        const int perClient = 50;
        const int maxAttempts = 2000; // bounds the loop; two writers need far fewer
        await using var server = await TestServer.StartAsync();
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = a;
        var (b, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var ___ = b;
        var mirrorA = await SubscribeAsync(a, "list");
        var mirrorB = await SubscribeAsync(b, "list");

        var results = await Task.WhenAll(
            Task.Run(() => AppendAsync(a, mirrorA, "a", perClient, maxAttempts)),
            Task.Run(() => AppendAsync(b, mirrorB, "b", perClient, maxAttempts))).DefaultTimeout(TimeSpan.FromSeconds(60));

        var channel = await server.Lifeline.GetChannelAsync("list");
        var items = channel.State.GetProperty("items").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(2 * perClient, items.Count);
        Assert.Equal(2 * perClient, items.Distinct().Count());
        Assert.Equal(2 * perClient, channel.Offset);
        foreach (var (client, mirror) in new[] { (a, mirrorA), (b, mirrorB) })
        {
            await ReceiveUntilOffsetAsync(client, mirror, channel.Offset);
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(channel.State.GetRawText()), mirror.State), mirror.State.ToJsonString());
            Assert.Empty(mirror.Violations);
        }

        // Each client's own items are in its order; the conflicts (if any) were retried, never applied twice.
        Assert.Equal(Enumerable.Range(0, perClient).Select(i => $"a{i}"), items.Where(i => i[0] == 'a'));
        Assert.Equal(Enumerable.Range(0, perClient).Select(i => $"b{i}"), items.Where(i => i[0] == 'b'));
        Assert.All(results, conflicts => Assert.InRange(conflicts, 0, maxAttempts));
    }

    /// <summary>Appends <paramref name="count"/> items, each read from the mirror, published with if and retried on conflict; returns the conflicts seen.</summary>
    private static async Task<int> AppendAsync(RawClient client, ChannelMirror mirror, string who, int count, int maxAttempts)
    {
        var conflicts = 0;
        var id = 100;
        for (var i = 0; i < count; i++)
        {
            for (var attempt = 0; ; attempt++)
            {
                Assert.True(attempt < maxAttempts, $"{who}{i}: too many conflicts");
                var items = mirror.State["items"]?.DeepClone().AsArray() ?? [];
                items.Add($"{who}{i}");
                var publish = new JsonObject
                {
                    ["type"] = "publish",
                    ["id"] = ++id,
                    ["channel"] = "list",
                    ["key"] = $"{who}-{i}",
                    ["patch"] = new JsonObject { ["items"] = items },
                    ["if"] = new JsonObject { ["epoch"] = mirror.Epoch, ["offset"] = mirror.Offset },
                };
                await client.SendTextAsync(publish.ToJsonString());
                var reply = await ReceiveReplyAsync(client, mirror, id);
                if (reply.GetProperty("ok").GetBoolean())
                {
                    await ReceiveUntilOffsetAsync(client, mirror, reply.GetProperty("offset").GetInt64());
                    break;
                }

                var error = reply.GetProperty("error");
                Assert.Equal("conflict", error.GetProperty("code").GetString());
                conflicts++;
                await ReceiveUntilOffsetAsync(client, mirror, error.GetProperty("offset").GetInt64());
            }
        }

        return conflicts;
    }

    private static async Task<JsonElement> ReceiveReplyAsync(RawClient client, ChannelMirror mirror, long id)
    {
        while (true)
        {
            var message = await client.ReceiveAsync() ?? throw new InvalidOperationException("socket closed");
            if (message.GetProperty("type").GetString() == "reply" && message.GetProperty("id").GetInt64() == id)
            {
                return message;
            }

            mirror.Apply(message);
        }
    }

    private static async Task ReceiveUntilOffsetAsync(RawClient client, ChannelMirror mirror, long offset)
    {
        while (mirror.Offset < offset)
        {
            mirror.Apply(await client.ReceiveAsync() ?? throw new InvalidOperationException("socket closed"));
        }
    }

    private static async Task<ChannelMirror> SubscribeAsync(RawClient client, string channel)
    {
        var mirror = new ChannelMirror();
        await client.SendTextAsync($$"""{"type":"subscribe","id":1,"channel":"{{channel}}"}""");
        while (mirror.Snapshots == 0)
        {
            mirror.Apply(await client.ReceiveAsync() ?? throw new InvalidOperationException("socket closed"));
        }

        return mirror;
    }

    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement;

    private static void AssertJson(JsonNode expected, JsonElement actual) =>
        Assert.True(JsonNode.DeepEquals(expected, JsonNode.Parse(actual.GetRawText())), $"expected {expected.ToJsonString()}, got {actual.GetRawText()}");
}
