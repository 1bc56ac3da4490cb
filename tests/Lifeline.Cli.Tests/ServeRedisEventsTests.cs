using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text.Json;
using Lifeline.Cli.Commands;
using Lifeline.Cli.Tests.Infrastructure;
using Lifeline.Client;
using Lifeline.Protocol;
using Lifeline.Redis;
using Lifeline.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Cli.Tests;

/// <summary>
/// Issue 18 end to end on two nodes sharing one real redis-server (two <c>lifeline serve --redis</c> apps, or two
/// servers with <c>AddLifelineRedis</c> where a limit must be set): an event emitted on node A reaches a subscriber on
/// node B once and never the sender; <see cref="LifelineServer.SendToUserAsync"/> on A reaches the user's .NET client on
/// B; <see cref="LifelineServer.DisconnectUserAsync"/> on A closes the user's connection on B with the given code; the
/// per-user and per-address connection limits count both nodes. (The engine-level halves are in Lifeline.Redis.Tests
/// RedisMessagingTests; these go through the real WebSocket endpoints.)
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class ServeRedisEventsTests(RedisFixture redis)
{
    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    private static JsonElement J(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private async Task<WebApplication> StartNodeAsync()
    {
        var app = ServeCommand.BuildApp(["--port", "0", "--auth", "dev", "--redis", redis.Server.Configuration]).App;
        await app.StartAsync();
        return app;
    }

    private static LifelineServer Lifeline(WebApplication node) => node.Services.GetRequiredService<LifelineServer>();

    private static async Task<RawClient> ConnectAsync(WebApplication node, string user)
    {
        var (client, welcome) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(node, "/ws"), user);
        Assert.Equal(user, welcome.GetProperty("user").GetString());
        return client;
    }

    private static async Task SubscribeAsync(RawClient client, string channel)
    {
        await client.SendTextAsync($$"""{"type":"subscribe","id":1,"channel":"{{channel}}"}""");
        await client.ReceiveTypeAsync("subscribed");
    }

    /// <summary>Reads until the delta at <paramref name="offset"/>; returns what came before it.</summary>
    private static async Task<List<JsonElement>> ReceiveUntilDeltaAsync(RawClient client, long offset)
    {
        var seen = await client.ReceiveUntilAsync(r => r.Count > 0 && Type(r[^1]) == "delta" && r[^1].GetProperty("offset").GetInt64() == offset);
        seen.RemoveAt(seen.Count - 1);
        return seen;
    }

    [Fact]
    public async Task AnEventEmittedOnNodeA_ReachesTheSubscriberOnNodeB_Once_AndNeverTheSender()
    {
        await using var nodeA = await StartNodeAsync();
        await using var nodeB = await StartNodeAsync();
        var channel = "cursors:" + Guid.NewGuid().ToString("N");
        await using var alice = await ConnectAsync(nodeA, "alice");
        await using var bob = await ConnectAsync(nodeB, "bob");
        await SubscribeAsync(alice, channel);
        await SubscribeAsync(bob, channel);

        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await alice.SendTextAsync($$$"""{"type":"emit","id":2,"channel":"{{{channel}}}","data":{"cursor":[0.25,0.75]}}""");
        var reply = await alice.ReceiveAnyAsync(m => Type(m) == "reply" && m.GetProperty("id").GetInt64() == 2);
        Assert.False(reply.TryGetProperty("offset", out _), "an emit's reply has no offset: nothing is stored");
        // A publish after the emit travels the same pub/sub channel: everything emitted before it arrives before it.
        await alice.SendTextAsync($$$"""{"type":"publish","id":3,"channel":"{{{channel}}}","patch":{"n":1}}""");

        var atBob = await ReceiveUntilDeltaAsync(bob, 1);
        var ev = Assert.Single(atBob, m => Type(m) == "event");
        Assert.Equal(channel, ev.GetProperty("channel").GetString());
        Assert.Equal("alice", ev.GetProperty("user").GetString());
        Assert.Equal("""{"cursor":[0.25,0.75]}""", ev.GetProperty("data").GetRawText());
        Assert.InRange(ev.GetProperty("ts").GetInt64(), before - 1000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1000);
        Assert.False(ev.TryGetProperty("offset", out _), "an event has no offset");

        Assert.DoesNotContain(await ReceiveUntilDeltaAsync(alice, 1), m => Type(m) == "event");

        // And the other way: bob on B emits, alice on A gets it once, bob does not.
        await bob.SendTextAsync($$"""{"type":"emit","id":4,"channel":"{{channel}}","data":"typing"}""");
        await bob.SendTextAsync($$$"""{"type":"publish","id":5,"channel":"{{{channel}}}","patch":{"n":2}}""");
        var atAlice = await ReceiveUntilDeltaAsync(alice, 2);
        Assert.Equal("\"typing\"", Assert.Single(atAlice, m => Type(m) == "event").GetProperty("data").GetRawText());
        Assert.DoesNotContain(await ReceiveUntilDeltaAsync(bob, 2), m => Type(m) == "event");
    }

    [Fact]
    public async Task SendToUserAsync_OnNodeA_ReachesTheUsersDotNetClientOnNodeB_AndCountsIt()
    {
        await using var nodeA = await StartNodeAsync();
        await using var nodeB = await StartNodeAsync();
        var user = "erin-" + Guid.NewGuid().ToString("N")[..8];
        await using var client = new LifelineClient(ServeAppTests.WsUri(nodeB, "/ws"), new LifelineClientOptions { Token = user });
        var received = new ConcurrentQueue<UserMessageEventArgs>();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.MessageReceived += (_, e) =>
        {
            received.Enqueue(e);
            first.TrySetResult();
        };
        await client.ConnectAsync().WaitAsync(TestTimeouts.Default);

        // The user's observer on B is registered in Redis before B sends the welcome: A counts it at once.
        var delivered = await Lifeline(nodeA).SendToUserAsync(user, J("""{"export":"ready"}"""));
        Assert.Equal(1, delivered);
        await first.Task.WaitAsync(TestTimeouts.Default);
        var message = Assert.Single(received);
        Assert.Equal("""{"export":"ready"}""", message.Data.GetRawText());
        Assert.True(message.TimestampMs > 0);
        Assert.Equal(0, await Lifeline(nodeA).SendToUserAsync("nobody-" + Guid.NewGuid().ToString("N"), J("1")));
    }

    [Fact]
    public async Task DisconnectUserAsync_OnNodeA_ClosesTheUsersConnectionOnNodeB_WithTheGivenCode_AndNobodyElses()
    {
        await using var nodeA = await StartNodeAsync();
        await using var nodeB = await StartNodeAsync();
        var user = "mallory-" + Guid.NewGuid().ToString("N")[..8];
        await using var target = await ConnectAsync(nodeB, user);
        await using var bystander = await ConnectAsync(nodeB, "trent");

        // Registered before the welcome (ConnectAsync returns after it): A reaches it at once.
        var closed = await Lifeline(nodeA).DisconnectUserAsync(user, CloseCode.PolicyViolation);

        Assert.Equal(1, closed);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await target.WaitForCloseAsync());
        Assert.Equal("policy_violation", target.CloseDescription);

        // The other user on B is still served.
        var channel = "room:" + Guid.NewGuid().ToString("N");
        await bystander.SendTextAsync($$"""{"type":"subscribe","id":7,"channel":"{{channel}}"}""");
        Assert.Equal(7, (await bystander.ReceiveTypeAsync("subscribed")).GetProperty("id").GetInt64());
        await WaitUntilAsync(() => Lifeline(nodeB).ConnectionCount == 1);
    }

    [Fact]
    public async Task ThePerUserConnectionLimit_HoldsAcrossTwoNodes_OnRedis_AndAClosedConnectionGivesItsSlotBack()
    {
        var prefix = "limit-" + Guid.NewGuid().ToString("N")[..8] + ":";
        Task<TestServer> Node() => TestServer.StartAsync(
            o => o.MaxConnectionsPerUser = 2,
            s => s.AddLifelineRedis(o =>
            {
                o.Configuration = redis.Server.Configuration;
                o.KeyPrefix = prefix;
            }),
            authenticator: new TokenIsUserAuthenticator());
        await using var nodeA = await Node();
        await using var nodeB = await Node();

        var (onA, _) = await RawClient.ConnectAndHelloAsync(nodeA.WsUri, "alice");
        await using var _a = onA;
        var (onB, _) = await RawClient.ConnectAndHelloAsync(nodeB.WsUri, "alice");

        // A third connection of alice, on either node, is one too many.
        foreach (var node in new[] { nodeA, nodeB })
        {
            await using var third = await RawClient.ConnectAsync(node.WsUri);
            await third.SendJsonAsync(new { type = "hello", v = 1, token = "alice" });
            Assert.Equal(WebSocketCloseStatus.PolicyViolation, await third.WaitForCloseAsync());
            Assert.Equal("too_many_connections", third.CloseDescription);
        }

        // Another user is not affected.
        var (bob, _) = await RawClient.ConnectAndHelloAsync(nodeA.WsUri, "bob");
        await using var _b = bob;

        // Alice closes the one on B: its slot is given back, and a new one on A is let in.
        await onB.CloseAsync(WebSocketCloseStatus.NormalClosure);
        await onB.WaitForCloseAsync();
        await onB.DisposeAsync();
        await WaitUntilAsync(() => nodeB.Lifeline.ConnectionCount == 0);
        var (again, welcome) = await RawClient.ConnectAndHelloAsync(nodeA.WsUri, "alice");
        await using var _again = again;
        Assert.Equal("alice", welcome.GetProperty("user").GetString());
        Assert.Equal(3, nodeA.Lifeline.ConnectionCount);
    }

    [Fact]
    public async Task ThePerAddressConnectionLimit_HoldsAcrossTwoNodes_OnRedis()
    {
        var prefix = "address-" + Guid.NewGuid().ToString("N")[..8] + ":";
        Task<TestServer> Node() => TestServer.StartAsync(
            o => o.MaxConnectionsPerAddress = 2,
            s => s.AddLifelineRedis(o =>
            {
                o.Configuration = redis.Server.Configuration;
                o.KeyPrefix = prefix;
            }),
            authenticator: new TokenIsUserAuthenticator());
        await using var nodeA = await Node();
        await using var nodeB = await Node();

        // Every test client comes from 127.0.0.1: one connection per node, and users differ, so only the address counts.
        var (onA, _) = await RawClient.ConnectAndHelloAsync(nodeA.WsUri, "u1");
        await using var _a = onA;
        var (onB, _) = await RawClient.ConnectAndHelloAsync(nodeB.WsUri, "u2");
        await using var _b = onB;
        foreach (var node in new[] { nodeA, nodeB })
        {
            await using var third = await RawClient.ConnectAsync(node.WsUri);
            Assert.Equal(WebSocketCloseStatus.PolicyViolation, await third.WaitForCloseAsync());
            Assert.Equal("too_many_connections", third.CloseDescription);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not become true in time");
            await Task.Delay(10);
        }
    }
}
