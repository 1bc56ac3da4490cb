using System.Net.Http;
using System.Text.Json;
using Lifeline.Cli.Commands;
using Lifeline.Cli.Tests.Infrastructure;
using Lifeline.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Cli.Tests;

/// <summary>deploy/nginx/lifeline.conf in a real nginx, with Lifeline nodes on one real redis-server behind it.</summary>
[Collection(RedisCollection.Name)]
public sealed class NginxTests(RedisFixture redis)
{
    private static async Task<WebApplication> StartNodeAsync(params string[] args)
    {
        var app = ServeCommand.BuildApp(["--port", "0", "--auth", "dev", .. args]).App;
        await app.StartAsync();
        return app;
    }

    private static int PortOf(WebApplication app) => ServeAppTests.BaseUri(app).Port;

    private static string Subscribe(string channel, long id = 1) => $$"""{"type":"subscribe","id":{{id}},"channel":"{{channel}}"}""";

    private static string Publish(string channel, long id, string patch) => $$"""{"type":"publish","id":{{id}},"channel":"{{channel}}","patch":{{patch}}}""";

    [Fact]
    public async Task ThroughNginx_ClientsOnDifferentNodes_SeeEachOthersDeltasInOrder()
    {
        await using var nodeA = await StartNodeAsync("--redis", redis.Server.Configuration);
        await using var nodeB = await StartNodeAsync("--redis", redis.Server.Configuration);
        var port = FreePorts.Next();
        await using var nginx = await NginxServer.StartAsync(NginxServer.ShippedConfig([PortOf(nodeA), PortOf(nodeB)], port), port);
        var channel = "room:" + Guid.NewGuid().ToString("N");

        var (alice, _) = await RawClient.ConnectLiveAsync(nginx.WsUri, "alice");
        await using var aliceClient = alice;
        var (bob, _) = await RawClient.ConnectLiveAsync(nginx.WsUri, "bob");
        await using var bobClient = bob;

        // nginx's round robin put one client on each node.
        Assert.Equal(1, nodeA.Services.GetRequiredService<LifelineServer>().ConnectionCount);
        Assert.Equal(1, nodeB.Services.GetRequiredService<LifelineServer>().ConnectionCount);
        foreach (var client in new[] { alice, bob })
        {
            await client.SendTextAsync(Subscribe(channel));
            await client.ReceiveTypeAsync("subscribed");
        }

        for (var i = 1; i <= 10; i++)
        {
            await (i % 2 == 0 ? bob : alice).SendTextAsync(Publish(channel, i + 1, $$"""{"n":{{i}}}"""));
        }

        foreach (var client in new[] { alice, bob })
        {
            var offsets = new List<long>();
            for (var i = 0; i < 10; i++)
            {
                offsets.Add((await client.ReceiveTypeAsync("delta")).GetProperty("offset").GetInt64());
            }

            Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), offsets);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ThroughNginx_AnHttpClient_GetsItsWelcomeStreamed_AndSeesAWebSocketClientsPublish(bool poll)
    {
        await using var nodeA = await StartNodeAsync("--redis", redis.Server.Configuration);
        await using var nodeB = await StartNodeAsync("--redis", redis.Server.Configuration);
        var port = FreePorts.Next();
        await using var nginx = await NginxServer.StartAsync(NginxServer.ShippedConfig([PortOf(nodeA), PortOf(nodeB)], port), port);
        var channel = "room:" + Guid.NewGuid().ToString("N");

        // The welcome arrives through nginx as it is written: the stream location does not buffer.
        var (dave, welcome) = await HttpRawClient.ConnectLiveAsync(nginx.WsUri, "dave", poll: poll).WaitAsync(TimeSpan.FromSeconds(20));
        await using var daveClient = dave;
        Assert.Equal("http", welcome.GetProperty("transport").GetString());
        Assert.Equal("dave", welcome.GetProperty("user").GetString());
        Assert.Equal("text/event-stream", dave.StreamContentHeaders!.ContentType!.MediaType);

        // Its sends reach the node that holds it (ip_hash), and it sees a WebSocket client's publish from either node.
        Assert.Equal(System.Net.HttpStatusCode.NoContent, await dave.SendTextAsync(Subscribe(channel)));
        await dave.ReceiveTypeAsync("subscribed");
        var (erin, _) = await RawClient.ConnectLiveAsync(nginx.WsUri, "erin");
        await using var erinClient = erin;
        await erin.SendTextAsync(Publish(channel, 2, """{"from":"erin"}"""));
        var delta = await dave.ReceiveTypeAsync("delta");
        Assert.Equal(1, delta.GetProperty("offset").GetInt64());
        Assert.Equal("erin", delta.GetProperty("patch").GetProperty("from").GetString());
        Assert.Equal(System.Net.HttpStatusCode.NoContent, await dave.CloseAsync());
        Assert.Equal(1000, (await dave.WaitForCloseAsync()).Code);
    }

    [Fact]
    public async Task TheIdleTimeoutTrap_3sProxyReadTimeout_A1sHeartbeatKeepsTheConnection_A5sHeartbeatLosesIt()
    {
        // A 1 s heartbeat: nginx sees a ping every second, so 15 s of application silence cut nothing.
        await using (var fast = await StartNodeAsync("--heartbeat-interval", "1s", "--heartbeat-timeout", "1s"))
        {
            var port = FreePorts.Next();
            await using var nginx = await NginxServer.StartAsync(NginxServer.ShippedConfig([PortOf(fast)], port, timeout: "3s"), port);
            var (client, _) = await RawClient.ConnectLiveAsync(nginx.WsUri, "idle");
            await using var idle = client;

            // The observation window is the point of the test: nothing may happen during it.
            var first = await Task.WhenAny(idle.Closed, Task.Delay(TimeSpan.FromSeconds(15)));
            Assert.NotSame(idle.Closed, first);
            Assert.Equal(1, fast.Services.GetRequiredService<LifelineServer>().ConnectionCount);
        }

        // A 5 s heartbeat: 3 s without a byte and nginx closes the connection under the client.
        await using var slow = await StartNodeAsync("--heartbeat-interval", "5s", "--heartbeat-timeout", "1s");
        var slowPort = FreePorts.Next();
        var config = NginxServer.ShippedConfig([PortOf(slow)], slowPort, timeout: "3s");
        await using (var nginx = await NginxServer.StartAsync(config, slowPort))
        {
            var (client, _) = await RawClient.ConnectLiveAsync(nginx.WsUri, "idle");
            await using var cut = client;
            // The first ping is jittered within the interval, so the cut comes 3 s after the first or the second ping:
            // by about 8 s. Within the same 15 s the 1 s heartbeat kept its connection.
            var closed = await Task.WhenAny(cut.Closed, Task.Delay(TimeSpan.FromSeconds(15)));
            Assert.Same(cut.Closed, closed);
            Assert.Contains("upstream timed out", nginx.ErrorLog, StringComparison.Ordinal);
        }

        // The checker flags exactly that configuration for the 5 s heartbeat.
        var file = Path.Combine(Path.GetTempPath(), $"lifeline-trap-{Guid.NewGuid():N}.conf");
        await File.WriteAllTextAsync(file, config);
        try
        {
            using var output = new StringWriter();
            var code = await LifelineCli.InvokeAsync(["check-proxy", file, "--heartbeat-interval", "5s", "--heartbeat-timeout", "1s"], output, output);
            Assert.Equal(4, code);
            Assert.Contains("error: location /ws: proxy_read_timeout 3s is not longer than the heartbeat interval + timeout (6s)", output.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task ANodeKilledBehindNginx_ItsClientReconnectsThroughNginxToTheOtherNode_AndResumesWithoutLoss()
    {
        string[] Args() => ["serve", "--port", "0", "--auth", "dev", "--redis", redis.Server.Configuration];
        await using var processA = LifelineProcess.Start(Args());
        await using var processB = LifelineProcess.Start(Args());
        var ports = new[] { await processA.WaitForListeningPortAsync(), await processB.WaitForListeningPortAsync() };
        var port = FreePorts.Next();
        await using var nginx = await NginxServer.StartAsync(NginxServer.ShippedConfig(ports, port), port);
        var channel = "room:" + Guid.NewGuid().ToString("N");

        var (alice, welcome) = await RawClient.ConnectLiveAsync(nginx.WsUri, "alice");
        await using var firstAlice = alice;

        // Which node holds alice? Ask each node directly.
        using var http = new HttpClient();
        var aliceNode = -1;
        for (var n = 0; n < 2; n++)
        {
            var health = JsonDocument.Parse(await http.GetStringAsync(new Uri($"http://127.0.0.1:{ports[n]}/healthz")));
            if (health.RootElement.GetProperty("connections").GetInt32() == 1)
            {
                aliceNode = n;
            }
        }

        Assert.True(aliceNode >= 0);

        // Round robin puts bob on the other node.
        var (bob, _) = await RawClient.ConnectLiveAsync(nginx.WsUri, "bob");
        await using var bobClient = bob;
        var session = welcome.GetProperty("session").GetString()!;
        await alice.SendTextAsync(Subscribe(channel));
        var epoch = (await alice.ReceiveTypeAsync("subscribed")).GetProperty("epoch").GetString();
        for (var i = 1; i <= 3; i++)
        {
            await bob.SendTextAsync(Publish(channel, i + 1, $$"""{"n":{{i}}}"""));
        }

        for (var i = 1; i <= 3; i++)
        {
            Assert.Equal(i, (await alice.ReceiveTypeAsync("delta")).GetProperty("offset").GetInt64());
        }

        var survivor = aliceNode == 0 ? processB : processA;
        var victim = aliceNode == 0 ? processA : processB;

        await victim.KillAsync();
        await alice.Closed.ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(TimeSpan.FromSeconds(10));
        var (publisher, _) = await RawClient.ConnectLiveAsync(nginx.WsUri, "carol");
        await using var carol = publisher;
        for (var i = 4; i <= 6; i++)
        {
            await carol.SendTextAsync(Publish(channel, i, $$"""{"n":{{i}}}"""));
            Assert.True((await carol.ReceiveTypeAsync("reply")).GetProperty("ok").GetBoolean());
        }

        var (back, resumedWelcome) = await RawClient.ConnectLiveAsync(nginx.WsUri, "alice", resume: session);
        await using var aliceAgain = back;
        Assert.True(resumedWelcome.GetProperty("resumed").GetBoolean(), "the session (stored in Redis) resumes on another node");
        await back.SendTextAsync($$$"""{"type":"subscribe","id":1,"channel":"{{{channel}}}","since":{"epoch":"{{{epoch}}}","offset":3}}""");
        var subscribed = await back.ReceiveTypeAsync("subscribed");
        Assert.True(subscribed.GetProperty("recovered").GetBoolean());
        Assert.Equal(6, subscribed.GetProperty("offset").GetInt64());
        for (var i = 4; i <= 6; i++)
        {
            var delta = await back.ReceiveTypeAsync("delta");
            Assert.Equal(i, delta.GetProperty("offset").GetInt64());
            Assert.Equal(i, delta.GetProperty("patch").GetProperty("n").GetInt32());
        }

        Assert.False(survivor.HasExited);
    }
}

/// <summary>A SIGKILLed <c>lifeline serve --redis</c> node: the other node broadcasts its users' leaves, once.</summary>
[Collection(RedisCollection.Name)]
public sealed class NodeDeathTests(RedisFixture redis)
{
    [Fact]
    public async Task ANodeKilledWithSigkill_ItsUsersLeave_Once_WhenItsLivenessKeyExpires()
    {
        var environment = new Dictionary<string, string> { ["Lifeline__RedisEngine__NodeTtl"] = "00:00:02" };
        string[] args = ["serve", "--port", "0", "--auth", "dev", "--redis", redis.Server.Configuration];
        await using var doomed = LifelineProcess.Start(args, environment);
        await using var survivor = LifelineProcess.Start(args, environment);
        var doomedPort = await doomed.WaitForListeningPortAsync();
        var survivorPort = await survivor.WaitForListeningPortAsync();
        var channel = "room:" + Guid.NewGuid().ToString("N");

        var (bob, _) = await RawClient.ConnectLiveAsync(new Uri($"ws://127.0.0.1:{survivorPort}/ws"), "bob");
        await using var bobClient = bob;
        await bob.SendTextAsync($$"""{"type":"subscribe","id":1,"channel":"{{channel}}"}""");
        await bob.ReceiveTypeAsync("subscribed");
        var (alice, _) = await RawClient.ConnectLiveAsync(new Uri($"ws://127.0.0.1:{doomedPort}/ws"), "alice");
        await using var aliceClient = alice;
        await alice.SendTextAsync($$"""{"type":"subscribe","id":1,"channel":"{{channel}}"}""");
        await alice.ReceiveTypeAsync("subscribed");
        await ExpectPresenceAsync(bob, "join", "alice");

        await doomed.KillAsync();

        var leave = await ExpectPresenceAsync(bob, "leave", "alice");
        Assert.Equal("disconnect", leave.GetProperty("reason").GetString());

        // The survivor logged the clean-up (RedisNodeReaped), and the dead node left the node index in the same step, so
        // no later round can reap it again (RedisEngineTests runs extra rounds deterministically). A delta published now
        // must be the next thing bob sees: no second leave came before it.
        // (RedisNodeRegistrationsReaped, about the node's user observers and connection slots, has the same opening.)
        var reaped = await survivor.WaitForLineAsync(l => l.Contains("stopped refreshing its liveness key", StringComparison.Ordinal) && l.Contains("presence members", StringComparison.Ordinal));
        Assert.Contains("removed its 1 presence members", reaped, StringComparison.Ordinal);
        await bob.SendTextAsync($$$"""{"type":"publish","id":2,"channel":"{{{channel}}}","patch":{"after":true}}""");
        var next = await bob.ReceiveAnyAsync(m => m.GetProperty("type").GetString() is "presence" or "delta");
        Assert.Equal("delta", next.GetProperty("type").GetString());
    }

    private static async Task<System.Text.Json.JsonElement> ExpectPresenceAsync(RawClient client, string type, string user)
    {
        // bob also sees his own join: skip other users' events.
        var presence = await client.ReceiveAnyAsync(m => m.GetProperty("type").GetString() == "presence" && m.GetProperty("user").GetString() == user);
        Assert.Equal((type, user), (presence.GetProperty("event").GetString(), presence.GetProperty("user").GetString()));
        return presence;
    }
}
