using System.Net.WebSockets;
using Lifeline.Engine;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests;

/// <summary>
/// Issue 18: the per-address and per-user connection limits are counted by the engine's connection slots, so they hold
/// across every node; each slot taken is given back exactly once; an engine that cannot count closes the connection
/// with 1013 <c>engine_unavailable</c> (the client retries with backoff), which is not counted as a slow consumer.
/// </summary>
public sealed class ConnectionSlotTests
{
    private static Task<TestServer> StartAsync(ILifelineEngine engine, Action<LifelineOptions>? configure = null) =>
        TestServer.StartAsync(configure, s => s.AddSingleton(engine), authenticator: new TokenIsUserAuthenticator());

    [Fact]
    public async Task The_per_user_limit_holds_across_two_nodes_on_one_engine_and_a_closed_connection_gives_its_slot_back()
    {
        await using var engine = new DelegatingEngine();
        await using var nodeA = await StartAsync(engine, o => o.MaxConnectionsPerUser = 1);
        await using var nodeB = await StartAsync(engine, o => o.MaxConnectionsPerUser = 1);
        var (first, _) = await RawClient.ConnectAndHelloAsync(nodeA.WsUri, "alice");

        var second = await RawClient.ConnectAsync(nodeB.WsUri);
        await using var _s = second;
        await second.SendJsonAsync(new { type = "hello", v = 1, token = "alice" });
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await second.WaitForCloseAsync());
        Assert.Equal("too_many_connections", second.CloseDescription);

        await first.CloseAsync(WebSocketCloseStatus.NormalClosure);
        await first.WaitForCloseAsync();
        await first.DisposeAsync();
        await nodeA.WaitForNoConnectionsAsync();
        await nodeB.WaitForNoConnectionsAsync();
        Assert.Equal(0, engine.SlotNameCount); // address and user slots of both connections given back

        var (again, welcome) = await RawClient.ConnectAndHelloAsync(nodeB.WsUri, "alice");
        await using var _a = again;
        Assert.Equal("alice", welcome.GetProperty("user").GetString());
    }

    [Fact]
    public async Task The_per_address_limit_holds_across_two_nodes_on_one_engine()
    {
        await using var engine = new DelegatingEngine();
        await using var nodeA = await StartAsync(engine, o => o.MaxConnectionsPerAddress = 1);
        await using var nodeB = await StartAsync(engine, o => o.MaxConnectionsPerAddress = 1);
        var (first, _) = await RawClient.ConnectAndHelloAsync(nodeA.WsUri);
        await using var _f = first;
        var second = await RawClient.ConnectAsync(nodeB.WsUri);
        await using var _s = second;
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await second.WaitForCloseAsync());
        Assert.Equal("too_many_connections", second.CloseDescription);
    }

    [Theory]
    [InlineData(ConnectionSlotKind.Address)]
    [InlineData(ConnectionSlotKind.User)]
    public async Task An_engine_that_cannot_count_a_slot_closes_1013_engine_unavailable_and_leaks_no_slot(ConnectionSlotKind failing)
    {
        await using var engine = new SlotsUnavailableEngine(failing);
        await using var server = await StartAsync(engine);
        var client = await RawClient.ConnectAsync(server.WsUri);
        await using var _c = client;
        await client.SendJsonAsync(new { type = "hello", v = 1, token = "alice" });
        Assert.Equal((WebSocketCloseStatus)1013, await client.WaitForCloseAsync());
        Assert.Equal("engine_unavailable", client.CloseDescription);

        await server.WaitForNoConnectionsAsync();
        Assert.Equal(0, engine.SlotNameCount); // a user-slot failure gave the address slot back
        Assert.Equal(0, server.Runtime.Limits.PendingHandshakes);
        Assert.Single(server.Logs.Named("EngineUnavailableAtConnect"));
        Assert.Empty(server.Logs.Named("SlowConsumer"));
    }

    [Fact]
    public async Task Many_connections_opening_and_closing_at_once_give_back_every_slot()
    {
        await using var engine = new DelegatingEngine();
        await using var server = await StartAsync(engine, o => o.MaxConnectionsPerUser = 3);
        var attempts = Enumerable.Range(0, 24).Select(async i =>
        {
            var client = await RawClient.ConnectAsync(server.WsUri);
            await using var _ = client;
            await client.SendJsonAsync(new { type = "hello", v = 1, token = $"u{i % 4}" });
            var first = await client.ReceiveAsync(); // a welcome, or null: closed 1008 at the limit
            return first is { } m && m.GetProperty("type").GetString() == "welcome";
        });
        var welcomed = (await Task.WhenAll(attempts)).Count(w => w);
        Assert.InRange(welcomed, 4, 24); // each of 4 users got at least one
        await server.WaitForNoConnectionsAsync();
        Assert.Equal(0, engine.SlotNameCount);
    }

    [Fact]
    public async Task An_engine_that_throws_something_else_at_the_address_slot_closes_1011_and_leaves_nothing_registered()
    {
        await using var engine = new SlotsThrowEngine();
        await using var server = await TestServer.StartAsync(services: s => s.AddSingleton<ILifelineEngine>(engine), expectedErrors: ["HandlerFailed"]);
        var client = await RawClient.ConnectAsync(server.WsUri);
        await using var _c = client;
        Assert.Equal(WebSocketCloseStatus.InternalServerError, await client.WaitForCloseAsync());
        await server.WaitForNoConnectionsAsync();
        Assert.Equal(0, server.Lifeline.ConnectionCount);
        Assert.Equal(0, server.Runtime.Limits.PendingHandshakes);
    }

    private sealed class SlotsThrowEngine : DelegatingEngine
    {
        public override ValueTask<bool> TryAcquireConnectionSlotAsync(ConnectionSlot slot, int max, CancellationToken cancellationToken = default) =>
            ValueTask.FromException<bool>(new InvalidOperationException("an engine bug"));
    }

    /// <summary>An engine whose connection slots of one kind cannot be counted (Redis down at connect time).</summary>
    private sealed class SlotsUnavailableEngine(ConnectionSlotKind failing) : DelegatingEngine
    {
        public override ValueTask<bool> TryAcquireConnectionSlotAsync(ConnectionSlot slot, int max, CancellationToken cancellationToken = default) =>
            slot.Kind == failing
                ? ValueTask.FromException<bool>(new EngineUnavailableException("slots are down"))
                : base.TryAcquireConnectionSlotAsync(slot, max, cancellationToken);
    }
}
