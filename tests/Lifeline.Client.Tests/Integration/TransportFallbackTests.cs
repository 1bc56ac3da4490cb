using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Lifeline.Client.Internal;
using Lifeline.Client.Tests.Infrastructure;

namespace Lifeline.Client.Tests.Integration;

/// <summary>
/// Choosing the transport (PROTOCOL.md "HTTP transport", "Choosing") against a real server behind WebSocket-hostile
/// middleware: the fallback to the stream, to long polling, and the probe back to the WebSocket.
/// </summary>
public class TransportFallbackTests : IAsyncLifetime
{
    private readonly TrackedClients _clients = new();
    private HostileProxyServer? _server;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _clients.DisposeAllAsync();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _clients.AssertNoErrors();
    }

    private LifelineClient CreateClient(string token, RecordingPolicy policy, TestLogger logger, Action<LifelineClientOptions>? configure = null)
    {
        var options = new LifelineClientOptions
        {
            Token = token,
            ReconnectPolicy = policy,
            ConnectTimeout = TimeSpan.FromSeconds(1),
        };
        configure?.Invoke(options);
        return _clients.Create(_server!.Url, options, logger);
    }

    [Fact]
    public async Task UpgradeRefused_FallsBackToTheStreamAtOnce_AndSaysSo()
    {
        _server = await HostileProxyServer.StartAsync(stripUpgrade: true, bufferHttp: false);
        var policy = RecordingPolicy.Fixed(TimeSpan.FromSeconds(30));
        var logger = new TestLogger();
        var client = CreateClient("alice", policy, logger);
        var states = new StateRecorder(client);
        Assert.Equal(LifelineTransport.WebSocket, client.Transport);

        await client.ConnectAsync().DefaultTimeout();

        // At once: the 30 s backoff was never asked for.
        Assert.Equal(0, policy.CallCount);
        Assert.Equal(LifelineTransport.HttpStream, client.Transport);
        var events = states.Events;
        Assert.Equal([ClientState.Connecting, ClientState.Reconnecting, ClientState.Open], events.Select(e => e.NewState));
        Assert.Equal(LifelineTransport.WebSocket, events[1].Transport);
        Assert.StartsWith("connect_failed", events[1].Reason, StringComparison.Ordinal);
        Assert.Equal(LifelineTransport.HttpStream, events[2].Transport);
        Assert.Contains(logger.Entries, e => e.EventName == "TransportFallback");
        Assert.Equal(1, _server.UpgradeRequests);

        var room = client.Channel("room:1");
        await room.SubscribeAsync().DefaultTimeout();
        await room.PublishAsync(new JsonObject { ["n"] = 1 }).DefaultTimeout();
        await HttpTestHelpers.AssertConvergedAsync(_server.Lifeline, room);

        // Remembered for the process: a second client for the same URL starts on the stream, without an upgrade try.
        var second = CreateClient("bob", RecordingPolicy.Fixed(TimeSpan.FromSeconds(30)), new TestLogger());
        Assert.Equal(LifelineTransport.HttpStream, second.Transport);
        await second.ConnectAsync().DefaultTimeout();
        Assert.Equal(1, _server.UpgradeRequests);
    }

    [Fact]
    public async Task A503OnTheUpgrade_IsTheServerAskingToWait_NotAHostileNetwork_SoTheClientStaysOnTheWebSocket()
    {
        _server = await HostileProxyServer.StartAsync(stripUpgrade: false, bufferHttp: false);
        _server.BusyUpgrade = true;
        var policy = RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(50));
        var logger = new TestLogger();
        var client = CreateClient("hank", policy, logger);
        var states = new StateRecorder(client);
        var connect = client.ConnectAsync();

        var retrying = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal(LifelineTransport.WebSocket, retrying.Transport);
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (_server.UpgradeRequests < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        // Every attempt was a WebSocket after the backoff: no fallback, and the policy was asked each time.
        Assert.True(_server.UpgradeRequests >= 3);
        Assert.True(policy.CallCount >= 2, $"policy asked {policy.CallCount} times");
        Assert.Equal(LifelineTransport.WebSocket, client.Transport);
        Assert.DoesNotContain(logger.Entries, e => e.EventName == "TransportFallback");

        _server.BusyUpgrade = false;
        await connect.DefaultTimeout();
        Assert.Equal(LifelineTransport.WebSocket, client.Transport);
    }

    [Fact]
    public async Task AWebSocketThatOpensWithoutWelcome_TwiceInARow_FallsBackToTheStream()
    {
        _server = await HostileProxyServer.StartAsync(stripUpgrade: false, bufferHttp: false, silentUpgrade: true);
        var policy = RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(50));
        var logger = new TestLogger();
        var client = CreateClient("erin", policy, logger);

        await client.ConnectAsync().DefaultTimeout();

        // The first silent open is retried after the backoff (once: the policy was asked once); the second falls back at once.
        Assert.Equal(1, policy.CallCount);
        Assert.Equal(2, _server.UpgradeRequests);
        Assert.Equal(LifelineTransport.HttpStream, client.Transport);
        var fallback = Assert.Single(logger.Entries, e => e.EventName == "TransportFallback");
        Assert.Contains("no welcome before the connect timeout", fallback.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UpgradeRefused_AndTheStreamBuffered_FallsBackToLongPolling_AndConverges()
    {
        _server = await HostileProxyServer.StartAsync(stripUpgrade: true, bufferHttp: true);
        var policy = RecordingPolicy.Fixed(TimeSpan.FromSeconds(30));
        var logger = new TestLogger();
        var client = CreateClient("carol", policy, logger);
        var states = new StateRecorder(client);

        await client.ConnectAsync().DefaultTimeout();

        Assert.Equal(0, policy.CallCount);
        Assert.Equal(LifelineTransport.HttpPoll, client.Transport);

        // Reconnecting (the WebSocket's refusal), then Open over long polling; the stream's silent attempt in between
        // stays in Reconnecting and is said in the log.
        Assert.Equal([ClientState.Connecting, ClientState.Reconnecting, ClientState.Open], states.Events.Select(e => e.NewState));
        Assert.Equal([LifelineTransport.WebSocket, LifelineTransport.HttpPoll], states.Events.Skip(1).Select(e => e.Transport));
        Assert.Contains(logger.Entries, e => e.EventName == "TransportFallback" && e.Message.Contains("falling back to HttpPoll", StringComparison.Ordinal));

        var room = client.Channel("room:2");
        await room.SubscribeAsync().DefaultTimeout();
        for (var i = 1; i <= 5; i++)
        {
            await room.PublishAsync(new JsonObject { ["n"] = i }).DefaultTimeout();
        }

        await HttpTestHelpers.AssertConvergedAsync(_server.Lifeline, room);
        Assert.Equal(2, logger.Entries.Count(e => e.EventName == "TransportFallback"));
    }

    [Fact]
    public async Task UpgradeRefused_AndTheStreamsResponseHeadHeldToo_FallsBackToLongPolling_AndConverges()
    {
        // A proxy that holds the whole response, head included (nginx with gzip on text/event-stream): the stream
        // request is taken but never answered in time. PROTOCOL.md "Choosing": a stream that delivers no welcome
        // within the connect timeout falls back to long polling, whether or not its head arrived.
        _server = await HostileProxyServer.StartAsync(stripUpgrade: true, bufferHttp: true, holdHead: true);
        var policy = RecordingPolicy.Fixed(TimeSpan.FromSeconds(30));
        var logger = new TestLogger();
        var client = CreateClient("ivan", policy, logger);

        await client.ConnectAsync().DefaultTimeout();

        Assert.Equal(0, policy.CallCount);
        Assert.Equal(LifelineTransport.HttpPoll, client.Transport);
        Assert.Contains(logger.Entries, e => e.EventName == "TransportFallback" && e.Message.Contains("falling back to HttpPoll", StringComparison.Ordinal));

        var room = client.Channel("room:6");
        await room.SubscribeAsync().DefaultTimeout();
        for (var i = 1; i <= 3; i++)
        {
            await room.PublishAsync(new JsonObject { ["n"] = i }).DefaultTimeout();
        }

        await HttpTestHelpers.AssertConvergedAsync(_server.Lifeline, room);
    }

    [Fact]
    public async Task TheProbe_MovesBackToTheWebSocket_WhenItGetsThroughAgain_WithoutLosingOrRepeatingADelta()
    {
        _server = await HostileProxyServer.StartAsync(stripUpgrade: true, bufferHttp: false);
        var logger = new TestLogger();
        var client = CreateClient("dave", RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(50)), logger, o => o.TransportProbeInterval = TimeSpan.FromMilliseconds(300));
        var states = new StateRecorder(client);
        await client.ConnectAsync().DefaultTimeout();
        Assert.Equal(LifelineTransport.HttpStream, client.Transport);

        var room = client.Channel("room:3");
        var deltas = new ConcurrentQueue<long>();
        room.Changed += (_, e) =>
        {
            if (!e.IsSnapshot)
            {
                deltas.Enqueue(e.Offset);
            }
        };
        await room.SubscribeAsync().DefaultTimeout();

        // The probe keeps failing while the upgrade is refused: still on the stream after a few intervals.
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (_server.UpgradeRequests < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.True(_server.UpgradeRequests >= 3, "the probe did not try the WebSocket again");
        Assert.Equal(LifelineTransport.HttpStream, client.Transport);
        var mark = states.Count;

        // Publishes flow (from the server) while the WebSocket comes back and the client moves to it.
        using var stop = new CancellationTokenSource();
        var published = 0;
        var publisher = Task.Run(async () =>
        {
            for (var i = 1; i <= 400 && !stop.IsCancellationRequested; i++)
            {
                await _server.Lifeline.PublishAsync("room:3", System.Text.Json.JsonDocument.Parse($$"""{"n":{{i}}}""").RootElement);
                published = i;
                await Task.Delay(5);
            }
        });
        await Task.Delay(100);
        _server.StripUpgrade = false;
        var moved = await states.WaitAsync(e => e.NewState == ClientState.Open && e.Transport == LifelineTransport.WebSocket, from: mark);
        Assert.Equal("resumed", moved.Reason);
        var switched = states.Events[mark];
        Assert.Equal(ClientState.Reconnecting, switched.NewState);
        Assert.Equal("transport_switch", switched.Reason);
        Assert.Equal(LifelineTransport.HttpStream, switched.Transport);
        Assert.Contains(logger.Entries, e => e.EventName == "TransportSwitchBack");
        await Task.Delay(100);
        await stop.CancelAsync();
        await publisher.DefaultTimeout();

        Assert.Equal(LifelineTransport.WebSocket, client.Transport);
        await HttpTestHelpers.AssertConvergedAsync(_server.Lifeline, room);
        var offsets = deltas.ToList();
        Assert.Equal(Enumerable.Range(1, published).Select(i => (long)i), offsets);
    }

    [Fact]
    public async Task TheProbe_RunsEveryFiveMinutesByDefault_OnTheClientsClock()
    {
        _server = await HostileProxyServer.StartAsync(stripUpgrade: true, bufferHttp: false);
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var upgradeTimes = new ConcurrentQueue<DateTimeOffset>();
        _server.OnUpgradeRequest = () => upgradeTimes.Enqueue(time.GetUtcNow());
        var logger = new TestLogger();

        // The watchdog runs on the fake clock too: its slack keeps it out of the way of the minutes advanced here.
        var client = CreateClient("gina", RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(50)), logger, o =>
        {
            o.TimeProvider = time;
            o.WatchdogSlack = TimeSpan.FromHours(1);
        });
        var states = new StateRecorder(client);
        await client.ConnectAsync().DefaultTimeout();
        Assert.Equal(LifelineTransport.HttpStream, client.Transport);
        Assert.Equal(LifelineClientOptions.DefaultTransportProbeInterval, TimeSpan.FromMinutes(5));
        var openedAt = time.GetUtcNow();
        Assert.Single(upgradeTimes);

        // Ten-second steps over twelve minutes: the probe tries the upgrade at 5 and at 10 minutes, not before.
        for (var step = 0; step < 72; step++)
        {
            time.Advance(TimeSpan.FromSeconds(10));
            var deadline = DateTime.UtcNow + TimeSpan.FromMilliseconds(50);
            var seen = upgradeTimes.Count;
            while (upgradeTimes.Count == seen && DateTime.UtcNow < deadline)
            {
                await Task.Delay(5);
            }
        }

        var probes = upgradeTimes.Skip(1).Select(t => t - openedAt).ToList();
        Assert.True(probes.Count == 2, $"probes at {string.Join(", ", probes)}");
        Assert.InRange(probes[0], TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(30));
        Assert.InRange(probes[1], TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(60));
        Assert.Equal(LifelineTransport.HttpStream, client.Transport);
        Assert.Equal(ClientState.Open, client.State);
        Assert.Equal(3, states.Count); // Connecting, Reconnecting (the refused upgrade), Open: the failed probes changed nothing
    }
}
