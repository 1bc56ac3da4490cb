using System.Net.WebSockets;
using System.Text.Json;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests;

/// <summary>Sessions, resume, and presence joins and leaves: once, never for a resumed user, never missing.</summary>
public sealed class PresenceAndResumeTests
{
    private static Task<TestServer> StartAsync(TimeSpan? grace = null) => TestServer.StartAsync(
        o => o.PresenceGracePeriod = grace ?? TimeSpan.FromMilliseconds(500),
        s => s.AddSingleton<ILifelineAuthenticator, TokenIsUserAuthenticator>());

    /// <summary>Connects, subscribes and, for a user's first connection, waits for the user's own join to arrive.</summary>
    private static async Task<RawClient> JoinAsync(TestServer server, string user, string channel, bool firstConnection = true)
    {
        var client = await RawClient.ConnectAsync(server.WsUri);
        client.AutoPong = true;
        await client.HelloAsync(user);
        await client.SendJsonAsync(new { type = "subscribe", id = 1, channel });
        await client.ReceiveTypeAsync("snapshot");
        if (firstConnection)
        {
            await client.ReceiveUntilAsync(l => l.Any(m => IsPresence(m, "join", user)));
        }

        return client;
    }

    private static bool IsPresence(JsonElement m, string @event, string user) =>
        m.GetProperty("type").GetString() == "presence" && m.GetProperty("event").GetString() == @event && m.GetProperty("user").GetString() == user;

    [Fact]
    public async Task Join_is_broadcast_once_and_members_are_listed()
    {
        await using var server = await StartAsync();
        await using var observer = await JoinAsync(server, "obs", "room");
        await using var alice1 = await JoinAsync(server, "alice", "room");
        var join = await observer.ReceiveTypeAsync("presence");
        Assert.Equal("join", join.GetProperty("event").GetString());
        Assert.Equal("alice", join.GetProperty("user").GetString());
        Assert.Equal("room", join.GetProperty("channel").GetString());

        await using var alice2 = await JoinAsync(server, "alice", "room", firstConnection: false); // second tab: no second join
        await observer.SendJsonAsync(new { type = "presence", id = 5, channel = "room" });
        var reply = await observer.ReceiveTypeAsync("reply");
        Assert.Equal(["alice", "obs"], reply.GetProperty("members").EnumerateArray().Select(e => e.GetString()!).ToArray());
        // Only the reply arrived after the first join: the second tab did not broadcast another one.
        Assert.DoesNotContain(await DrainAsync(observer), m => IsPresence(m, "join", "alice"));
    }

    [Fact]
    public async Task Unsubscribe_of_the_last_connection_leaves_at_once_with_reason_unsubscribe()
    {
        await using var server = await StartAsync(grace: TimeSpan.FromSeconds(30));
        await using var observer = await JoinAsync(server, "obs", "room");
        await using var alice = await JoinAsync(server, "alice", "room");
        await observer.ReceiveTypeAsync("presence");
        await alice.SendJsonAsync(new { type = "unsubscribe", id = 2, channel = "room" });
        var leave = await observer.ReceiveTypeAsync("presence");
        Assert.Equal("leave", leave.GetProperty("event").GetString());
        Assert.Equal("unsubscribe", leave.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Normal_close_leaves_at_once_and_abnormal_close_after_the_grace_period_exactly_once()
    {
        await using var server = await StartAsync(grace: TimeSpan.FromMilliseconds(600));
        await using var observer = await JoinAsync(server, "obs", "room");
        var alice = await JoinAsync(server, "alice", "room");
        var bob = await JoinAsync(server, "bob", "room");
        await observer.ReceiveUntilAsync(l => l.Count(m => m.GetProperty("type").GetString() == "presence") == 2);

        await alice.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        var leave = await observer.ReceiveTypeAsync("presence");
        Assert.True(IsPresence(leave, "leave", "alice"));
        Assert.Equal("disconnect", leave.GetProperty("reason").GetString());

        bob.Socket.Abort(); // abnormal: the leave waits for the grace period
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var bobLeave = await observer.ReceiveTypeAsync("presence");
        Assert.True(IsPresence(bobLeave, "leave", "bob"));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(500), $"leave after {clock.Elapsed}, before the grace period");
        await TeardownTests.WaitUntilAsync(() => server.Runtime.Presence.PendingLeaves == 0);
        Assert.DoesNotContain(await DrainAsync(observer), m => m.GetProperty("type").GetString() == "presence");
    }

    [Fact]
    public async Task Resume_within_the_window_keeps_the_session_and_the_user_does_not_flap()
    {
        await using var server = await StartAsync(grace: TimeSpan.FromSeconds(2));
        await using var observer = await JoinAsync(server, "obs", "room");
        var first = await RawClient.ConnectAsync(server.WsUri);
        first.AutoPong = true;
        var welcome = await first.HelloAsync("alice");
        var session = welcome.GetProperty("session").GetString();
        await first.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room" });
        await first.ReceiveTypeAsync("snapshot");
        Assert.True(IsPresence(await observer.ReceiveTypeAsync("presence"), "join", "alice"));
        first.Socket.Abort();
        await server.Disconnects.WaitForCountAsync(1);

        await using var second = await RawClient.ConnectAsync(server.WsUri);
        var resumed = await second.HelloAsync("alice", resume: session);
        Assert.True(resumed.GetProperty("resumed").GetBoolean());
        Assert.Equal(session, resumed.GetProperty("session").GetString());
        await second.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room" });
        await second.ReceiveTypeAsync("snapshot");

        // Past the grace period: no leave, no join was broadcast for alice.
        await TeardownTests.WaitUntilAsync(() => server.Runtime.Presence.PendingLeaves == 0);
        Assert.DoesNotContain(await DrainAsync(observer), m => m.GetProperty("type").GetString() == "presence");
        Assert.Contains("alice", await server.Lifeline.GetPresenceAsync("room"));
    }

    [Fact]
    public async Task An_older_grace_period_running_out_during_a_later_short_disconnection_broadcasts_no_leave()
    {
        // Regression, found by the client's convergence test: every teardown started a grace timer, and whichever ran
        // out while the session happened to be away again (a later, short disconnection) broadcast a leave, cutting
        // the later disconnection's grace period short. Only the latest teardown's grace period may decide.
        // On fake time (grace timers, and everything else of the server's): no machine load can shift the order.
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await TestServer.StartAsync(
            o => o.PresenceGracePeriod = TimeSpan.FromSeconds(3),
            s => s.AddSingleton<ILifelineAuthenticator, TokenIsUserAuthenticator>().AddSingleton<TimeProvider>(time));
        await using var observer = await JoinAsync(server, "obs", "room");
        var first = await RawClient.ConnectAsync(server.WsUri);
        first.AutoPong = true;
        var session = (await first.HelloAsync("alice")).GetProperty("session").GetString();
        await first.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room" });
        await first.ReceiveTypeAsync("snapshot");
        Assert.True(IsPresence(await observer.ReceiveTypeAsync("presence"), "join", "alice"));

        first.Socket.Abort(); // teardown 1 at t=0: its grace period ends at t=3 s
        await server.Disconnects.WaitForCountAsync(1);
        await TeardownTests.WaitUntilAsync(() => server.Runtime.Presence.PendingLeaves == 1);
        var second = await ResumeAndSubscribeAsync(server, session);
        time.Advance(TimeSpan.FromSeconds(2));
        second.Socket.Abort(); // teardown 2 at t=2 s: its grace period ends at t=5 s
        await server.Disconnects.WaitForCountAsync(2);
        await TeardownTests.WaitUntilAsync(() => server.Runtime.Presence.PendingLeaves == 2);
        time.Advance(TimeSpan.FromSeconds(1.5)); // t=3.5 s: teardown 1's grace period ran out while alice was away
        await TeardownTests.WaitUntilAsync(() => server.Runtime.Presence.PendingLeaves == 1);
        await using var third = await ResumeAndSubscribeAsync(server, session);
        time.Advance(TimeSpan.FromSeconds(2)); // t=5.5 s: teardown 2's grace period ran out, alice is back

        await TeardownTests.WaitUntilAsync(() => server.Runtime.Presence.PendingLeaves == 0);
        Assert.DoesNotContain(await DrainAsync(observer), m => m.GetProperty("type").GetString() == "presence");
        Assert.Contains("alice", await server.Lifeline.GetPresenceAsync("room"));
    }

    private static async Task<RawClient> ResumeAndSubscribeAsync(TestServer server, string? session)
    {
        var client = await RawClient.ConnectAsync(server.WsUri);
        client.AutoPong = true;
        var welcome = await client.HelloAsync("alice", resume: session);
        Assert.True(welcome.GetProperty("resumed").GetBoolean());
        await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room" });
        await client.ReceiveTypeAsync("snapshot");
        return client;
    }

    [Fact]
    public async Task Resuming_another_users_session_starts_a_fresh_session()
    {
        await using var server = await StartAsync();
        var (alice, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri, token: "alice");
        var session = welcome.GetProperty("session").GetString();
        alice.Socket.Abort();
        await server.Disconnects.WaitForCountAsync(1);

        await using var mallory = await RawClient.ConnectAsync(server.WsUri);
        var stolen = await mallory.HelloAsync("mallory", resume: session);
        Assert.False(stolen.GetProperty("resumed").GetBoolean());
        Assert.NotEqual(session, stolen.GetProperty("session").GetString());
        Assert.Equal("mallory", stolen.GetProperty("user").GetString());
    }

    [Fact]
    public async Task Unknown_resume_token_starts_a_fresh_session()
    {
        await using var server = await StartAsync();
        await using var client = await RawClient.ConnectAsync(server.WsUri);
        var welcome = await client.HelloAsync("alice", resume: "forged-token-AAAAAAAAAAAAAAAA");
        Assert.False(welcome.GetProperty("resumed").GetBoolean());
    }

    /// <summary>Sends a ping and returns everything that arrived before its pong (the server handles messages in order).</summary>
    private static async Task<List<JsonElement>> DrainAsync(RawClient client)
    {
        await client.SendJsonAsync(new { type = "ping", n = 424242 });
        var messages = await client.ReceiveUntilAsync(l => l.Any(m => m.GetProperty("type").GetString() == "pong" && m.GetProperty("n").GetInt64() == 424242));
        return messages;
    }
}
