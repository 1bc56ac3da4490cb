using System.Net;
using System.Net.Http;
using System.Text.Json;
using Lifeline.Cli.Commands;
using Lifeline.Cli.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;

namespace Lifeline.Cli.Tests;

/// <summary><c>lifeline serve --redis</c>: two nodes on one real redis-server, clients on different nodes.</summary>
[Collection(RedisCollection.Name)]
public sealed class ServeRedisTests(RedisFixture redis)
{
    private static async Task<WebApplication> StartNodeAsync(string redisConfiguration)
    {
        var app = ServeCommand.BuildApp(["--port", "0", "--auth", "dev", "--redis", redisConfiguration]).App;
        await app.StartAsync();
        return app;
    }

    [Fact]
    public async Task ClientsOnTwoNodes_SeeEachOthersDeltas_InOrder_WithConsecutiveOffsets()
    {
        const int perClient = 40;
        await using var nodeA = await StartNodeAsync(redis.Server.Configuration);
        await using var nodeB = await StartNodeAsync(redis.Server.Configuration);
        var channel = "room:" + Guid.NewGuid().ToString("N");
        var (alice, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(nodeA, "/ws"), "alice");
        await using var aliceClient = alice;
        var (bob, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(nodeB, "/ws"), "bob");
        await using var bobClient = bob;
        foreach (var client in new[] { alice, bob })
        {
            await client.SendTextAsync($$"""{"type":"subscribe","id":1,"channel":"{{channel}}"}""");
            Assert.Equal(0, (await client.ReceiveTypeAsync("subscribed")).GetProperty("offset").GetInt64());
        }

        // Both publish at once, each from its own node.
        async Task Publish(RawClient client, string name)
        {
            for (var i = 1; i <= perClient; i++)
            {
                await client.SendTextAsync($$$"""{"type":"publish","id":{{{i + 1}}},"channel":"{{{channel}}}","patch":{"{{{name}}}":{{{i}}}}}""");
            }
        }

        await Task.WhenAll(Publish(alice, "alice"), Publish(bob, "bob"));

        var seen = new List<List<string>>();
        foreach (var client in new[] { alice, bob })
        {
            var offsets = new List<long>();
            var patches = new List<string>();
            for (var i = 0; i < 2 * perClient; i++)
            {
                var delta = await client.ReceiveTypeAsync("delta");
                offsets.Add(delta.GetProperty("offset").GetInt64());
                patches.Add(delta.GetProperty("patch").GetRawText());
            }

            Assert.Equal(Enumerable.Range(1, 2 * perClient).Select(i => (long)i), offsets);
            Assert.Equal(perClient, patches.Count(p => p.Contains("alice", StringComparison.Ordinal)));
            seen.Add(patches);
        }

        Assert.Equal(seen[0], seen[1]);
    }

    [Fact]
    public async Task Healthz_SaysDegraded_WhileRedisIsDown_AndTheClientStaysConnected()
    {
        await using var own = await RedisServer.StartAsync();
        await using var node = await StartNodeAsync(own.Configuration + ",connectTimeout=2000,asyncTimeout=2000");
        using var http = new HttpClient { BaseAddress = ServeAppTests.BaseUri(node) };
        var (client, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(node, "/ws"), "carol");
        await using var carol = client;
        var channel = "room:" + Guid.NewGuid().ToString("N");
        await carol.SendTextAsync($$"""{"type":"subscribe","id":1,"channel":"{{channel}}"}""");
        await carol.ReceiveTypeAsync("subscribed");
        Assert.Equal("""{"status":"ok","connections":1}""", await http.GetStringAsync(new Uri("/healthz", UriKind.Relative)));

        await own.KillAsync();
        await carol.SendTextAsync($$$"""{"type":"publish","id":2,"channel":"{{{channel}}}","patch":{"x":1}}""");
        var reply = await carol.ReceiveTypeAsync("reply");

        Assert.False(reply.GetProperty("ok").GetBoolean());
        Assert.Equal("unavailable", reply.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("""{"status":"degraded","connections":1}""", await http.GetStringAsync(new Uri("/healthz", UriKind.Relative)));
        Assert.False(carol.Closed.IsCompleted);
    }
}
