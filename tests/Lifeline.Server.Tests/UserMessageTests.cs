using System.Net.WebSockets;
using System.Text.Json;
using Lifeline.Engine;
using Lifeline.Protocol;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests;

/// <summary>
/// Issue 18, PROTOCOL.md "message": <see cref="LifelineServer.SendToUserAsync"/> reaches every open connection of one
/// user and nobody else, and <see cref="LifelineServer.DisconnectUserAsync"/> goes through the engine, so a node closes
/// its connections of a user whoever asked. Two servers sharing one <see cref="MemoryEngine"/> stand for two nodes.
/// </summary>
public sealed class UserMessageTests
{
    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    private static JsonElement J(string json) => JsonDocument.Parse(json).RootElement;

    private static Task<TestServer> StartAsync(ILifelineEngine? engine = null, Action<LifelineOptions>? configure = null) =>
        TestServer.StartAsync(configure, s =>
        {
            if (engine is not null)
            {
                s.AddSingleton(engine);
            }
        }, authenticator: new TokenIsUserAuthenticator());

    [Fact]
    public async Task A_message_reaches_every_connection_of_the_user_and_nobody_else_and_the_count_says_how_many()
    {
        await using var server = await StartAsync();
        var (a1, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _1 = a1;
        var (a2, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _2 = a2;
        var (bob, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "bob");
        await using var _b = bob;
        var (anonymous, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _n = anonymous;

        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.Equal(2, await server.Lifeline.SendToUserAsync("alice", J("""{"export":"ready"}""")));
        foreach (var c in new[] { a1, a2 })
        {
            var seen = await EmitEventTests.ReceiveUntilMarkerAsync(c, "x", 90);
            var message = Assert.Single(seen, m => Type(m) == "message");
            Assert.Equal("""{"export":"ready"}""", message.GetProperty("data").GetRawText());
            Assert.InRange(message.GetProperty("ts").GetInt64(), before - 1000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1000);
        }

        Assert.DoesNotContain(await EmitEventTests.ReceiveUntilMarkerAsync(bob, "x", 91), m => Type(m) == "message");
        Assert.DoesNotContain(await EmitEventTests.ReceiveUntilMarkerAsync(anonymous, "x", 92), m => Type(m) == "message");

        Assert.Equal(0, await server.Lifeline.SendToUserAsync("nobody", J("1")));
        Assert.Equal(1, await server.Lifeline.SendToUserAsync("bob", J("null")));
        Assert.Equal("null", (await bob.ReceiveTypeAsync("message")).GetProperty("data").GetRawText());
    }

    [Fact]
    public async Task Only_user_connections_register_with_the_engine_and_teardown_unregisters_them()
    {
        await using var engine = new MemoryEngine();
        await using var server = await StartAsync(engine);
        var (anonymous, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _n = anonymous;
        Assert.Equal(0, engine.ObservedUserCount);

        var (alice, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        Assert.Equal(1, engine.ObservedUserCount);
        await alice.CloseAsync(WebSocketCloseStatus.NormalClosure);
        await alice.WaitForCloseAsync();
        await server.Disconnects.WaitForCountAsync(1);
        await alice.DisposeAsync();
        Assert.Equal(0, engine.ObservedUserCount);
        Assert.Equal(0, await server.Lifeline.SendToUserAsync("alice", J("1")));
    }

    [Fact]
    public async Task Bad_message_data_throws_the_publish_codes_and_sends_nothing()
    {
        await using var server = await StartAsync(configure: o => o.MaxPatchSize = 100);
        var (alice, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _a = alice;
        Assert.Equal(ErrorCodes.LimitExceeded, (await Assert.ThrowsAsync<LifelineRequestException>(() => server.Lifeline.SendToUserAsync("alice", J("\"" + new string('x', 100) + "\"")))).Code);
        Assert.Equal(ErrorCodes.InvalidMessage, (await Assert.ThrowsAsync<LifelineRequestException>(() => server.Lifeline.SendToUserAsync("alice", default))).Code);
        await Assert.ThrowsAsync<ArgumentException>(() => server.Lifeline.SendToUserAsync("", J("1")));
        Assert.DoesNotContain(await EmitEventTests.ReceiveUntilMarkerAsync(alice, "x", 90), m => Type(m) == "message");
    }

    [Fact]
    public async Task Two_nodes_on_one_engine_a_message_and_a_disconnect_from_one_node_reach_the_user_on_the_other()
    {
        await using var engine = new MemoryEngine();
        await using var nodeA = await StartAsync(engine);
        await using var nodeB = await StartAsync(engine);
        var (onA, _) = await RawClient.ConnectAndHelloAsync(nodeA.WsUri, "alice");
        await using var _a = onA;
        var (onB, _) = await RawClient.ConnectAndHelloAsync(nodeB.WsUri, "alice");
        await using var _b = onB;
        var (bobOnB, _) = await RawClient.ConnectAndHelloAsync(nodeB.WsUri, "bob");
        await using var _c = bobOnB;

        Assert.Equal(2, await nodeA.Lifeline.SendToUserAsync("alice", J("""{"n":1}""")));
        Assert.Equal("""{"n":1}""", (await onB.ReceiveTypeAsync("message")).GetProperty("data").GetRawText());
        Assert.Equal("""{"n":1}""", (await onA.ReceiveTypeAsync("message")).GetProperty("data").GetRawText());

        // Node A disconnects alice: its own connection's teardown is awaited, node B closes its one on its own.
        Assert.Equal(2, await nodeA.Lifeline.DisconnectUserAsync("alice", CloseCode.PolicyViolation.WithReason("banned")));
        Assert.Single(nodeA.Disconnects.Calls);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await onB.WaitForCloseAsync());
        Assert.Equal("banned", onB.CloseDescription);
        await nodeB.Disconnects.WaitForCountAsync(1);
        var closed = nodeB.Disconnects.Calls.Single();
        Assert.Equal(("alice", 1008, DisconnectInitiator.Application), (closed.UserId, closed.CloseCode.Code, closed.Initiator));

        // bob is untouched.
        Assert.Equal(1, await nodeA.Lifeline.SendToUserAsync("bob", J("2")));
        Assert.Equal("2", (await bobOnB.ReceiveTypeAsync("message")).GetProperty("data").GetRawText());
        Assert.Equal(0, await nodeA.Lifeline.DisconnectUserAsync("nobody", CloseCode.PolicyViolation));
    }

    [Fact]
    public async Task When_the_engine_cannot_reach_the_cluster_DisconnectUserAsync_still_closes_this_nodes_connections_then_throws()
    {
        await using var engine = new DisconnectUnavailableEngine();
        await using var server = await StartAsync(engine);
        var (alice, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _a = alice;

        await Assert.ThrowsAsync<EngineUnavailableException>(() => server.Lifeline.DisconnectUserAsync("alice", CloseCode.PolicyViolation));
        Assert.Single(server.Disconnects.Calls); // awaited before the exception surfaced
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await alice.WaitForCloseAsync());
    }

    private sealed class DisconnectUnavailableEngine : DelegatingEngine
    {
        public override ValueTask<int> DisconnectUserAsync(UserDisconnect disconnect, CancellationToken cancellationToken = default) =>
            ValueTask.FromException<int>(new EngineUnavailableException("backplane down"));
    }

    [Fact]
    public async Task A_disconnect_order_the_engine_delivers_closes_the_users_connections_with_its_code_and_reason()
    {
        await using var engine = new MemoryEngine();
        await using var server = await StartAsync(engine);
        var (alice, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _a = alice;

        // As another node's application would: straight through the engine.
        Assert.Equal(1, await engine.DisconnectUserAsync(new UserDisconnect("alice", 4001, "account_deleted")));
        Assert.Equal(4001, (int)(await alice.WaitForCloseAsync())!);
        Assert.Equal("account_deleted", alice.CloseDescription);
        await server.Disconnects.WaitForCountAsync(1);
        Assert.Equal(DisconnectInitiator.Application, server.Disconnects.Calls.Single().Initiator);
    }
}
