using System.Collections.Concurrent;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;
using Lifeline.Server;

namespace Lifeline.Client.Tests.Integration;

/// <summary>The client against the real Lifeline server (Kestrel on loopback, AddLifeline/MapLifeline).</summary>
public class RealServerTests : RealServerClients
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(300);

    public RealServerTests()
        : base(Interval, Timeout)
    {
    }

    private LifelineClient CreateClient(string? token, IRetryPolicy? policy = null, Uri? url = null) => CreateClient(
        new LifelineClientOptions
        {
            Token = token,
            ReconnectPolicy = policy ?? RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(50)),
            WatchdogSlack = TimeSpan.FromMilliseconds(200),
        },
        url: url);

    [Fact]
    public async Task HelloWelcome_OpensWithTheServersSessionAndUser()
    {
        var client = CreateClient("alice");
        await client.ConnectAsync().DefaultTimeout();

        Assert.Equal(ClientState.Open, client.State);
        Assert.Equal("alice", client.UserId);
        Assert.False(string.IsNullOrEmpty(client.Session));
        Assert.False(string.IsNullOrEmpty(client.ConnectionId));
        Assert.False(client.Resumed);
        var connected = Assert.Single(Server.Connects.Calls);
        Assert.Equal(client.ConnectionId, connected.ConnectionId);
        Assert.Equal("alice", connected.UserId);
    }

    [Fact]
    public async Task Unauthorized_ConnectAsyncThrows4001_AndNeverRetries()
    {
        var policy = RecordingPolicy.Fixed(TimeSpan.Zero);
        var client = CreateClient("bad", policy);
        var ex = await Assert.ThrowsAsync<LifelineException>(() => client.ConnectAsync().DefaultTimeout());
        Assert.Equal(CloseCode.Unauthorized.Code, ex.CloseCode);
        Assert.Equal(ClientState.Closed, client.State);
        Assert.Equal(0, policy.CallCount);
    }

    [Fact]
    public async Task Pings_AreAnsweredWithPongs_SoTheServerKeepsTheConnection()
    {
        var client = CreateClient("bob");
        var states = new StateRecorder(client);
        var pings = new ConcurrentQueue<long>();
        var fivePings = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ServerMessageReceived += (_, e) =>
        {
            if (e.Message is ServerPing ping)
            {
                pings.Enqueue(ping.N);
                if (pings.Count >= 5)
                {
                    fivePings.TrySetResult();
                }
            }
        };
        await client.ConnectAsync().DefaultTimeout();

        // Five intervals: without pongs the server would have closed with 4000 after the first timeout.
        await fivePings.Task.DefaultTimeout();
        Assert.Equal(ClientState.Open, client.State);
        Assert.Equal(2, states.Count);
        Assert.Empty(Server.Disconnects.Calls);
        Assert.Equal(pings.Count, pings.Distinct().Count());
    }

    [Fact]
    public async Task ServerThatStopsSendingPings_IsDetectedByTheWatchdog_AndTheClientReconnects()
    {
        var client = CreateClient("carol");
        var states = new StateRecorder(client);
        await client.ConnectAsync().DefaultTimeout();
        var started = DateTime.UtcNow;

        Server.Lifeline.PingsPaused = true;
        var lost = await states.WaitForStateAsync(ClientState.Reconnecting);
        Server.Lifeline.PingsPaused = false;

        Assert.Equal("watchdog", lost.Reason);
        Assert.True(DateTime.UtcNow - started >= Interval + Timeout, "the watchdog fired before interval + timeout");
        await states.WaitForStateAsync(ClientState.Open, from: 2);
        Assert.Equal("carol", client.UserId);
    }

    [Fact]
    public async Task TenServerSideAborts_AreSurvived_AndHandlersFireOncePerMessage()
    {
        var client = CreateClient("dave");
        var states = new StateRecorder(client);
        var welcomes = 0;
        var pingsPerConnection = new ConcurrentDictionary<string, ConcurrentQueue<long>>();
        var pingOnCurrent = new ConcurrentDictionary<string, TaskCompletionSource>();
        client.ServerMessageReceived += (_, e) =>
        {
            switch (e.Message)
            {
                case WelcomeMessage:
                    Interlocked.Increment(ref welcomes);
                    break;
                case ServerPing ping when client.ConnectionId is { } id:
                    pingsPerConnection.GetOrAdd(id, _ => new()).Enqueue(ping.N);
                    pingOnCurrent.GetOrAdd(id, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                    break;
            }
        };
        await client.ConnectAsync().DefaultTimeout();

        for (var i = 1; i <= 10; i++)
        {
            var id = client.ConnectionId!;
            await pingOnCurrent.GetOrAdd(id, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task.DefaultTimeout();
            var mark = states.Count;

            // The server drops the connection without a close frame (teardown with 1006 resets the socket).
            Assert.Equal(1, await Server.Lifeline.DisconnectUserAsync("dave", CloseCode.Abnormal));
            var lost = await states.WaitForStateAsync(ClientState.Reconnecting, from: mark);
            Assert.Equal(1006, lost.CloseCode);
            await states.WaitForStateAsync(ClientState.Open, from: mark);
            Assert.NotEqual(id, client.ConnectionId);
        }

        Assert.Equal(11, Volatile.Read(ref welcomes));
        Assert.Equal(11, Server.Connects.Count);
        Assert.Equal(11, states.Events.Count(e => e.NewState == ClientState.Open));
        Assert.Equal(10, states.Events.Count(e => e.NewState == ClientState.Reconnecting));
        Assert.All(pingsPerConnection.Values, q => Assert.Equal(q.Count, q.Distinct().Count()));

        // Each reconnect resumed the session (same user, within the resume window), and the server holds exactly
        // one connection: never two attempts at once.
        Assert.True(client.Resumed);
        Assert.All(Server.Connects.Calls.Skip(1), c => Assert.True(c.Resumed));
        Assert.Equal(1, Server.Lifeline.ConnectionCount);
    }

    [Fact]
    public async Task ServerRestart_OnTheSamePort_IsSurvived()
    {
        var client = CreateClient("erin", RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(100)));
        var states = new StateRecorder(client);
        await client.ConnectAsync().DefaultTimeout();
        var port = await StopServerAsync();
        var lost = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal(CloseCode.GoingAway.Code, lost.CloseCode);

        await StartServerAsync(port);
        await states.WaitForStateAsync(ClientState.Open, from: 2).DefaultTimeout();
        Assert.Equal("erin", client.UserId);

        // The new process does not know the old session: a fresh one, not resumed.
        Assert.False(client.Resumed);
        Assert.Single(Server.Connects.Calls);
    }

    [Fact]
    public async Task CloseAsync_IsSeenByTheServerAsANormalClientClose()
    {
        var client = CreateClient("frank");
        await client.ConnectAsync().DefaultTimeout();
        await client.CloseAsync().DefaultTimeout();

        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (Server.Disconnects.Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        var disconnect = Assert.Single(Server.Disconnects.Calls);
        Assert.Equal(CloseCode.Normal.Code, disconnect.CloseCode.Code);
        Assert.Equal(DisconnectInitiator.Client, disconnect.Initiator);
    }
}
