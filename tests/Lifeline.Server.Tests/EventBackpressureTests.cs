using System.Text.Json;
using Lifeline.Server.Tests.Infrastructure;

namespace Lifeline.Server.Tests;

/// <summary>
/// Issue 18: events are best-effort. A subscriber that stops reading keeps its connection under an event flood (events
/// are dropped once its send queue is over half full, counted in <c>ws_events_dropped_total</c>), while its deltas are never
/// dropped and arrive in order once it reads again. User messages are never a reason to close either: they stop at three
/// quarters of the queue.
/// </summary>
public sealed class EventBackpressureTests
{
    private const int QueueLimit = 16;

    /// <summary>About 30 KB: a few hundred of them fill the loopback socket buffers, then the send queue.</summary>
    private static readonly JsonElement Big = JsonDocument.Parse("\"" + new string('x', 30_000) + "\"").RootElement;

    private static string Type(JsonElement m) => m.GetProperty("type").GetString()!;

    [Fact]
    public async Task A_slow_subscriber_keeps_its_connection_under_an_event_flood_and_gets_every_delta_in_order()
    {
        await using var server = await TestServer.StartAsync(o => o.SendQueueLimit = QueueLimit);
        var metrics = server.Runtime.Metrics;
        var (slow, _) = await RawClient.ConnectAndHelloAsync(server.WsUri); // reads only when the test receives
        await using var _s = slow;
        await EmitEventTests.SubscribeAsync(slow, "room");

        await server.Lifeline.PublishAsync("room", JsonDocument.Parse("{\"d\":1}").RootElement);
        var emitted = 0;
        while (metrics.EventsDropped == 0 && emitted < 20_000) // bounded: the socket buffers hold far fewer
        {
            await server.Lifeline.EmitAsync("room", Big);
            emitted++;
        }

        Assert.True(metrics.EventsDropped > 0, $"no event was dropped after {emitted} events of 30 KB");

        // The queue is over half full of events: deltas still go in (the other half), events keep being dropped.
        for (var d = 2; d <= 5; d++)
        {
            await server.Lifeline.PublishAsync("room", JsonDocument.Parse($"{{\"d\":{d}}}").RootElement);
            for (var i = 0; i < 20; i++, emitted++)
            {
                await server.Lifeline.EmitAsync("room", Big);
            }
        }

        Assert.True(server.Runtime.Registry.All.Single().SendQueueDepth <= QueueLimit / 2 + 1 + 4); // events stop once over half; the 4 deltas went in

        // It reads again: still open, every delta once and in order, and each event either arrived or was counted as dropped.
        var seen = await EmitEventTests.ReceiveUntilMarkerAsync(slow, "room", 99);
        Assert.Equal([1L, 2, 3, 4, 5], seen.Where(m => Type(m) == "delta").Select(m => m.GetProperty("offset").GetInt64()));
        Assert.Equal(emitted, seen.Count(m => Type(m) == "event") + metrics.EventsDropped);
        Assert.Empty(server.Disconnects.Calls);
        Assert.Empty(server.Logs.Named("SlowConsumer"));

        // Deltas are never dropped: the same reader, still not reading, is closed 1013 by deltas alone once they overflow.
        for (var d = 6; d < 6 + 10_000 && slow.CloseStatus is null && server.Disconnects.Calls.Count == 0; d++)
        {
            await server.Lifeline.PublishAsync("room", JsonDocument.Parse($"{{\"pad\":\"{new string('y', 30_000)}\"}}").RootElement);
        }

        await server.Disconnects.WaitForCountAsync(1);
        Assert.Equal(1013, server.Disconnects.Calls.Single().CloseCode.Code);
    }

    [Fact]
    public async Task A_user_message_to_a_full_send_queue_is_dropped_and_counted_and_never_closes_the_connection()
    {
        await using var server = await TestServer.StartAsync(o => o.SendQueueLimit = QueueLimit, authenticator: new TokenIsUserAuthenticator());
        var metrics = server.Runtime.Metrics;
        var (slow, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _s = slow;

        var sent = 0;
        while (metrics.MessagesDropped == 0 && sent < 20_000)
        {
            Assert.Equal(1, await server.Lifeline.SendToUserAsync("alice", Big));
            sent++;
        }

        Assert.True(metrics.MessagesDropped > 0, $"no message was dropped after {sent} messages of 30 KB");
        Assert.True(server.Runtime.Registry.All.Single().SendQueueDepth <= QueueLimit * 3 / 4); // the last quarter is kept for deltas and replies

        var seen = await EmitEventTests.ReceiveUntilMarkerAsync(slow, "room", 99);
        Assert.Equal(sent, seen.Count(m => Type(m) == "message") + metrics.MessagesDropped);
        Assert.Empty(server.Disconnects.Calls);
    }
}
