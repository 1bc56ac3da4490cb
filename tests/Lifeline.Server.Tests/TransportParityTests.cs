using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using Lifeline.Server.Tests.Infrastructure;
using Lifeline.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests;

/// <summary>
/// The connection's behaviour is the transport's to carry, not to change: handshake, heartbeat teardown, fan-out,
/// resume, slow consumer, rate limit and shutdown, each over the WebSocket, the HTTP stream and long polling, and
/// clients of different transports in one channel. <see cref="LeanTransportParityTests"/> runs all of it again on an
/// endpoint with the lean listener (the WebSocket through it, the HTTP transport passed on to <c>MapLifeline</c>); the
/// two share one collection, so that their short heartbeats never run side by side.
/// </summary>
[Collection(CollectionName)]
public class TransportParityTests
{
    /// <summary>The xunit collection of both classes (they run one after the other).</summary>
    public const string CollectionName = "Transport parity";

    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(5);

    /// <summary>True: the server's endpoint has the lean listener (<c>UseLifeline</c>).</summary>
    protected virtual bool Lean => false;

    private Task<TestServer> StartServerAsync(Action<LifelineOptions>? configure = null, ILifelineAuthenticator? authenticator = null) =>
        TestServer.StartAsync(configure, authenticator: authenticator, lean: Lean);

    public static TheoryData<PeerTransport> Transports => [PeerTransport.WebSocket, PeerTransport.HttpStream, PeerTransport.HttpPoll];

    public static TheoryData<PeerTransport, PeerTransport> Pairs => new()
    {
        { PeerTransport.WebSocket, PeerTransport.HttpStream },
        { PeerTransport.HttpStream, PeerTransport.WebSocket },
        { PeerTransport.WebSocket, PeerTransport.HttpPoll },
        { PeerTransport.HttpPoll, PeerTransport.HttpStream },
    };

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Handshake_welcomes_and_counts_the_connection_under_its_transport(PeerTransport transport)
    {
        await using var server = await StartServerAsync(authenticator: new TokenIsUserAuthenticator());
        var (peer, welcome) = await RawPeer.ConnectLiveAsync(transport, server.WsUri, "alice");
        await using var _p = peer;
        Assert.Equal("welcome", welcome.GetProperty("type").GetString());
        Assert.Equal(1, welcome.GetProperty("v").GetInt32());
        Assert.Equal("alice", welcome.GetProperty("user").GetString());
        Assert.False(welcome.GetProperty("resumed").GetBoolean());
        Assert.Equal(transport != PeerTransport.WebSocket, welcome.TryGetProperty("send", out _));
        await server.Connects.WaitForCountAsync(1);
        Assert.Equal(welcome.GetProperty("connection").GetString(), Assert.Single(server.Connects.Calls).ConnectionId);

        var active = ObserveByTag(server, "ws_connections_active", "transport");
        Assert.Equal(1, active[peer.Label]);
        Assert.Equal(1, active.Values.Sum());

        await peer.CloseAsync();
        Assert.Equal(1000, (await peer.WaitForCloseAsync()).Code);
        await server.WaitForNoConnectionsAsync();
        Assert.Equal(0, ObserveByTag(server, "ws_connections_active", "transport").Values.Sum());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_client_that_stops_answering_pings_is_closed_with_4000_within_interval_plus_timeout(PeerTransport transport)
    {
        var interval = TimeSpan.FromMilliseconds(300);
        var timeout = TimeSpan.FromMilliseconds(300);
        await using var server = await StartServerAsync(o =>
        {
            o.HeartbeatInterval = interval;
            o.HeartbeatTimeout = timeout;
        });
        var (peer, welcome) = await RawPeer.ConnectLiveAsync(transport, server.WsUri);
        await using var _ = peer;
        peer.AutoPong = false;
        var clock = Stopwatch.StartNew();
        var (code, reason) = await peer.WaitForCloseAsync();
        Assert.Equal(4000, code);
        Assert.Equal("heartbeat_timeout", reason);
        Assert.True(clock.Elapsed < interval + timeout + Slack, $"closed after {clock.Elapsed}");
        var disconnect = await server.Disconnects.WaitForAsync(welcome.GetProperty("connection").GetString()!);
        Assert.Equal(4000, disconnect.CloseCode.Code);
        Assert.Equal(DisconnectInitiator.Server, disconnect.Initiator);
    }

    [Fact]
    public async Task A_poll_client_that_vanished_is_caught_by_the_heartbeat_with_its_pings_waiting_in_the_queue()
    {
        await using var server = await StartServerAsync(o =>
        {
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(300);
            o.HeartbeatTimeout = TimeSpan.FromMilliseconds(300);
        });
        var (peer, welcome) = await RawPeer.ConnectLiveAsync(PeerTransport.HttpPoll, server.WsUri);
        await peer.DisposeAsync(); // no more polls, no more sends, no close

        var disconnect = await server.Disconnects.WaitForAsync(welcome.GetProperty("connection").GetString()!);
        Assert.Equal(4000, disconnect.CloseCode.Code);
        await server.WaitForNoConnectionsAsync();
        Assert.Equal(0, server.Runtime.HttpConnections.Count);
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public async Task A_publish_reaches_a_subscriber_on_another_transport(PeerTransport subscriberTransport, PeerTransport publisherTransport)
    {
        await using var server = await StartServerAsync();
        var (subscriber, _) = await RawPeer.ConnectLiveAsync(subscriberTransport, server.WsUri);
        await using var _s = subscriber;
        var (publisher, _) = await RawPeer.ConnectLiveAsync(publisherTransport, server.WsUri);
        await using var _p = publisher;
        await subscriber.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room" });
        await subscriber.ReceiveTypeAsync("snapshot");

        await publisher.SendJsonAsync(new { type = "publish", id = 7, channel = "room", patch = new { text = "hi" } });
        var reply = await publisher.ReceiveTypeAsync("reply");
        Assert.True(reply.GetProperty("ok").GetBoolean());
        var delta = await subscriber.ReceiveTypeAsync("delta");
        Assert.Equal(1, delta.GetProperty("offset").GetInt64());
        Assert.Equal("hi", delta.GetProperty("patch").GetProperty("text").GetString());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Resume_after_a_drop_with_since_recovers_exactly_the_missed_deltas(PeerTransport transport)
    {
        await using var server = await StartServerAsync(
            o =>
            {
                o.HeartbeatInterval = TimeSpan.FromMilliseconds(300);
                o.HeartbeatTimeout = TimeSpan.FromMilliseconds(500);
            },
            authenticator: new TokenIsUserAuthenticator());
        var (first, welcome) = await RawPeer.ConnectLiveAsync(transport, server.WsUri, "alice");
        await first.SendJsonAsync(new { type = "subscribe", id = 1, channel = "c" });
        var snapshot = await first.ReceiveTypeAsync("snapshot");
        var epoch = snapshot.GetProperty("epoch").GetString();
        await server.Lifeline.PublishAsync("c", Json("{\"n\":1}"));
        Assert.Equal(1, (await first.ReceiveTypeAsync("delta")).GetProperty("offset").GetInt64());

        // A drop: the WebSocket and the stream see their request end (1006); a poll client that stops polling is
        // only missed by the heartbeat (4000).
        first.Drop();
        var dropped = await server.Disconnects.WaitForAsync(welcome.GetProperty("connection").GetString()!);
        Assert.Equal(transport == PeerTransport.HttpPoll ? 4000 : 1006, dropped.CloseCode.Code);
        await first.DisposeAsync();
        for (var i = 2; i <= 4; i++)
        {
            await server.Lifeline.PublishAsync("c", Json($"{{\"n\":{i}}}"));
        }

        var (second, resumed) = await RawPeer.ConnectLiveAsync(transport, server.WsUri, "alice", welcome.GetProperty("session").GetString());
        await using var _ = second;
        Assert.True(resumed.GetProperty("resumed").GetBoolean());
        await second.SendJsonAsync(new { type = "subscribe", id = 2, channel = "c", since = new { epoch, offset = 1 } });
        var subscribed = await second.ReceiveTypeAsync("subscribed");
        Assert.True(subscribed.GetProperty("recovered").GetBoolean());
        var offsets = new List<long>();
        while (offsets.Count < 3)
        {
            var m = (await second.ReceiveAsync())!.Value;
            Assert.NotEqual("snapshot", m.GetProperty("type").GetString());
            if (m.GetProperty("type").GetString() == "delta")
            {
                offsets.Add(m.GetProperty("offset").GetInt64());
            }
        }

        Assert.Equal([2L, 3, 4], offsets);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_slow_consumer_is_closed_with_1013(PeerTransport transport)
    {
        await using var server = await StartServerAsync(o => o.SendQueueLimit = 64);
        string connection;
        IAsyncDisposable client;
        if (transport == PeerTransport.WebSocket)
        {
            var (ws, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri); // reads only when told: it never is
            await ws.SendJsonAsync(new { type = "subscribe", id = 1, channel = "c" });
            connection = welcome.GetProperty("connection").GetString()!;
            client = ws;
        }
        else
        {
            var (http, welcome) = await HttpRawClient.ConnectLiveAsync(server.WsUri, poll: transport == PeerTransport.HttpPoll);
            await http.SendJsonAsync(new { type = "subscribe", id = 1, channel = "c" });
            await http.ReceiveTypeAsync("snapshot");
            http.PauseReading();
            connection = welcome.GetProperty("connection").GetString()!;
            client = http;
        }

        await using var _ = client;
        var pad = new string('p', 1024);
        for (var i = 1; i <= 20_000 && server.Disconnects.Calls.Count == 0; i++)
        {
            await server.Lifeline.PublishAsync("c", Json($"{{\"n\":{i},\"pad\":\"{pad}\"}}"));
        }

        var disconnect = await server.Disconnects.WaitForAsync(connection);
        Assert.Equal(1013, disconnect.CloseCode.Code);
        Assert.Equal("slow_consumer", disconnect.Reason);
        await server.WaitForNoConnectionsAsync();
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Abusing_the_rate_limit_closes_with_1008(PeerTransport transport)
    {
        await using var server = await StartServerAsync(o =>
        {
            o.MaxMessagesPerSecond = 1;
            o.MessageBurst = 5;
            o.RateLimitAbuseThreshold = 6;
        });
        var (peer, _) = await RawPeer.ConnectLiveAsync(transport, server.WsUri);
        await using var _p = peer;
        for (var i = 0; i < 30 && !peer.WaitForCloseAsync(TimeSpan.Zero).IsCompletedSuccessfully; i++)
        {
            try
            {
                await peer.SendJsonAsync(new { type = "presence", id = i, channel = "room" });
            }
            catch (Exception ex) when (ex is InvalidOperationException or System.Net.WebSockets.WebSocketException or HttpRequestException)
            {
                break; // closed meanwhile: 404 / socket closed
            }
        }

        var (code, reason) = await peer.WaitForCloseAsync();
        Assert.Equal(1008, code);
        Assert.Equal("rate_limit_abused", reason);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Host_stop_closes_with_1001_and_a_retry_hint(PeerTransport transport)
    {
        var server = await StartServerAsync(o => o.ShutdownRetrySpread = TimeSpan.FromSeconds(3));
        var (peer, _) = await RawPeer.ConnectLiveAsync(transport, server.WsUri);
        var close = peer.WaitForCloseAsync();
        var stop = server.StopAsync();
        var (code, reason) = await close;
        await stop.WaitAsync(TestTimeouts.Default);
        Assert.Equal(1001, code);
        Assert.StartsWith("retry_after_ms=", reason, StringComparison.Ordinal);
        Assert.Equal(0, server.Lifeline.ConnectionCount);
        await server.DisposeAsync();
        await peer.DisposeAsync();
    }

    [Fact]
    public async Task Clients_of_every_transport_in_one_channel_see_the_same_deltas_in_the_same_order()
    {
        await using var server = await StartServerAsync();
        var peers = new List<RawPeer>();
        foreach (var transport in new[] { PeerTransport.WebSocket, PeerTransport.HttpStream, PeerTransport.HttpPoll })
        {
            var (peer, _) = await RawPeer.ConnectLiveAsync(transport, server.WsUri);
            await peer.SendJsonAsync(new { type = "subscribe", id = 1, channel = "mixed" });
            await peer.ReceiveTypeAsync("snapshot");
            peers.Add(peer);
        }

        try
        {
            // Publishers on every transport at once, 30 each: each subscriber sees offsets 1..90 with identical patches.
            await Task.WhenAll(peers.Select(async (p, k) =>
            {
                for (var i = 0; i < 30; i++)
                {
                    await p.SendJsonAsync(new { type = "publish", id = 100 + i, channel = "mixed", patch = new { by = p.Label, i } });
                }
            }));

            var seen = new List<List<string>>();
            foreach (var peer in peers)
            {
                var deltas = new List<string>();
                while (deltas.Count < 90)
                {
                    var delta = await peer.ReceiveTypeAsync("delta");
                    Assert.Equal(deltas.Count + 1, delta.GetProperty("offset").GetInt64());
                    deltas.Add(delta.GetProperty("patch").GetRawText());
                }

                seen.Add(deltas);
            }

            Assert.Equal(seen[0], seen[1]);
            Assert.Equal(seen[0], seen[2]);
        }
        finally
        {
            foreach (var peer in peers)
            {
                await peer.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Close_codes_are_counted_under_their_transport()
    {
        await using var server = await StartServerAsync();
        var factory = server.Services.GetRequiredService<IMeterFactory>();
        var counted = new List<(string? Code, string? Transport)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name == "ws_close_codes_distribution")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            string? code = null, label = null;
            foreach (var t in tags)
            {
                code = t.Key == "code" ? (string?)t.Value : code;
                label = t.Key == "transport" ? (string?)t.Value : label;
            }

            lock (counted)
            {
                counted.Add((code, label));
            }
        });
        listener.Start();
        foreach (var transport in new[] { PeerTransport.HttpStream, PeerTransport.HttpPoll, PeerTransport.WebSocket })
        {
            var (peer, welcome) = await RawPeer.ConnectLiveAsync(transport, server.WsUri);
            await peer.CloseAsync();
            await peer.WaitForCloseAsync();
            await server.Disconnects.WaitForAsync(welcome.GetProperty("connection").GetString()!);
            await peer.DisposeAsync();
        }

        lock (counted)
        {
            Assert.Equal([("1000", "http-stream"), ("1000", "http-poll"), ("1000", "websocket")], counted);
        }
    }

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement;

    private static Dictionary<string, long> ObserveByTag(TestServer server, string name, string tag)
    {
        var factory = server.Services.GetRequiredService<IMeterFactory>();
        var values = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Meter.Name == LifelineMetrics.MeterName && instrument.Name == name)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, measurement, tags, _) =>
        {
            foreach (var t in tags)
            {
                if (t.Key == tag)
                {
                    values[(string)t.Value!] = measurement;
                }
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return values;
    }
}

/// <summary>The transport parity suite on an endpoint with the lean listener.</summary>
[Collection(CollectionName)]
public sealed class LeanTransportParityTests : TransportParityTests
{
    protected override bool Lean => true;
}
