using System.Net.WebSockets;
using System.Text.Json;
using Lifeline.Protocol;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests;

/// <summary>
/// Issue 18, PROTOCOL.md "emit / event": an event reaches every subscriber but the sending connection, once, with its
/// user, data and ts; it changes nothing, is never replayed, and the reply to the emit keeps its place in the order.
/// Every bad emit gets its exact answer.
/// </summary>
public sealed class EmitEventTests
{
    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    internal static async Task SubscribeAsync(RawClient client, string channel, int id = 1)
    {
        await client.SendJsonAsync(new { type = "subscribe", id, channel });
        await client.ReceiveTypeAsync("subscribed");
        await client.ReceiveTypeAsync("snapshot");
    }

    /// <summary>Everything up to the reply to a <c>presence</c> request: a marker queued after whatever came before it.</summary>
    internal static async Task<List<JsonElement>> ReceiveUntilMarkerAsync(RawClient client, string channel, int id)
    {
        await client.SendJsonAsync(new { type = "presence", id, channel });
        var seen = await client.ReceiveUntilAsync(r => r.Count > 0 && Type(r[^1]) == "reply" && r[^1].GetProperty("id").GetInt64() == id);
        seen.RemoveAt(seen.Count - 1);
        return seen;
    }

    private static Task<TestServer> StartAsync(Action<LifelineOptions>? configure = null, Action<IServiceCollection>? services = null) =>
        TestServer.StartAsync(configure, services, authenticator: new TokenIsUserAuthenticator());

    [Fact]
    public async Task The_sender_never_gets_its_event_and_every_other_subscriber_gets_it_once_with_user_data_and_ts()
    {
        await using var server = await StartAsync();
        var (sender, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _s = sender;
        var (sameUser, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _a = sameUser;
        var (other, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "bob");
        await using var _b = other;
        var (elsewhere, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "carol");
        await using var _c = elsewhere;
        foreach (var c in new[] { sender, sameUser, other })
        {
            await SubscribeAsync(c, "room:42");
        }

        await SubscribeAsync(elsewhere, "room:7");

        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await sender.SendTextAsync("""{"type":"emit","id":5,"channel":"room:42","data":{"cursor":[10,20]}}""");
        var reply = await sender.ReceiveTypeAsync("reply");
        Assert.Equal("""{"type":"reply","id":5,"ok":true}""", reply.GetRawText());

        foreach (var c in new[] { sameUser, other })
        {
            var seen = await ReceiveUntilMarkerAsync(c, "room:42", 90);
            var ev = Assert.Single(seen, m => Type(m) == "event");
            Assert.Equal("room:42", ev.GetProperty("channel").GetString());
            Assert.Equal("alice", ev.GetProperty("user").GetString());
            Assert.Equal("""{"cursor":[10,20]}""", ev.GetProperty("data").GetRawText());
            Assert.InRange(ev.GetProperty("ts").GetInt64(), before - 1000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1000);
            Assert.False(ev.TryGetProperty("offset", out _), "an event has no offset");
        }

        Assert.DoesNotContain(await ReceiveUntilMarkerAsync(sender, "room:42", 91), m => Type(m) == "event");
        Assert.DoesNotContain(await ReceiveUntilMarkerAsync(elsewhere, "room:7", 92), m => Type(m) == "event");

        // Nothing was stored: the channel is where it was.
        Assert.Equal(0, (await server.Lifeline.GetChannelAsync("room:42")).Offset);
    }

    [Theory]
    [InlineData("null")]
    [InlineData("\"typing\"")]
    [InlineData("[1,2]")]
    [InlineData("0")]
    public async Task Any_json_value_is_data_and_arrives_as_sent(string data)
    {
        await using var server = await StartAsync();
        var (sender, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _s = sender;
        var (receiver, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _r = receiver;
        await SubscribeAsync(sender, "room");
        await SubscribeAsync(receiver, "room");

        await sender.SendTextAsync($$"""{"type":"emit","id":1,"channel":"room","data":{{data}}}""");
        Assert.True((await sender.ReceiveTypeAsync("reply")).GetProperty("ok").GetBoolean());
        var ev = await receiver.ReceiveTypeAsync("event");
        Assert.Equal(data, ev.GetProperty("data").GetRawText());
        Assert.Equal(JsonValueKind.Null, ev.GetProperty("user").ValueKind); // anonymous sender
    }

    [Fact]
    public async Task The_reply_to_an_emit_comes_before_the_delta_of_a_later_publish_and_events_keep_their_place_among_deltas()
    {
        await using var server = await StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _c = client;
        var (watcher, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "bob");
        await using var _w = watcher;
        await SubscribeAsync(client, "room");
        await SubscribeAsync(watcher, "room");

        const int Rounds = 40;
        for (var i = 0; i < Rounds; i++)
        {
            await client.SendJsonAsync(new { type = "emit", id = 1000 + i, channel = "room", data = new { i } });
            await client.SendJsonAsync(new { type = "publish", id = 2000 + i, channel = "room", patch = new { v = i } });
        }

        var seen = await client.ReceiveUntilAsync(r => r.Count(m => Type(m) == "delta") == Rounds);
        var position = seen.Select((m, i) => (m, i)).ToList();
        for (var i = 0; i < Rounds; i++)
        {
            var emitReply = position.Single(p => Type(p.m) == "reply" && p.m.GetProperty("id").GetInt64() == 1000 + i).i;
            var delta = position.Single(p => Type(p.m) == "delta" && p.m.GetProperty("offset").GetInt64() == i + 1).i;
            Assert.True(emitReply < delta, $"round {i}: the emit's reply (at {emitReply}) came after the delta of the publish sent after it (at {delta})");
        }

        Assert.DoesNotContain(seen, m => Type(m) == "event");

        // The watcher sees event i before delta i+1, as the sender issued them (one channel's calls never overlap).
        var watched = await watcher.ReceiveUntilAsync(r => r.Count(m => Type(m) == "delta") == Rounds);
        var order = watched.Where(m => Type(m) is "event" or "delta").Select(m => Type(m) == "event" ? $"e{m.GetProperty("data").GetProperty("i").GetInt32()}" : $"d{m.GetProperty("offset").GetInt64() - 1}").ToList();
        Assert.Equal(Enumerable.Range(0, Rounds).SelectMany(i => new[] { $"e{i}", $"d{i}" }), order);
    }

    [Fact]
    public async Task Events_are_not_in_a_snapshot_nor_replayed_after_a_resume_with_since()
    {
        await using var server = await StartAsync();
        var (sender, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _s = sender;
        await SubscribeAsync(sender, "room");
        var (late, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri, "bob");
        await SubscribeAsync(late, "room");
        var session = welcome.GetProperty("session").GetString();

        await sender.SendJsonAsync(new { type = "publish", id = 1, channel = "room", patch = new { a = 1 } });
        var subscribedAt = (await late.ReceiveTypeAsync("delta")).GetProperty("offset").GetInt64();
        var epoch = (await server.Lifeline.GetChannelAsync("room")).Epoch;
        await late.DisposeAsync(); // dropped (1006): its session can be resumed

        // While it is away: events and one more delta.
        for (var i = 0; i < 5; i++)
        {
            await sender.SendJsonAsync(new { type = "emit", id = 10 + i, channel = "room", data = new { i } });
        }

        await server.Lifeline.EmitAsync("room", JsonDocument.Parse("{\"from\":\"server\"}").RootElement);
        await sender.SendJsonAsync(new { type = "publish", id = 2, channel = "room", patch = new { b = 2 } });
        await sender.ReceiveAnyAsync(m => Type(m) == "delta" && m.GetProperty("offset").GetInt64() == 2);

        // Resumed with since: the delta it missed, no event.
        var (back, again) = await RawClient.ConnectAndHelloAsync(server.WsUri, "bob", session);
        await using var _b = back;
        Assert.True(again.GetProperty("resumed").GetBoolean());
        await back.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room", since = new { epoch, offset = subscribedAt } });
        var caughtUp = await ReceiveUntilMarkerAsync(back, "room", 50);
        Assert.True(caughtUp.Single(m => Type(m) == "subscribed").GetProperty("recovered").GetBoolean());
        Assert.Equal([2L], caughtUp.Where(m => Type(m) == "delta").Select(m => m.GetProperty("offset").GetInt64()));
        Assert.DoesNotContain(caughtUp, m => Type(m) == "event");

        // A fresh subscriber: a snapshot of the published state only.
        var (fresh, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "carol");
        await using var _f = fresh;
        await fresh.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room" });
        var first = await ReceiveUntilMarkerAsync(fresh, "room", 51);
        Assert.Equal("""{"a":1,"b":2}""", first.Single(m => Type(m) == "snapshot").GetProperty("state").GetRawText());
        Assert.DoesNotContain(first, m => Type(m) == "event");
    }

    public static TheoryData<string, string, string> BadEmits => new()
    {
        { """{"type":"emit","id":7,"data":1}""", "error", ErrorCodes.InvalidMessage },
        { """{"type":"emit","id":7,"channel":"a b","data":1}""", "reply", ErrorCodes.InvalidChannel },
        { """{"type":"emit","id":7,"channel":"","data":1}""", "reply", ErrorCodes.InvalidChannel },
        { """{"type":"emit","id":7,"channel":"other","data":1}""", "reply", ErrorCodes.NotSubscribed },
        { """{"type":"emit","id":7,"channel":"room"}""", "error", ErrorCodes.InvalidMessage },
        { """{"type":"emit","id":7,"channel":"room","data":"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"}""", "reply", ErrorCodes.LimitExceeded },
        { """{"type":"emit","channel":"room","data":1}""", "error", ErrorCodes.InvalidMessage },
        // The size is checked before the subscription: an oversized emit is limit_exceeded, subscribed or not.
        { """{"type":"emit","id":7,"channel":"nowhere","data":"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"}""", "reply", ErrorCodes.LimitExceeded },
    };

    [Theory]
    [MemberData(nameof(BadEmits))]
    public async Task A_bad_emit_gets_its_exact_answer_reaches_nobody_and_the_connection_stays_open(string emit, string answer, string code)
    {
        await using var server = await StartAsync(o => o.MaxPatchSize = 100);
        var (sender, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _s = sender;
        var (receiver, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _r = receiver;
        await SubscribeAsync(sender, "room");
        await SubscribeAsync(receiver, "room");
        await SubscribeAsync(receiver, "other", id: 2);

        await sender.SendTextAsync(emit);
        var refusal = await sender.ReceiveAsync() ?? throw new InvalidOperationException("closed");
        Assert.Equal(answer, Type(refusal));
        if (answer == "reply")
        {
            Assert.Equal(7, refusal.GetProperty("id").GetInt64());
            Assert.False(refusal.GetProperty("ok").GetBoolean());
            Assert.Equal(code, refusal.GetProperty("error").GetProperty("code").GetString());
        }
        else
        {
            // A message the parser refuses is answered with an error carrying the request's id when it had one (PROTOCOL.md "error").
            Assert.Equal(code, refusal.GetProperty("code").GetString());
            Assert.Equal(emit.Contains("\"id\"", StringComparison.Ordinal) ? 7L : (long?)null, refusal.TryGetProperty("id", out var id) ? id.GetInt64() : null);
        }

        Assert.DoesNotContain(await ReceiveUntilMarkerAsync(receiver, "room", 60), m => Type(m) == "event");
        await sender.SendJsonAsync(new { type = "emit", id = 8, channel = "room", data = 1 });
        Assert.True((await sender.ReceiveTypeAsync("reply")).GetProperty("ok").GetBoolean());
    }

    [Fact]
    public async Task Data_at_exactly_MaxPatchSize_utf8_bytes_is_accepted_and_one_byte_more_is_limit_exceeded()
    {
        await using var server = await StartAsync(o => o.MaxPatchSize = 100);
        var (sender, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _s = sender;
        await SubscribeAsync(sender, "room");
        var fits = "\"" + new string('é', 49) + "\""; // 2 + 98 = 100 bytes
        await sender.SendTextAsync($$"""{"type":"emit","id":1,"channel":"room","data":{{fits}}}""");
        Assert.True((await sender.ReceiveTypeAsync("reply")).GetProperty("ok").GetBoolean());
        await sender.SendTextAsync($$"""{"type":"emit","id":2,"channel":"room","data":{{fits[..^1]}}x"}""");
        Assert.Equal(ErrorCodes.LimitExceeded, (await sender.ReceiveTypeAsync("reply")).GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task An_emit_nested_deeper_than_MaxJsonDepth_closes_1007_as_any_message()
    {
        await using var server = await StartAsync(o => o.MaxJsonDepth = 4);
        var (sender, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _s = sender;
        await SubscribeAsync(sender, "room");
        await sender.SendTextAsync("""{"type":"emit","id":1,"channel":"room","data":{"x":{"y":1}}}"""); // depth 3: fine
        Assert.True((await sender.ReceiveTypeAsync("reply")).GetProperty("ok").GetBoolean());
        await sender.SendTextAsync("""{"type":"emit","id":2,"channel":"room","data":{"x":{"y":{"z":{"w":1}}}}}""");
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, await sender.WaitForCloseAsync());
    }

    [Fact]
    public async Task The_channel_policy_decides_emits_as_Emit_with_the_data_and_a_refusal_is_forbidden()
    {
        var policy = new RecordingPolicy();
        await using var server = await StartAsync(services: s => s.AddSingleton<IChannelPolicy>(policy));
        var (sender, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _s = sender;
        var (receiver, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "bob");
        await using var _r = receiver;
        await SubscribeAsync(sender, "room");
        await SubscribeAsync(receiver, "room");

        await sender.SendTextAsync("""{"type":"emit","id":7,"channel":"room","data":{"deny":true}}""");
        var reply = await sender.ReceiveTypeAsync("reply");
        Assert.False(reply.GetProperty("ok").GetBoolean());
        Assert.Equal(ErrorCodes.Forbidden, reply.GetProperty("error").GetProperty("code").GetString());
        Assert.DoesNotContain(await ReceiveUntilMarkerAsync(receiver, "room", 60), m => Type(m) == "event");

        var request = Assert.Single(policy.Requests, r => r.Operation == ChannelOperation.Emit);
        Assert.Equal("room", request.Channel);
        Assert.Equal("alice", request.UserId);
        Assert.NotNull(request.ConnectionId);
        Assert.Equal("""{"deny":true}""", request.Patch.GetRawText());

        await Assert.ThrowsAsync<LifelineRequestException>(() => server.Lifeline.EmitAsync("room", JsonDocument.Parse("{\"deny\":true}").RootElement));
        var serverRequest = policy.Requests.Last();
        Assert.Equal((ChannelOperation.Emit, (string?)null, (string?)null), (serverRequest.Operation, serverRequest.UserId, serverRequest.ConnectionId));
    }

    private sealed class RecordingPolicy : IChannelPolicy
    {
        public System.Collections.Concurrent.ConcurrentQueue<ChannelRequest> Requests { get; } = new();

        public ValueTask<ChannelDecision> DecideAsync(ChannelRequest request, CancellationToken cancellationToken)
        {
            Requests.Enqueue(request with { Patch = request.Patch.ValueKind == JsonValueKind.Undefined ? default : request.Patch.Clone() });
            var deny = request.Patch.ValueKind == JsonValueKind.Object && request.Patch.TryGetProperty("deny", out _);
            return ValueTask.FromResult(deny ? ChannelDecision.Forbid("no") : ChannelDecision.Allow);
        }
    }

    [Fact]
    public async Task An_emit_flood_is_rate_limited_like_publishes_then_closed_1008()
    {
        await using var server = await StartAsync(o =>
        {
            o.MaxMessagesPerSecond = 1;
            o.MessageBurst = 3;
            o.RateLimitAbuseThreshold = 5;
        });
        var (sender, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _s = sender;
        await SubscribeAsync(sender, "room"); // takes one token

        for (var i = 0; i < 4; i++)
        {
            await sender.SendJsonAsync(new { type = "emit", id = 10 + i, channel = "room", data = i });
        }

        var replies = await sender.ReceiveUntilAsync(r => r.Count(m => Type(m) == "reply") == 4);
        Assert.Contains(replies, m => Type(m) == "reply" && !m.GetProperty("ok").GetBoolean() && m.GetProperty("error").GetProperty("code").GetString() == ErrorCodes.RateLimited);

        // Keep flooding: past the abuse threshold the server closes with 1008.
        for (var i = 0; i < 20 && sender.Socket.State == WebSocketState.Open; i++)
        {
            try
            {
                await sender.SendJsonAsync(new { type = "emit", id = 100 + i, channel = "room", data = i });
            }
            catch (WebSocketException)
            {
                break;
            }
        }

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await sender.WaitForCloseAsync());
        Assert.Equal("rate_limit_abused", sender.CloseDescription);
    }

    [Fact]
    public async Task A_server_emit_reaches_every_subscriber_with_user_null_and_bad_input_throws_the_client_codes()
    {
        await using var server = await StartAsync(o => o.MaxPatchSize = 100);
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _a = a;
        var (b, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _b = b;
        await SubscribeAsync(a, "room");
        await SubscribeAsync(b, "room");

        await server.Lifeline.EmitAsync("room", JsonDocument.Parse("""{"notice":"deploy"}""").RootElement);
        foreach (var c in new[] { a, b })
        {
            var ev = await c.ReceiveTypeAsync("event");
            Assert.Equal("""{"notice":"deploy"}""", ev.GetProperty("data").GetRawText());
            Assert.Equal(JsonValueKind.Null, ev.GetProperty("user").ValueKind);
        }

        await server.Lifeline.EmitAsync("nobody-listens", JsonDocument.Parse("1").RootElement); // no subscriber: no error

        var deep = string.Concat(Enumerable.Repeat("[", 40)) + new string(']', 40);
        foreach (var (channel, data, code) in new[]
        {
            ("a b", "1", ErrorCodes.InvalidChannel),
            ("room", "\"" + new string('x', 100) + "\"", ErrorCodes.LimitExceeded),
            ("room", deep, ErrorCodes.LimitExceeded),
        })
        {
            var error = await Assert.ThrowsAsync<LifelineRequestException>(() => server.Lifeline.EmitAsync(channel, JsonDocument.Parse(data).RootElement));
            Assert.Equal(code, error.Code);
        }

        Assert.Equal(ErrorCodes.InvalidMessage, (await Assert.ThrowsAsync<LifelineRequestException>(() => server.Lifeline.EmitAsync("room", default))).Code);
        Assert.DoesNotContain(await ReceiveUntilMarkerAsync(a, "room", 70), m => Type(m) == "event");
    }
}
