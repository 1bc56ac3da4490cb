using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Lifeline.Client.Internal;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;
using Lifeline.Server;

namespace Lifeline.Client.Tests.Integration;

/// <summary>The .NET client over the HTTP transport only (stream, then long polling) against the real server (issue 17).</summary>
public class HttpTransportTests : RealServerClients
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(400);

    public HttpTransportTests()
        : base(Interval, Timeout)
    {
    }

    private LifelineClient CreateClient(string token, LifelineTransport transport, IRetryPolicy? policy = null) => CreateClient(
        new LifelineClientOptions
        {
            Token = token,
            Transports = [transport],
            ReconnectPolicy = policy ?? RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(50)),
            WatchdogSlack = TimeSpan.FromMilliseconds(300),
        });

    [Theory]
    [InlineData(LifelineTransport.HttpStream)]
    [InlineData(LifelineTransport.HttpPoll)]
    public async Task ConnectSubscribePublish_Converges_AndEveryDeltaArrivesOnce(LifelineTransport transport)
    {
        var alice = CreateClient("alice", transport);
        var bob = CreateClient("bob", transport);
        var states = new StateRecorder(alice);
        await alice.ConnectAsync().DefaultTimeout();
        await bob.ConnectAsync().DefaultTimeout();

        Assert.Equal(transport, alice.Transport);
        var open = await states.WaitForStateAsync(ClientState.Open);
        Assert.Equal(transport, open.Transport);
        Assert.Equal("alice", alice.UserId);

        var aliceRoom = alice.Channel("room:1");
        var bobRoom = bob.Channel("room:1");
        var bobOffsets = new ConcurrentQueue<long>();
        bobRoom.Changed += (_, e) =>
        {
            if (!e.IsSnapshot)
            {
                bobOffsets.Enqueue(e.Offset);
            }
        };
        await aliceRoom.SubscribeAsync().DefaultTimeout();
        await bobRoom.SubscribeAsync().DefaultTimeout();

        var offsets = new List<long>();
        for (var i = 1; i <= 20; i++)
        {
            offsets.Add(await aliceRoom.PublishAsync(new JsonObject { ["n"] = i, [$"k{i}"] = true }).DefaultTimeout());
        }

        // Several publishes at once: batched into one send body as NDJSON, applied in order.
        var concurrent = await Task.WhenAll(Enumerable.Range(21, 10).Select(i => aliceRoom.PublishAsync(new JsonObject { ["n"] = i }))).DefaultTimeout();
        offsets.AddRange(concurrent);

        await HttpTestHelpers.AssertConvergedAsync(Server.Lifeline, aliceRoom);
        await HttpTestHelpers.AssertConvergedAsync(Server.Lifeline, bobRoom);
        Assert.Equal(Enumerable.Range(1, 30).Select(i => (long)i), offsets);
        Assert.Equal(offsets, bobOffsets.ToList());
        Assert.Equal(2, Server.Lifeline.ConnectionCount);
    }

    [Theory]
    [InlineData(LifelineTransport.HttpStream, 0)]
    [InlineData(LifelineTransport.HttpPoll, 0)]
    [InlineData(LifelineTransport.HttpStream, 4096)]
    [InlineData(LifelineTransport.HttpPoll, 4096)]
    public async Task ABurstOfPublishesLargerThanTheSendLimit_IsSentInBodiesTheServerTakes_OnOneConnection(LifelineTransport transport, int maxMessageSize)
    {
        // PROTOCOL.md "Send": a body over the message size limit is answered 413. Queued messages are batched into one
        // body, but never into one the server refuses: at most HttpTransport.MaxBatchBytes (under the default 64 KiB
        // limit), and after a 413 for a batch (a server with a lower limit) one message per body.
        await using var server = await TestServer.StartAsync(
            o =>
            {
                if (maxMessageSize > 0)
                {
                    o.MaxMessageSize = maxMessageSize;
                }
            },
            authenticator: new TokenIsUserAuthenticator());
        var policy = RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(50));
        var client = CreateClient(new LifelineClientOptions { Token = "alice", Transports = [transport], ReconnectPolicy = policy }, url: server.Url);
        var states = new StateRecorder(client);
        await client.ConnectAsync().DefaultTimeout();
        var room = client.Channel("room:burst");
        await room.SubscribeAsync().DefaultTimeout();

        var pad = new string('x', 1000);
        var count = maxMessageSize > 0 ? 40 : 100; // 40 KB against a 4 KB limit; 100 KB against the default 64 KB
        var offsets = await Task.WhenAll(Enumerable.Range(1, count).Select(i => room.PublishAsync(new JsonObject { ["n"] = i, ["pad"] = pad }))).DefaultTimeout();

        Assert.Equal(Enumerable.Range(1, count).Select(i => (long)i), offsets.Order());
        await HttpTestHelpers.AssertConvergedAsync(server.Lifeline, room);
        Assert.Equal(count, (await server.Lifeline.GetChannelAsync("room:burst")).Offset);

        // One connection throughout: no body was refused into a reconnect.
        Assert.Equal([ClientState.Connecting, ClientState.Open], states.Events.Select(e => e.NewState));
        Assert.Equal(0, policy.CallCount);
        await client.DisposeAsync();
    }

    [Theory]
    [InlineData(LifelineTransport.WebSocket)]
    [InlineData(LifelineTransport.HttpStream)]
    [InlineData(LifelineTransport.HttpPoll)]
    public async Task APublishOverTheServersMessageSizeLimit_ClosesWith1009_AsOverAWebSocket_SentOnce_NeverReconnects(LifelineTransport transport)
    {
        // PROTOCOL.md close codes: 1009 message too big, no reconnect. Over HTTP the server answers the one oversized
        // message 413; the client ends the connection as the WebSocket row does (the server's close 1009 there), tells
        // the server ({"type":"close","code":1009}), and never sends the message again.
        const int limit = 4096;
        await using var server = await TestServer.StartAsync(o => o.MaxMessageSize = limit, authenticator: new TokenIsUserAuthenticator());
        var oversizedSends = 0;
        var streams = 0;
        var closes = new ConcurrentQueue<string>();
        var policy = RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(20));
        var client = CreateClient(
            new LifelineClientOptions
            {
                Token = "alice",
                Transports = [transport],
                ReconnectPolicy = policy,
                ConfigureHttpRequest = request =>
                {
                    var path = request.RequestUri!.AbsolutePath;
                    if (path.EndsWith("/stream", StringComparison.Ordinal))
                    {
                        Interlocked.Increment(ref streams);
                    }
                    else if (path.EndsWith("/send", StringComparison.Ordinal) && request.Content!.Headers.ContentLength > limit)
                    {
                        Interlocked.Increment(ref oversizedSends);
                    }
                    else if (path.EndsWith("/send", StringComparison.Ordinal)
                        && request.Content!.ReadAsStringAsync().GetAwaiter().GetResult() is { } body
                        && body.Contains("\"close\"", StringComparison.Ordinal))
                    {
                        closes.Enqueue(body);
                    }
                },
            },
            url: server.Url);
        var states = new StateRecorder(client);
        await client.ConnectAsync().DefaultTimeout();
        var connection = client.ConnectionId!;
        var room = client.Channel("room:big");
        await room.SubscribeAsync().DefaultTimeout();

        // A normal publish first: applied and acknowledged.
        Assert.Equal(1, await room.PublishAsync(new JsonObject { ["n"] = 1 }).DefaultTimeout());

        // One message over the server's limit (well under MaxPatchSize): refused, and the client closes for good.
        var big = room.PublishAsync(new JsonObject { ["pad"] = new string('x', limit + 100) });
        var failure = await Assert.ThrowsAsync<LifelineDisconnectedException>(() => big.DefaultTimeout());
        Assert.Contains("message_too_big", failure.Message, StringComparison.Ordinal);

        var closed = await states.WaitForStateAsync(ClientState.Closed);
        Assert.Equal((1009, "message_too_big"), (closed.CloseCode, closed.Reason));
        Assert.Equal(ClientState.Open, closed.OldState);
        await client.BackgroundTask.DefaultTimeout(); // the supervisor ended: no reconnect is scheduled
        Assert.DoesNotContain(states.Events, e => e.NewState == ClientState.Reconnecting);
        Assert.Equal(0, policy.CallCount);

        // The server tore the connection down with 1009 too (its own close over a WebSocket, the client's over HTTP).
        var disconnect = await server.Disconnects.WaitForAsync(connection);
        Assert.Equal(1009, disconnect.CloseCode.Code);
        Assert.Equal(transport == LifelineTransport.WebSocket ? DisconnectInitiator.Server : DisconnectInitiator.Client, disconnect.Initiator);
        Assert.Equal(1, server.Connects.Count);
        Assert.Equal(1, (await server.Lifeline.GetChannelAsync("room:big")).Offset);
        if (transport != LifelineTransport.WebSocket)
        {
            Assert.Equal(1, Volatile.Read(ref oversizedSends));
            Assert.Equal(1, Volatile.Read(ref streams));
            Assert.Equal("{\"type\":\"close\",\"code\":1009,\"reason\":\"message_too_big\"}", Assert.Single(closes));
        }
    }

    [Fact]
    public void TakeBatch_JoinsMessagesWhileTheBodyStaysWithinTheBound_AndAlwaysTakesOne()
    {
        var outgoing = new List<byte[]> { new byte[10], new byte[10], new byte[10], new byte[100], new byte[5] };

        // 10 + '\n' + 10 = 21 bytes: two fit in 21, the third would make 32.
        Assert.Equal([10, 10], HttpTransport.TakeBatch(outgoing, 21).Select(m => m.Length));
        Assert.Equal([10], HttpTransport.TakeBatch(outgoing, 21).Select(m => m.Length));

        // A message larger than the bound goes alone.
        Assert.Equal([100], HttpTransport.TakeBatch(outgoing, 21).Select(m => m.Length));
        Assert.Equal([5], HttpTransport.TakeBatch(outgoing, 21).Select(m => m.Length));
        Assert.Empty(outgoing);
        Assert.Equal(32 * 1024, HttpTransport.MaxBatchBytes);
    }

    [Theory]
    [InlineData(LifelineTransport.HttpStream)]
    [InlineData(LifelineTransport.HttpPoll)]
    public async Task ServerAbort_ResumesTheSession_AndPublishesAreAppliedExactlyOnce(LifelineTransport transport)
    {
        var alice = CreateClient("alice", transport);
        await alice.ConnectAsync().DefaultTimeout();
        var room = alice.Channel("room:2");
        var deltas = new ConcurrentQueue<long>();
        room.Changed += (_, e) =>
        {
            if (!e.IsSnapshot)
            {
                deltas.Enqueue(e.Offset);
            }
        };
        await room.SubscribeAsync().DefaultTimeout();
        var states = new StateRecorder(alice);

        var publishes = new List<Task<long>>();
        for (var i = 1; i <= 4; i++)
        {
            var mark = states.Count;
            publishes.Add(room.PublishAsync(new JsonObject { [$"p{i}"] = i }));
            Assert.Equal(1, await Server.Lifeline.DisconnectUserAsync("alice", CloseCode.Abnormal));
            publishes.Add(room.PublishAsync(new JsonObject { [$"q{i}"] = i }));
            var reopened = await states.WaitForStateAsync(ClientState.Open, from: mark);
            Assert.Equal(transport, reopened.Transport);
        }

        var offsets = await Task.WhenAll(publishes).DefaultTimeout();
        Assert.Equal(8, offsets.Distinct().Count());
        var server = await Server.Lifeline.GetChannelAsync("room:2");
        Assert.Equal(8, server.Offset);
        await HttpTestHelpers.AssertConvergedAsync(Server.Lifeline, room);
        var applied = deltas.ToList();
        Assert.Equal(applied.Distinct().Count(), applied.Count);
        Assert.True(alice.Resumed, "the session was not resumed");
    }

    [Theory]
    [InlineData(LifelineTransport.HttpStream)]
    [InlineData(LifelineTransport.HttpPoll)]
    public async Task ServerRestart_OnTheSamePort_Is1001_ThenReconnectsAndResubscribes(LifelineTransport transport)
    {
        var client = CreateClient("erin", transport, RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(100)));
        var states = new StateRecorder(client);
        await client.ConnectAsync().DefaultTimeout();
        var room = client.Channel("room:3");
        await room.SubscribeAsync().DefaultTimeout();
        await room.PublishAsync(new JsonObject { ["before"] = 1 }).DefaultTimeout();
        var port = await StopServerAsync();
        var lost = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal(CloseCode.GoingAway.Code, lost.CloseCode);
        Assert.Equal(transport, lost.Transport);

        await StartServerAsync(port);
        var reopened = await states.WaitForStateAsync(ClientState.Open, from: 2).DefaultTimeout();
        Assert.Equal(transport, reopened.Transport);
        Assert.Equal("erin", client.UserId);
        Assert.False(client.Resumed); // a new process: a new session

        // The channel was re-subscribed on the new server: a publish there reaches the client.
        await Server.Lifeline.PublishAsync("room:3", System.Text.Json.JsonDocument.Parse("""{"after":2}""").RootElement).DefaultTimeout();
        await HttpTestHelpers.AssertConvergedAsync(Server.Lifeline, room);
        Assert.Equal(2, room.GetState().GetProperty("after").GetInt32());
    }

    [Theory]
    [InlineData(LifelineTransport.HttpStream)]
    [InlineData(LifelineTransport.HttpPoll)]
    public async Task Unauthorized_Is4001OverHttp_AndNeverRetries(LifelineTransport transport)
    {
        var policy = RecordingPolicy.Fixed(TimeSpan.Zero);
        var client = CreateClient("bad", transport, policy);
        var ex = await Assert.ThrowsAsync<LifelineException>(() => client.ConnectAsync().DefaultTimeout());
        Assert.Equal(CloseCode.Unauthorized.Code, ex.CloseCode);
        Assert.Equal(ClientState.Closed, client.State);
        Assert.Equal(0, policy.CallCount);
    }

    [Theory]
    [InlineData(LifelineTransport.HttpStream)]
    [InlineData(LifelineTransport.HttpPoll)]
    public async Task ServerThatStopsSendingPings_IsDetectedByTheWatchdog_OverHttp(LifelineTransport transport)
    {
        var client = CreateClient("carol", transport);
        var states = new StateRecorder(client);
        await client.ConnectAsync().DefaultTimeout();
        var started = DateTime.UtcNow;

        Server.Lifeline.PingsPaused = true;
        var lost = await states.WaitForStateAsync(ClientState.Reconnecting);
        Server.Lifeline.PingsPaused = false;

        Assert.Equal("watchdog", lost.Reason);
        Assert.True(DateTime.UtcNow - started >= Interval + Timeout, "the watchdog fired before interval + timeout");
        var reopened = await states.WaitForStateAsync(ClientState.Open, from: 2);
        Assert.Equal(transport, reopened.Transport);
    }

    [Theory]
    [InlineData(LifelineTransport.HttpStream)]
    [InlineData(LifelineTransport.HttpPoll)]
    public async Task PingsAreAnswered_OverHttp_SoTheServerKeepsTheConnection(LifelineTransport transport)
    {
        var client = CreateClient("dave", transport);
        var pings = 0;
        var fourPings = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ServerMessageReceived += (_, e) =>
        {
            if (e.Message is ServerPing && Interlocked.Increment(ref pings) >= 4)
            {
                fourPings.TrySetResult();
            }
        };
        await client.ConnectAsync().DefaultTimeout();
        await fourPings.Task.DefaultTimeout();
        Assert.Equal(ClientState.Open, client.State);
        Assert.True(Server.Disconnects.Calls.Count == 0, string.Join("; ", Server.Disconnects.Calls.Select(c => $"{c.CloseCode.Code} {c.CloseCode.Reason} {c.Initiator}")));
    }

    [Theory]
    [InlineData(LifelineTransport.HttpStream)]
    [InlineData(LifelineTransport.HttpPoll)]
    public async Task CloseAsync_IsSeenByTheServerAsANormalClientClose(LifelineTransport transport)
    {
        var client = CreateClient("frank", transport);
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
