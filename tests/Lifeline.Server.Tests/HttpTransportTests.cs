using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Lifeline.Server.Tests.Infrastructure;
using Lifeline.Testing;

namespace Lifeline.Server.Tests;

/// <summary>
/// The HTTP transport's own wire (PROTOCOL.md "HTTP transport") and its bad input, each with its exact answer. What it
/// shares with the WebSocket (heartbeat, resume, limits, shutdown) is in <see cref="TransportParityTests"/>.
/// </summary>
public sealed class HttpTransportTests
{
    private static readonly byte[] Empty = [];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Stream_answers_an_unbuffered_event_stream_whose_first_event_is_the_http_welcome(bool poll)
    {
        await using var server = await TestServer.StartAsync();
        var (client, welcome) = await HttpRawClient.ConnectLiveAsync(server.WsUri, "alice", poll: poll);
        await using var _c = client;

        Assert.Equal(HttpStatusCode.OK, client.StreamStatus);
        Assert.Equal("text/event-stream", client.StreamContentHeaders!.ContentType!.MediaType);
        Assert.Contains("no-cache", client.StreamHeaders!.CacheControl!.ToString());
        Assert.Equal("no", Assert.Single(client.StreamHeaders.GetValues("X-Accel-Buffering")));
        Assert.Equal("welcome", welcome.GetProperty("type").GetString());
        Assert.Equal("http", welcome.GetProperty("transport").GetString());
        var send = welcome.GetProperty("send").GetString()!;
        Assert.Matches("^[A-Za-z0-9_-]{22,}$", send); // base64url, at least 128 bits
        Assert.StartsWith("{\"type\":\"welcome\"", client.RawEvents[0], StringComparison.Ordinal);

        // A second connection gets another capability; the WebSocket welcome has neither field.
        var (other, otherWelcome) = await HttpRawClient.ConnectLiveAsync(server.WsUri, "bob", poll: poll);
        await using var __ = other;
        Assert.NotEqual(send, otherWelcome.GetProperty("send").GetString());
        var (ws, wsWelcome) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var ___ = ws;
        Assert.False(wsWelcome.TryGetProperty("send", out _));
        Assert.False(wsWelcome.TryGetProperty("transport", out _));

        // Requests flow over it: a ping via send is answered with a pong event.
        Assert.Equal(HttpStatusCode.NoContent, await client.SendJsonAsync(new { type = "ping", n = 7 }));
        Assert.Equal(7, (await client.ReceiveTypeAsync("pong")).GetProperty("n").GetInt64());
    }

    [Fact]
    public async Task A_body_of_several_lines_is_handled_in_order()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await HttpRawClient.ConnectLiveAsync(server.WsUri);
        await using var _c = client;
        Assert.Equal(HttpStatusCode.NoContent, await client.SendLinesAsync(
            new { type = "subscribe", id = 1, channel = "c" },
            new { type = "publish", id = 2, channel = "c", patch = new { a = 1 } },
            new { type = "ping", n = 3 }));
        var messages = await client.ReceiveUntilAsync(r => r.Any(m => m.GetProperty("type").GetString() == "pong"));
        var types = messages.Select(m => m.GetProperty("type").GetString()).Where(t => t != "ping").ToList();
        Assert.Equal(["subscribed", "snapshot", "reply", "delta", "pong"], types);
    }

    [Fact]
    public async Task Send_with_a_missing_wrong_or_ended_capability_is_404_and_harms_nobody()
    {
        await using var server = await TestServer.StartAsync();
        var (victim, welcome) = await HttpRawClient.ConnectLiveAsync(server.WsUri, "victim");
        await using var _v = victim;
        await victim.SendJsonAsync(new { type = "subscribe", id = 1, channel = "c" });
        await victim.ReceiveTypeAsync("snapshot");
        using var http = HttpRawClient.NewHttpClient();
        var baseUri = HttpRawClient.HttpBase(server.WsUri);
        var publish = Encoding.UTF8.GetBytes("{\"type\":\"publish\",\"id\":1,\"channel\":\"c\",\"patch\":{\"x\":1}}");

        Assert.Equal(HttpStatusCode.NotFound, await HttpRawClient.PostAsync(http, baseUri, "/send", null, publish));
        Assert.Equal(HttpStatusCode.NotFound, await HttpRawClient.PostAsync(http, baseUri, "/send", "AAAAAAAAAAAAAAAAAAAAAAAA", publish));
        Assert.Equal(HttpStatusCode.NotFound, await HttpRawClient.PostAsync(http, baseUri, "/send", welcome.GetProperty("connection").GetString(), publish));
        Assert.Equal(HttpStatusCode.NotFound, await HttpRawClient.PostAsync(http, baseUri, "/poll", "AAAAAAAAAAAAAAAAAAAAAAAA", Empty));

        // An ended connection's capability is dead at once.
        var (gone, goneWelcome) = await HttpRawClient.ConnectLiveAsync(server.WsUri, "gone");
        await gone.CloseAsync();
        Assert.Equal(1000, (await gone.WaitForCloseAsync()).Code);
        await server.Disconnects.WaitForAsync(goneWelcome.GetProperty("connection").GetString()!);
        Assert.Equal(HttpStatusCode.NotFound, await HttpRawClient.PostAsync(http, baseUri, "/send", goneWelcome.GetProperty("send").GetString(), publish));
        await gone.DisposeAsync();

        // Nobody was harmed: the channel is untouched, the victim still open and served.
        Assert.Equal(0, (await server.Lifeline.GetChannelAsync("c")).Offset);
        Assert.Equal(HttpStatusCode.NoContent, await victim.SendJsonAsync(new { type = "ping", n = 1 }));
        Assert.Equal(1, (await victim.ReceiveTypeAsync("pong")).GetProperty("n").GetInt64());
        Assert.False(victim.Closed.IsCompleted);
    }

    [Fact]
    public async Task Body_over_the_message_size_limit_is_413_and_the_connection_stays_open()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxMessageSize = 1024);
        var (client, _) = await HttpRawClient.ConnectLiveAsync(server.WsUri);
        await using var _c = client;
        var big = "{\"type\":\"ping\",\"n\":1,\"pad\":\"" + new string('x', 1100) + "\"}";
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await client.SendTextAsync(big));

        // Chunked (no Content-Length): still 413.
        using var http = HttpRawClient.NewHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(HttpRawClient.HttpBase(server.WsUri) + "/send"))
        {
            Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big))),
        };
        request.Headers.TransferEncodingChunked = true;
        request.Headers.TryAddWithoutValidation(HttpRawClient.SendHeader, client.SendCapability);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, await client.SendJsonAsync(new { type = "ping", n = 2 }));
        Assert.Equal(2, (await client.ReceiveTypeAsync("pong")).GetProperty("n").GetInt64());
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"type\":\"ping\",\"n\":1}\n42")]
    public async Task Body_that_is_not_ndjson_of_objects_is_accepted_with_204_and_closes_the_connection_with_1007(string body)
    {
        await using var server = await TestServer.StartAsync();
        var (client, welcome) = await HttpRawClient.ConnectLiveAsync(server.WsUri);
        await using var _c = client;
        Assert.Equal(HttpStatusCode.NoContent, await client.SendTextAsync(body));
        Assert.Equal(1007, (await client.WaitForCloseAsync()).Code);
        var disconnect = await server.Disconnects.WaitForAsync(welcome.GetProperty("connection").GetString()!);
        Assert.Equal(1007, disconnect.CloseCode.Code);
        Assert.Equal(HttpStatusCode.NotFound, await client.SendJsonAsync(new { type = "ping", n = 2 }));
    }

    [Fact]
    public async Task Invalid_utf8_in_a_body_closes_with_1007()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await HttpRawClient.ConnectLiveAsync(server.WsUri);
        await using var _c = client;
        Assert.Equal(HttpStatusCode.NoContent, await client.SendBytesAsync([0x7b, 0xff, 0xfe, 0x7d]));
        Assert.Equal(1007, (await client.WaitForCloseAsync()).Code);
    }

    [Fact]
    public async Task A_second_concurrent_poll_for_the_same_capability_is_409_and_the_first_still_gets_its_batch()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await HttpRawClient.ConnectLiveAsync(server.WsUri, poll: true);
        await using var _c = client;
        using var http = HttpRawClient.NewHttpClient();
        var baseUri = HttpRawClient.HttpBase(server.WsUri);

        // The client's own loop keeps a poll open; once it is, a second one is refused.
        HttpStatusCode second = default;
        for (var i = 0; i < 200 && second != HttpStatusCode.Conflict; i++)
        {
            second = await HttpRawClient.PostAsync(http, baseUri, "/poll", client.SendCapability, Empty);
            Assert.NotEqual(HttpStatusCode.NotFound, second);
            if (second != HttpStatusCode.Conflict)
            {
                await Task.Delay(10); // the refused poll raced the client's next poll: try again (bounded)
            }
        }

        Assert.Equal(HttpStatusCode.Conflict, second);
        Assert.Equal(HttpStatusCode.NoContent, await client.SendJsonAsync(new { type = "ping", n = 5 }));
        Assert.Equal(5, (await client.ReceiveTypeAsync("pong")).GetProperty("n").GetInt64());
    }

    [Fact]
    public async Task A_second_concurrent_stream_for_the_same_capability_is_409_and_the_first_stream_keeps_working()
    {
        await using var server = await TestServer.StartAsync();
        var (client, welcome) = await HttpRawClient.ConnectLiveAsync(server.WsUri, "alice");
        await using var _c = client;
        var capability = welcome.GetProperty("send").GetString()!;
        using var http = HttpRawClient.NewHttpClient();
        var baseUri = HttpRawClient.HttpBase(server.WsUri);

        // A poll for a connection that has its own event stream: refused at once, not held for 25 s.
        var started = DateTime.UtcNow;
        Assert.Equal(HttpStatusCode.Conflict, await HttpRawClient.PostAsync(http, baseUri, "/poll", capability, Empty));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), "the refused poll was held");

        // A stream request that carries the live capability: refused, and no second connection opened.
        var second = await HttpRawClient.OpenAsync(server.WsUri, "{\"type\":\"hello\",\"v\":1,\"token\":\"alice\"}", configure: r => r.Headers.TryAddWithoutValidation(HttpRawClient.SendHeader, capability));
        await using var _s = second;
        Assert.Equal(HttpStatusCode.Conflict, second.StreamStatus);
        Assert.Equal(1, server.Lifeline.ConnectionCount);
        Assert.Equal(2, server.Logs.Named("HttpSecondStream").Count());

        // The first stream is untouched.
        Assert.Equal(HttpStatusCode.NoContent, await client.SendJsonAsync(new { type = "ping", n = 9 }));
        Assert.Equal(9, (await client.ReceiveTypeAsync("pong")).GetProperty("n").GetInt64());
        Assert.False(client.Closed.IsCompleted);

        // Once that connection ended, its capability refuses nothing: a stream with it opens a new connection.
        await client.CloseAsync();
        Assert.Equal(1000, (await client.WaitForCloseAsync()).Code);
        await server.Disconnects.WaitForAsync(welcome.GetProperty("connection").GetString()!);
        var third = await HttpRawClient.OpenAsync(server.WsUri, "{\"type\":\"hello\",\"v\":1,\"token\":\"alice\"}", configure: r => r.Headers.TryAddWithoutValidation(HttpRawClient.SendHeader, capability));
        await using var _t = third;
        Assert.Equal(HttpStatusCode.OK, third.StreamStatus);
        Assert.NotEqual(capability, (await third.ReceiveTypeAsync("welcome")).GetProperty("send").GetString());
    }

    [Fact]
    public async Task Poll_after_the_connection_ended_is_404_and_does_not_reopen_it()
    {
        await using var server = await TestServer.StartAsync();
        var (client, welcome) = await HttpRawClient.ConnectLiveAsync(server.WsUri, poll: true);
        await client.CloseAsync();
        Assert.Equal(1000, (await client.WaitForCloseAsync()).Code);
        await server.Disconnects.WaitForAsync(welcome.GetProperty("connection").GetString()!);
        await client.DisposeAsync();
        using var http = HttpRawClient.NewHttpClient();
        Assert.Equal(HttpStatusCode.NotFound, await HttpRawClient.PostAsync(http, HttpRawClient.HttpBase(server.WsUri), "/poll", welcome.GetProperty("send").GetString(), Empty));
        Assert.Equal(0, server.Lifeline.ConnectionCount);
    }

    [Fact]
    public async Task Messages_for_a_poll_connection_with_no_poll_open_wait_for_the_next_poll()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await HttpRawClient.ConnectLiveAsync(server.WsUri, poll: true);
        await using var _c = client;
        await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = "c" });
        await client.ReceiveTypeAsync("snapshot");
        client.PauseReading();
        await Task.Delay(TestTimeouts.Quiet); // let the loop finish the poll it may have open (a batch ends it)
        for (var i = 1; i <= 5; i++)
        {
            await server.Lifeline.PublishAsync("c", JsonDocument.Parse($"{{\"n\":{i}}}").RootElement);
        }

        client.ResumeReading();
        var deltas = new List<long>();
        while (deltas.Count < 5)
        {
            deltas.Add((await client.ReceiveTypeAsync("delta")).GetProperty("offset").GetInt64());
        }

        Assert.Equal([1L, 2, 3, 4, 5], deltas);
    }

    [Fact]
    public async Task Stream_with_a_foreign_origin_is_403()
    {
        await using var server = await TestServer.StartAsync();
        var client = await HttpRawClient.OpenAsync(server.WsUri, "{\"type\":\"hello\",\"v\":1}", configure: r => r.Headers.TryAddWithoutValidation("Origin", "https://evil.example"));
        await using var _ = client;
        Assert.Equal(HttpStatusCode.Forbidden, client.StreamStatus);
        Assert.Single(server.Logs.Named("HttpOriginRefused"));
        Assert.Equal(0, server.Lifeline.ConnectionCount);
    }

    [Fact]
    public async Task A_page_of_an_allowed_origin_gets_the_cors_answers_a_foreign_one_does_not()
    {
        // The WebSocket lets a page of an origin in AllowedOrigins connect; over HTTP its browser needs CORS for that.
        const string App = "https://app.example";
        await using var server = await TestServer.StartAsync(o => o.AllowedOrigins.Add(App));
        using var http = HttpRawClient.NewHttpClient();
        var baseUri = HttpRawClient.HttpBase(server.WsUri);
        foreach (var path in new[] { "/stream", "/send", "/poll" })
        {
            using var preflight = new HttpRequestMessage(HttpMethod.Options, new Uri(baseUri + path));
            preflight.Headers.TryAddWithoutValidation("Origin", App);
            preflight.Headers.TryAddWithoutValidation("Access-Control-Request-Method", "POST");
            preflight.Headers.TryAddWithoutValidation("Access-Control-Request-Headers", "content-type,lifeline-send");
            using var allowed = await http.SendAsync(preflight);
            Assert.Equal(HttpStatusCode.NoContent, allowed.StatusCode);
            Assert.Equal(App, Assert.Single(allowed.Headers.GetValues("Access-Control-Allow-Origin")));
            Assert.Equal("POST", Assert.Single(allowed.Headers.GetValues("Access-Control-Allow-Methods")));
            Assert.Equal("Content-Type, Lifeline-Send", Assert.Single(allowed.Headers.GetValues("Access-Control-Allow-Headers")));
            Assert.Contains("Origin", allowed.Headers.Vary);

            using var foreignPreflight = new HttpRequestMessage(HttpMethod.Options, new Uri(baseUri + path));
            foreignPreflight.Headers.TryAddWithoutValidation("Origin", "https://evil.example");
            using var refused = await http.SendAsync(foreignPreflight);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.False(refused.Headers.Contains("Access-Control-Allow-Origin"));
        }

        // The stream and a send from the allowed page carry Access-Control-Allow-Origin; same-origin requests need none.
        var client = await HttpRawClient.OpenAsync(server.WsUri, "{\"type\":\"hello\",\"v\":1}", configure: r => r.Headers.TryAddWithoutValidation("Origin", App));
        await using var _c = client;
        Assert.Equal(HttpStatusCode.OK, client.StreamStatus);
        Assert.Equal(App, Assert.Single(client.StreamHeaders!.GetValues("Access-Control-Allow-Origin")));
        var welcome = await client.ReceiveTypeAsync("welcome");
        using var send = new HttpRequestMessage(HttpMethod.Post, new Uri(baseUri + "/send")) { Content = new StringContent("{\"type\":\"ping\",\"n\":1}") };
        send.Headers.TryAddWithoutValidation("Origin", App);
        send.Headers.TryAddWithoutValidation(HttpRawClient.SendHeader, welcome.GetProperty("send").GetString());
        using var sent = await http.SendAsync(send);
        Assert.Equal(HttpStatusCode.NoContent, sent.StatusCode);
        Assert.Equal(App, Assert.Single(sent.Headers.GetValues("Access-Control-Allow-Origin")));

        var own = await HttpRawClient.OpenAsync(server.WsUri, "{\"type\":\"hello\",\"v\":1}", configure: r => r.Headers.TryAddWithoutValidation("Origin", baseUri.GetLeftPart(UriPartial.Authority)));
        await using var _o = own;
        Assert.Equal(HttpStatusCode.OK, own.StreamStatus);
        Assert.False(own.StreamHeaders!.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Get_on_the_stream_path_is_405()
    {
        await using var server = await TestServer.StartAsync();
        using var http = HttpRawClient.NewHttpClient();
        var baseUri = HttpRawClient.HttpBase(server.WsUri);
        foreach (var path in new[] { "/stream", "/send", "/poll" })
        {
            using var response = await http.GetAsync(new Uri(baseUri + path));
            Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        }
    }

    [Fact]
    public async Task EnableHttpTransport_false_maps_only_the_websocket()
    {
        await using var server = await TestServer.StartAsync(o => o.EnableHttpTransport = false);
        var client = await HttpRawClient.OpenAsync(server.WsUri, "{\"type\":\"hello\",\"v\":1}");
        await using var _ = client;
        Assert.Equal(HttpStatusCode.NotFound, client.StreamStatus);
        var (ws, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await ws.DisposeAsync();
    }

    [Fact]
    public async Task Bad_hello_in_the_stream_body_gets_the_websocket_close_code_as_a_close_event()
    {
        await using var server = await TestServer.StartAsync();
        var client = await HttpRawClient.OpenAsync(server.WsUri, "{\"type\":\"hello\",\"v\":2}");
        await using var _ = client;
        Assert.Equal(HttpStatusCode.OK, client.StreamStatus);
        Assert.Equal((1002, "unsupported_version"), await client.WaitForCloseAsync());
        await server.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task A_hello_body_over_the_message_size_limit_gets_a_1009_close_event()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxMessageSize = 1024);
        var hello = "{\"type\":\"hello\",\"v\":1,\"token\":\"" + new string('t', 2000) + "\"}";
        var client = await HttpRawClient.OpenAsync(server.WsUri, hello);
        await using var _ = client;
        Assert.Equal(HttpStatusCode.OK, client.StreamStatus);
        Assert.Equal(1009, (await client.WaitForCloseAsync()).Code);
        await server.WaitForNoConnectionsAsync();
        Assert.Equal(0, server.Runtime.Limits.PendingHandshakes);
    }

    [Theory]
    [InlineData(false, "/ws/stream")]
    [InlineData(true, "/ws/send")]
    public async Task The_authenticator_sees_a_live_request_at_hello_and_at_refresh(bool poll, string refreshPath)
    {
        var paths = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var server = await TestServer.StartAsync(authenticator: new PathRecordingAuthenticator(paths));
        var (client, _) = await HttpRawClient.ConnectLiveAsync(server.WsUri, "alice", poll: poll);
        await using var _c = client;
        Assert.Equal(HttpStatusCode.NoContent, await client.SendJsonAsync(new { type = "refresh", id = 1, token = "alice" }));
        Assert.True((await client.ReceiveTypeAsync("reply")).GetProperty("ok").GetBoolean());
        Assert.Equal(["/ws/stream", refreshPath], paths);
    }

    private sealed class PathRecordingAuthenticator(System.Collections.Concurrent.ConcurrentQueue<string> paths) : ILifelineAuthenticator
    {
        public ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken)
        {
            paths.Enqueue(context.HttpContext.Request.Path.Value!); // throws on a request that has ended
            return ValueTask.FromResult(AuthenticationResult.Success(context.Token!));
        }
    }

    [Fact]
    public async Task Client_close_via_send_is_echoed_as_a_close_event_and_torn_down_once_as_the_clients()
    {
        await using var server = await TestServer.StartAsync();
        var (client, welcome) = await HttpRawClient.ConnectLiveAsync(server.WsUri);
        await using var _ = client;
        Assert.Equal(HttpStatusCode.NoContent, await client.CloseAsync(1000));
        Assert.Equal(1000, (await client.WaitForCloseAsync()).Code);
        var disconnect = await server.Disconnects.WaitForAsync(welcome.GetProperty("connection").GetString()!);
        Assert.Equal(1000, disconnect.CloseCode.Code);
        Assert.Equal(DisconnectInitiator.Client, disconnect.Initiator);
        Assert.Single(server.Disconnects.Calls);
    }

    [Fact]
    public async Task A_stream_aborted_by_the_client_is_torn_down_as_1006()
    {
        await using var server = await TestServer.StartAsync();
        var (client, welcome) = await HttpRawClient.ConnectLiveAsync(server.WsUri);
        client.Drop();
        var disconnect = await server.Disconnects.WaitForAsync(welcome.GetProperty("connection").GetString()!);
        Assert.Equal(1006, disconnect.CloseCode.Code);
        Assert.Equal(DisconnectInitiator.Network, disconnect.Initiator);
        await client.DisposeAsync();
        await server.WaitForNoConnectionsAsync();
        Assert.Equal(0, server.Runtime.HttpConnections.Count);
    }

    [Theory]
    [InlineData("")]
    [InlineData("?poll=1")]
    public async Task A_thousand_half_opened_streams_are_closed_by_the_hello_timeout_and_nothing_is_held(string query)
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.HandshakeTimeout = TimeSpan.FromSeconds(1);
            o.MaxPendingHandshakes = 2000;
            o.MaxConnectionsPerAddress = 2000;
        }, minimumLevel: Microsoft.Extensions.Logging.LogLevel.Information);
        var head = Encoding.ASCII.GetBytes($"POST /ws/stream{query} HTTP/1.1\r\nHost: 127.0.0.1:{server.Port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"type\":");
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < 1000; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(IPAddress.Loopback, server.Port);
                await socket.SendAsync(head);
                sockets.Add(socket);
            }

            // Each one gets its 1002 hello_timeout close event, then the server ends the request.
            var answers = await Task.WhenAll(sockets.Select(ReadToEndAsync));
            Assert.All(answers, a => Assert.Contains("\"code\":1002,\"reason\":\"hello_timeout\"", a, StringComparison.Ordinal));
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }

        await server.WaitForNoConnectionsAsync();
        Assert.Equal(0, server.Lifeline.ConnectionCount);
        Assert.Equal(0, server.Runtime.Limits.PendingHandshakes);
        Assert.Equal(0, server.Runtime.HttpConnections.Count);
        Assert.Equal(1000, server.Logs.Named("HelloTimeout").Count());
    }

    [Fact]
    public async Task A_hello_body_slower_than_kestrels_minimum_data_rate_is_still_ended_by_the_hello_timeout()
    {
        // Kestrel ends a request body slower than 240 bytes/s after a 5 s grace period; the stream lifts that rule so
        // that the hello timeout decides, as after a WebSocket upgrade (1002 hello_timeout, not a 1006 at 5 s).
        await using var server = await TestServer.StartAsync(o => o.HandshakeTimeout = TimeSpan.FromSeconds(7));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, server.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /ws/stream HTTP/1.1\r\nHost: 127.0.0.1:{server.Port}\r\nContent-Length: 100\r\n\r\n{{"));
        var answer = await ReadToEndAsync(socket);
        Assert.Contains("\"code\":1002,\"reason\":\"hello_timeout\"", answer, StringComparison.Ordinal);
        Assert.Contains("Connection: close", answer, StringComparison.OrdinalIgnoreCase);
    }

    private static async Task<string> ReadToEndAsync(Socket socket)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Default);
        var buffer = new byte[4096];
        var text = new StringBuilder();
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) is > 0 and var n)
            {
                text.Append(Encoding.UTF8.GetString(buffer, 0, n));
            }
        }
        catch (SocketException)
        {
            // a reset after the answer is acceptable: the answer is what is checked
        }

        return text.ToString();
    }

    [Fact]
    public async Task The_send_capability_never_appears_in_the_logs()
    {
        await using var server = await TestServer.StartAsync(minimumLevel: Microsoft.Extensions.Logging.LogLevel.Trace);
        var secrets = new List<string>();
        foreach (var poll in new[] { false, true })
        {
            var (client, welcome) = await HttpRawClient.ConnectLiveAsync(server.WsUri, "alice", poll: poll);
            secrets.Add(welcome.GetProperty("send").GetString()!);
            await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = "c" });
            await client.SendTextAsync("not json"); // a bad-input close logs the connection
            await client.WaitForCloseAsync();
            using var http = HttpRawClient.NewHttpClient();
            await HttpRawClient.PostAsync(http, HttpRawClient.HttpBase(server.WsUri), "/send", secrets[^1], Encoding.UTF8.GetBytes("{}")); // a 404 for it, logged
            await client.DisposeAsync();
        }

        await server.WaitForNoConnectionsAsync();
        Assert.NotEmpty(server.Logs.Named("HttpUnknownCapability"));
        var logged = server.Logs.Entries.Select(e => e.ToString() + string.Join(' ', e.State.Values)).ToList();
        Assert.NotEmpty(logged);
        foreach (var secret in secrets)
        {
            Assert.DoesNotContain(logged, l => l.Contains(secret, StringComparison.Ordinal));
        }
    }
}
