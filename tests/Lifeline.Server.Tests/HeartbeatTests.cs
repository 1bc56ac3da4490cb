using System.Diagnostics;
using System.Net.WebSockets;
using Lifeline.Server.Tests.Infrastructure;

namespace Lifeline.Server.Tests;

/// <summary>Application-level heartbeat against a real Kestrel server on loopback.</summary>
public sealed class HeartbeatTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(300);

    /// <summary>
    /// Slack for a loaded 2-core CI machine (every test assembly runs in parallel); the bound asserted is
    /// interval + timeout + this. Timing itself is measured in bench/, not here.
    /// </summary>
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(5);

    private static Task<TestServer> StartAsync() => TestServer.StartAsync(o =>
    {
        o.HeartbeatInterval = Interval;
        o.HeartbeatTimeout = Timeout;
    });

    [Fact]
    public async Task Server_pings_with_increasing_n_and_a_client_that_pongs_stays_connected()
    {
        // A generous pong timeout: this test is about the counter and staying connected, not about detection speed.
        await using var server = await TestServer.StartAsync(o =>
        {
            o.HeartbeatInterval = Interval;
            o.HeartbeatTimeout = TimeSpan.FromSeconds(5);
        });
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        var seen = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            var ping = await client.ReceiveTypeAsync("ping");
            var n = ping.GetProperty("n").GetInt64();
            seen.Add(n);
            await client.SendJsonAsync(new { type = "pong", n });
        }

        Assert.Equal([1, 2, 3, 4, 5], seen);
        Assert.Equal(WebSocketState.Open, client.Socket.State);
        Assert.Empty(server.Disconnects.Calls);
    }

    [Fact]
    public async Task Client_that_stops_answering_pings_is_closed_with_4000_within_interval_plus_timeout()
    {
        await using var server = await StartAsync();
        var (client, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        var clock = Stopwatch.StartNew();

        var status = await client.WaitForCloseAsync(); // reads pings, never answers
        var elapsed = clock.Elapsed;

        Assert.Equal(4000, (int?)status);
        Assert.Equal("heartbeat_timeout", client.CloseDescription);
        Assert.True(elapsed < Interval + Timeout + Slack, $"closed after {elapsed}");
        var disconnect = await server.Disconnects.WaitForAsync(welcome.GetProperty("connection").GetString()!);
        Assert.Equal(4000, disconnect.CloseCode.Code);
        Assert.Equal(DisconnectInitiator.Server, disconnect.Initiator);
        Assert.Single(server.Logs.Named("HeartbeatTimeout"));
    }

    [Fact]
    public async Task A_pong_with_a_stale_n_does_not_count()
    {
        await using var server = await StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        var ping = await client.ReceiveTypeAsync("ping");
        await client.SendJsonAsync(new { type = "pong", n = ping.GetProperty("n").GetInt64() + 100 });
        Assert.Equal(4000, (int?)await client.WaitForCloseAsync());
    }

    [Fact]
    public async Task Client_ping_gets_a_pong_with_the_same_n()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        await client.SendJsonAsync(new { type = "ping", n = 123456 });
        Assert.Equal(123456, (await client.ReceiveTypeAsync("pong")).GetProperty("n").GetInt64());
    }

    [Fact]
    public async Task Paused_pings_send_nothing_and_time_nobody_out()
    {
        // A generous pong timeout: once pings resume, the first ping must reach the client before its deadline even on
        // a starved test host (a 300 ms deadline counts from when the ping is queued, and a loaded CI machine once
        // kept the writer from running that long: the client saw the 4000 close instead of the ping).
        await using var server = await TestServer.StartAsync(o =>
        {
            o.HeartbeatInterval = Interval;
            o.HeartbeatTimeout = TimeSpan.FromSeconds(5);
        });
        server.Lifeline.PingsPaused = true;
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;

        // Nothing at all may arrive for several heartbeat intervals (this wait is the assertion, not a synchronization).
        var receive = client.ReceiveAsync();
        var first = await Task.WhenAny(receive, Task.Delay(Interval * 6));
        Assert.NotSame(receive, first);
        Assert.Equal(1, server.Lifeline.ConnectionCount);

        server.Lifeline.PingsPaused = false;
        var ping = await receive;
        Assert.Equal("ping", ping!.Value.GetProperty("type").GetString());
    }

    [Fact]
    public void Sweep_period_is_a_twentieth_of_the_shorter_deadline_between_10ms_and_1s()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(250), Connections.HeartbeatScheduler.SweepPeriod(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5)));
        Assert.Equal(TimeSpan.FromMilliseconds(50), Connections.HeartbeatScheduler.SweepPeriod(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)));
        Assert.Equal(TimeSpan.FromMilliseconds(50), Connections.HeartbeatScheduler.SweepPeriod(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)));
        Assert.Equal(TimeSpan.FromSeconds(1), Connections.HeartbeatScheduler.SweepPeriod(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(1)));
        Assert.Equal(TimeSpan.FromMilliseconds(10), Connections.HeartbeatScheduler.SweepPeriod(TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(100)));
        Assert.Equal(TimeSpan.FromMilliseconds(10), Connections.HeartbeatScheduler.SweepPeriod(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(50)));
    }
}
