using System.Net.WebSockets;
using System.Text.Json;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;

namespace Lifeline.Client.Tests;

/// <summary>Connection lifecycle against a scripted server (real sockets on loopback).</summary>
public class ConnectionTests : ClientTestBase
{
    [Fact]
    public async Task Connect_SendsHello_AndOpensOnWelcome()
    {
        var client = CreateClient(o =>
        {
            o.Token = "secret";
            o.ClientName = "test-client/9";
        });
        var states = new StateRecorder(client);

        var (_, hello) = await ConnectAsync(client, session: "sess-1");

        Assert.Equal(1, hello.GetProperty("v").GetInt32());
        Assert.Equal("secret", hello.GetProperty("token").GetString());
        Assert.Equal("test-client/9", hello.GetProperty("client").GetString());
        Assert.False(hello.TryGetProperty("resume", out _));
        Assert.Equal(ClientState.Open, client.State);
        Assert.Equal("sess-1", client.Session);
        Assert.Equal("c1", client.ConnectionId);
        Assert.Equal("u1", client.UserId);
        Assert.False(client.Resumed);
        Assert.Equal(
            [(ClientState.Closed, ClientState.Connecting), (ClientState.Connecting, ClientState.Open)],
            states.Events.Select(e => (e.OldState, e.NewState)).ToArray());
        Assert.Equal("connected", states.Events[1].Reason);
    }

    [Fact]
    public async Task StateChanged_TimestampComesFromTheTimeProvider()
    {
        var time = NewFakeTime();
        var client = CreateClient(o => o.TimeProvider = time);
        var states = new StateRecorder(client);
        await ConnectAsync(client);
        Assert.All(states.Events, e => Assert.Equal(time.GetUtcNow().ToUnixTimeMilliseconds(), e.TimestampMs));
    }

    [Fact]
    public async Task Ping_IsAnsweredWithPong_CarryingTheSameN()
    {
        var client = CreateClient();
        var (peer, _) = await ConnectAsync(client);

        foreach (var n in new long[] { 17, 18, 9_007_199_254_740_991 })
        {
            await peer.SendAsync(new ServerPing(n));
            var pong = await peer.ReceiveAsync();
            Assert.Equal("pong", pong.GetProperty("type").GetString());
            Assert.Equal(n, pong.GetProperty("n").GetInt64());
        }
    }

    [Fact]
    public async Task Reconnect_SendsTheLastSessionAsResume_AndReportsResumed()
    {
        var client = CreateClient();
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client, session: "first-session");

        peer.Abort();
        var lost = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal(1006, lost.CloseCode);

        var second = await Server.AcceptAsync();
        var hello = await second.ExpectAsync("hello");
        Assert.Equal("first-session", hello.GetProperty("resume").GetString());
        await second.SendAsync(new WelcomeMessage("first-session", "c2", "u1", true, new HeartbeatInfo(30_000, 5_000), 120_000));
        var open = await states.WaitForStateAsync(ClientState.Open, from: 2);
        Assert.Equal("resumed", open.Reason);
        Assert.True(client.Resumed);
        Assert.Equal("c2", client.ConnectionId);
    }

    [Fact]
    public async Task ErrorFollowedByClose_SchedulesExactlyOneReconnect()
    {
        var policy = RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(20));
        var client = CreateClient(o => o.ReconnectPolicy = policy);
        var states = new StateRecorder(client);
        var errors = 0;
        client.Error += (_, e) => Interlocked.Increment(ref errors);
        var (peer, _) = await ConnectAsync(client);

        await peer.SendRawAsync("""{"type":"error","code":"unavailable","message":"engine down"}""");
        await peer.CloseAsync(1011, "internal_error");

        var second = await Server.AcceptAsync();
        await second.HandshakeAsync();
        await states.WaitForStateAsync(ClientState.Open, from: 2);

        // A ping/pong round trip on the new connection: anything the old socket could still trigger has happened.
        await second.SendAsync(new ServerPing(1));
        await second.ExpectAsync("pong");
        await AssertStaysFalseAsync(() => Server.ConnectionCount > 2, "a second reconnect was scheduled");

        Assert.Equal(1, policy.CallCount);
        Assert.Equal(1011, policy.Calls[0].Context.CloseCode);
        Assert.Equal(1, Volatile.Read(ref errors));
        Assert.Single(states.Events, e => e.NewState == ClientState.Reconnecting);
        Assert.Equal(2, Server.ConnectionCount);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(1002)]
    [InlineData(1003)]
    [InlineData(1007)]
    [InlineData(1008)]
    [InlineData(1009)]
    [InlineData(4001)]
    public async Task NonRetryableCloseCode_MovesToClosed_WithoutReconnecting(int code)
    {
        var policy = RecordingPolicy.Fixed(TimeSpan.Zero);
        var client = CreateClient(o => o.ReconnectPolicy = policy);
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);

        await peer.CloseAsync(code, "bye");
        var closed = await states.WaitForStateAsync(ClientState.Closed, from: 2);

        Assert.Equal(code, closed.CloseCode);
        Assert.Equal(ClientState.Open, closed.OldState);
        await AssertStaysFalseAsync(() => Server.ConnectionCount > 1, "the client reconnected after a non-retryable close");
        Assert.Equal(0, policy.CallCount);
        Assert.DoesNotContain(states.Events, e => e.NewState == ClientState.Reconnecting);
        await client.BackgroundTask.DefaultTimeout();
    }

    [Fact]
    public async Task NormalCloseFromServer_Reconnects_WhenTheApplicationAskedForIt()
    {
        var client = CreateClient(o => o.ReconnectOnNormalClose = true);
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);
        await peer.CloseAsync(1000);
        var second = await Server.AcceptAsync();
        await second.HandshakeAsync();
        await states.WaitForStateAsync(ClientState.Open, from: 2);
    }

    [Theory]
    [InlineData(1001)]
    [InlineData(1011)]
    [InlineData(1013)]
    [InlineData(4000)]
    public async Task RetryableCloseCode_Reconnects(int code)
    {
        var policy = RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(10));
        var client = CreateClient(o => o.ReconnectPolicy = policy);
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);

        await peer.CloseAsync(code, "later");
        var reconnecting = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal(code, reconnecting.CloseCode);
        var second = await Server.AcceptAsync();
        await second.HandshakeAsync();
        await states.WaitForStateAsync(ClientState.Open, from: 2);
        Assert.Equal(code, Assert.Single(policy.Calls).Context.CloseCode);
    }

    [Fact]
    public async Task ConnectAsync_ThrowsWithTheCloseCode_WhenUnauthorized()
    {
        var client = CreateClient(o => o.Token = "bad");
        var states = new StateRecorder(client);
        var connect = client.ConnectAsync();
        var peer = await Server.AcceptAsync();
        await peer.ExpectAsync("hello");
        await peer.CloseAsync(4001, "unauthorized");

        var ex = await Assert.ThrowsAsync<LifelineException>(() => connect.DefaultTimeout());
        Assert.Equal(4001, ex.CloseCode);
        Assert.Equal(ClientState.Closed, client.State);
        Assert.Equal(4001, states.Events[^1].CloseCode);
        await AssertStaysFalseAsync(() => Server.ConnectionCount > 1, "retried after 4001");
    }

    [Fact]
    public async Task ConnectAsync_RetriesRetryableFailures_UntilWelcome()
    {
        var client = CreateClient();
        var states = new StateRecorder(client);
        var connect = client.ConnectAsync();

        var first = await Server.AcceptAsync();
        await first.ExpectAsync("hello");
        await first.CloseAsync(1013, "overloaded");
        var second = await Server.AcceptAsync();
        second.Abort();
        var third = await Server.AcceptAsync();
        await third.HandshakeAsync();

        await connect.DefaultTimeout();
        Assert.Equal(ClientState.Open, client.State);
        Assert.Equal(
            [ClientState.Connecting, ClientState.Reconnecting, ClientState.Open],
            states.Events.Select(e => e.NewState).ToArray());
    }

    [Fact]
    public async Task GoingAway_WithRetryAfter_WaitsTheHintOnTheTimeProvider()
    {
        var time = NewFakeTime();
        var policy = RecordingPolicy.Fixed(TimeSpan.Zero);
        var client = CreateClient(o =>
        {
            o.TimeProvider = time;
            o.ReconnectPolicy = policy;
        });
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);

        await peer.CloseAsync(1001, "retry_after_ms=5000");
        var reconnecting = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal(1001, reconnecting.CloseCode);

        time.Advance(TimeSpan.FromMilliseconds(4999));
        await AssertStaysFalseAsync(() => Server.ConnectionCount > 1, "reconnected before retry_after_ms");
        time.Advance(TimeSpan.FromMilliseconds(1));
        var second = await Server.AcceptAsync();
        await second.HandshakeAsync();
        await states.WaitForStateAsync(ClientState.Open, from: 2);
    }

    [Fact]
    public async Task Watchdog_AbortsAndReconnects_WhenTheServerGoesSilent()
    {
        var client = CreateClient(o => o.WatchdogSlack = TimeSpan.FromMilliseconds(100));
        var states = new StateRecorder(client);
        var started = DateTime.UtcNow;
        var (peer, _) = await ConnectAsync(client, intervalMs: 200, timeoutMs: 200);

        // The server stays silent (no pings) and never closes: only the watchdog can notice.
        var lost = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal("watchdog", lost.Reason);
        Assert.Equal(1006, lost.CloseCode);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(450), "the watchdog fired too early");

        var second = await Server.AcceptAsync();
        await second.HandshakeAsync(intervalMs: 60_000, timeoutMs: 5_000);
        await states.WaitForStateAsync(ClientState.Open, from: 2);
        GC.KeepAlive(peer);
    }

    [Fact]
    public async Task Watchdog_RunsOnTheTimeProvider_AndEveryFrameRearmsIt()
    {
        var time = NewFakeTime();
        var client = CreateClient(o =>
        {
            o.TimeProvider = time;
            o.ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.Zero);
        });
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client, intervalMs: 30_000, timeoutMs: 5_000);

        // 36 s of silence (30 + 5 + 1 s slack) are needed; 35.9 s are not enough.
        time.Advance(TimeSpan.FromMilliseconds(35_900));
        Assert.Equal(ClientState.Open, client.State);

        // A ping re-arms the watchdog: the round trip proves the client received it.
        await peer.SendAsync(new ServerPing(1));
        await peer.ExpectAsync("pong");
        time.Advance(TimeSpan.FromMilliseconds(35_999));
        await AssertStaysFalseAsync(() => client.State != ClientState.Open, "the watchdog ignored the ping");

        time.Advance(TimeSpan.FromMilliseconds(1));
        var lost = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal("watchdog", lost.Reason);
        var second = await Server.AcceptAsync();
        await second.HandshakeAsync();
        await states.WaitForStateAsync(ClientState.Open, from: 2);
    }

    [Fact]
    public async Task HandshakeTimeout_AbortsTheAttempt_AndRetries()
    {
        var time = NewFakeTime();
        var logger = new TestLogger();
        var client = CreateClient(
            o =>
            {
                o.TimeProvider = time;
                o.ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.Zero);
            },
            logger);
        var states = new StateRecorder(client);
        var connect = client.ConnectAsync();
        var silent = await Server.AcceptAsync();
        await silent.ExpectAsync("hello");

        time.Advance(LifelineClientOptions.DefaultConnectTimeout);
        var reconnecting = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal("handshake_timeout", reconnecting.Reason);
        var second = await Server.AcceptAsync();
        await second.HandshakeAsync();
        await connect.DefaultTimeout();
    }

    [Fact]
    public async Task MalformedMessages_AreReportedAndDropped_AndTheLoopContinues()
    {
        var client = CreateClient();
        var errors = new List<LifelineErrorEventArgs>();
        client.Error += (_, e) =>
        {
            lock (errors)
            {
                errors.Add(e);
            }
        };
        var (peer, _) = await ConnectAsync(client);

        // One frame: a truncated object, text that is not JSON, a delta without its members, then a ping.
        await peer.SendRawAsync("{\"type\":\"delta\"\nnot json at all\n{\"type\":\"delta\"}\n[1,2]\n{\"type\":\"ping\",\"n\":7}");
        var pong = await peer.ExpectAsync("pong");
        Assert.Equal(7, pong.GetProperty("n").GetInt64());

        // An unknown type is ignored silently (forward compatibility); a binary frame is reported.
        await peer.SendRawAsync("""{"type":"future_thing","x":1}""");
        await peer.SendBinaryAsync([1, 2, 3]);
        await peer.SendAsync(new ServerPing(8));
        Assert.Equal(8, (await peer.ExpectAsync("pong")).GetProperty("n").GetInt64());

        lock (errors)
        {
            Assert.Equal(4, errors.Count(e => e.Code == LifelineErrorEventArgs.MalformedMessage));
            Assert.Single(errors, e => e.Code == LifelineErrorEventArgs.BinaryFrame);
        }

        Assert.Equal(ClientState.Open, client.State);
    }

    [Fact]
    public async Task ThrowingHandler_StopsNeitherTheLoopNorTheOtherHandlers()
    {
        ExpectedErrors.Add("HandlerFailed");
        var logger = new TestLogger();
        var client = CreateClient(logger: logger);
        var seen = 0;
        client.ServerMessageReceived += (_, _) => throw new InvalidOperationException("handler bug");
        client.ServerMessageReceived += (_, _) => Interlocked.Increment(ref seen);
        var (peer, _) = await ConnectAsync(client);
        var before = Volatile.Read(ref seen);

        await peer.SendPackedAsync(new ServerPing(1), new ServerPing(2));
        Assert.Equal(1, (await peer.ExpectAsync("pong")).GetProperty("n").GetInt64());
        Assert.Equal(2, (await peer.ExpectAsync("pong")).GetProperty("n").GetInt64());

        Assert.Equal(before + 2, Volatile.Read(ref seen));
        Assert.True(logger.CountOf("HandlerFailed") >= 2);
        Assert.Equal(ClientState.Open, client.State);
    }

    [Fact]
    public async Task ThrowingRetryPolicy_StopsReconnecting_AndIsLogged()
    {
        ExpectedErrors.Add("RetryPolicyFailed");
        var logger = new TestLogger();
        var policy = new ThrowingPolicy();
        var client = CreateClient(o => o.ReconnectPolicy = policy, logger);
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);

        peer.Abort();
        var closed = await states.WaitForStateAsync(ClientState.Closed, from: 2);
        Assert.Equal("retry_policy_failed", closed.Reason);
        Assert.Equal(1, policy.Calls);
        await logger.WaitForAsync("RetryPolicyFailed");
        await AssertStaysFalseAsync(() => Server.ConnectionCount > 1, "reconnected after the policy threw");
    }

    [Fact]
    public async Task RetryPolicy_GivingUp_ClosesTheClient_AndFailsQueuedPublishes()
    {
        var policy = new RecordingPolicy(new LimitedPolicy(TimeSpan.FromMilliseconds(150), maxAttempts: 2));
        var client = CreateClient(o => o.ReconnectPolicy = policy);
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);

        await Server.DisposeAsync();
        var reconnecting = await states.WaitForStateAsync(ClientState.Reconnecting);
        var publish = client.Channel("c").PublishAsync(JsonDocument.Parse("""{"a":1}""").RootElement);
        var closed = await states.WaitForStateAsync(ClientState.Closed, from: 2);

        Assert.Equal("retry_gave_up", closed.Reason);
        Assert.Equal([0, 1, 2], policy.Calls.Select(c => c.Context.PreviousRetryCount).ToArray());
        Assert.Null(policy.Calls[^1].Delay);
        await Assert.ThrowsAsync<LifelineDisconnectedException>(() => publish.DefaultTimeout());
        GC.KeepAlive(peer);
        GC.KeepAlive(reconnecting);
    }

    [Fact]
    public async Task CloseAsync_SendsNormalClose_AndDoesNotReconnect()
    {
        var client = CreateClient();
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);

        var closeStatus = peer.WaitForCloseAsync();
        await client.CloseAsync().DefaultTimeout();

        Assert.Equal(WebSocketCloseStatus.NormalClosure, await closeStatus);
        peer.Release();
        Assert.Equal(ClientState.Closed, client.State);
        var closed = states.Events[^1];
        Assert.Equal(("client_closed", 1000), (closed.Reason, closed.CloseCode));
        Assert.True(client.BackgroundTask.IsCompleted);
        await AssertStaysFalseAsync(() => Server.ConnectionCount > 1, "reconnected after CloseAsync");

        // A closed client may connect again.
        var again = client.ConnectAsync();
        var second = await Server.AcceptAsync();
        var hello = await second.HandshakeAsync(session: "s2");
        await again.DefaultTimeout();
        Assert.Equal("s1", hello.GetProperty("resume").GetString());
    }

    [Fact]
    public async Task DisposeAsync_WhileReconnecting_LeavesNoBackgroundTaskRunning()
    {
        var client = CreateClient(o => o.ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.FromHours(1)));
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);
        peer.Abort();
        await states.WaitForStateAsync(ClientState.Reconnecting);
        var background = client.BackgroundTask;
        Assert.False(background.IsCompleted);

        await client.DisposeAsync().AsTask().DefaultTimeout();

        Assert.True(background.IsCompleted);
        Assert.Equal(ClientState.Closed, client.State);
        Assert.Throws<ObjectDisposedException>(() => client.Channel("x"));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.ConnectAsync());
    }

    [Fact]
    public async Task DisposeAsync_WhileOpen_ClosesTheSocket_AndLeavesNoBackgroundTaskRunning()
    {
        var client = CreateClient();
        var (peer, _) = await ConnectAsync(client);
        var channel = client.Channel("room");
        var subscribe = channel.SubscribeAsync();
        await peer.ExpectAsync("subscribe");
        var background = client.BackgroundTask;
        var closeStatus = peer.WaitForCloseAsync();

        await client.DisposeAsync().AsTask().DefaultTimeout();

        Assert.True(background.IsCompleted);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, await closeStatus);
        await Assert.ThrowsAnyAsync<Exception>(() => subscribe.DefaultTimeout());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => channel.PublishAsync(JsonDocument.Parse("""{"a":1}""").RootElement));
        peer.Release();
    }

    [Fact]
    public async Task ConnectAsync_Cancelled_ClosesTheClient()
    {
        var client = CreateClient();
        using var cts = new CancellationTokenSource();
        var connect = client.ConnectAsync(cts.Token);
        var peer = await Server.AcceptAsync();
        await peer.ExpectAsync("hello");
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connect.DefaultTimeout());
        Assert.Equal(ClientState.Closed, client.State);
        Assert.True(client.BackgroundTask.IsCompleted);
    }

    [Fact]
    public async Task ConnectAsync_Twice_Throws()
    {
        var client = CreateClient();
        await ConnectAsync(client);
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.ConnectAsync());
    }
}
