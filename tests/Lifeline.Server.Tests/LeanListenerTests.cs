using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Xunit;

namespace Lifeline.Server.Tests;

/// <summary>
/// Issue 20: the lean listener (<c>UseLifeline</c>), its handshake answers to bad input (each with its exact answer,
/// from a raw TCP client writing bytes), pipelined bytes, what its authenticator sees, and everything else on the port
/// still served by the HTTP pipeline. The frame-level hostile suite runs on it too (<see cref="HostileInputTests"/>).
/// </summary>
[Collection(HostileInputCollection.Name)]
public sealed class LeanListenerTests
{
    // RFC 6455 1.3's example: the key and its accept.
    private const string Key = "dGhlIHNhbXBsZSBub25jZQ==";
    private const string Accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    private static string Upgrade(
        int port,
        string requestLine = "GET /ws HTTP/1.1",
        string? key = Key,
        string? version = "13",
        string? origin = null,
        string? extra = null,
        bool host = true)
    {
        var head = new StringBuilder(requestLine).Append("\r\n");
        if (host)
        {
            head.Append($"Host: 127.0.0.1:{port}\r\n");
        }

        head.Append("Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n");
        if (key is not null)
        {
            head.Append($"Sec-WebSocket-Key: {key}\r\n");
        }

        if (version is not null)
        {
            head.Append($"Sec-WebSocket-Version: {version}\r\n");
        }

        if (origin is not null)
        {
            head.Append($"Origin: {origin}\r\n");
        }

        head.Append(extra);
        return head.Append("\r\n").ToString();
    }

    /// <summary>Connects, writes <paramref name="bytes"/> in one write, reads the answer's head (byte by byte: nothing after it is read).</summary>
    private static async Task<(TcpClient Tcp, NetworkStream Stream, int Status, string Head)> ExchangeAsync(int port, byte[] bytes)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(bytes);
        var head = await ReadHeadAsync(stream);
        var status = head.Length >= 12 && int.TryParse(head.AsSpan(9, 3), out var code) ? code : 0;
        return (tcp, stream, status, head);
    }

    private static async Task<string> ReadHeadAsync(NetworkStream stream)
    {
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, timeout.Token) == 0)
            {
                break;
            }

            head.Append((char)one[0]);
        }

        return head.ToString();
    }

    private static async Task<(int Status, string Head)> AnswerAsync(int port, string head)
    {
        var (tcp, _, status, answer) = await ExchangeAsync(port, Encoding.ASCII.GetBytes(head));
        tcp.Dispose();
        return (status, answer);
    }

    [Fact]
    public async Task A_valid_upgrade_gets_101_with_the_rfc_accept_key_and_the_connection_works()
    {
        await using var server = await TestServer.StartAsync(lean: true);
        var (tcp, stream, status, head) = await ExchangeAsync(server.Port, Encoding.ASCII.GetBytes(Upgrade(server.Port)));
        using var _ = tcp;
        Assert.Equal(101, status);
        Assert.Contains($"Sec-WebSocket-Accept: {Accept}\r\n", head, StringComparison.Ordinal);
        Assert.Contains("Upgrade: websocket\r\n", head, StringComparison.Ordinal);

        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
        await socket.SendAsync("{\"type\":\"hello\",\"v\":1}"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.Equal("welcome", (await ReceiveJsonAsync(socket)).GetProperty("type").GetString());
        Assert.Equal(1, server.Lifeline.ConnectionCount);
    }

    [Fact]
    public async Task A_hello_in_the_same_write_as_the_head_is_the_first_frame()
    {
        await using var server = await TestServer.StartAsync(lean: true);
        byte[] bytes = [.. Encoding.ASCII.GetBytes(Upgrade(server.Port)), .. MaskedTextFrame("{\"type\":\"hello\",\"v\":1}")];
        var (tcp, stream, status, _) = await ExchangeAsync(server.Port, bytes);
        using var _t = tcp;
        Assert.Equal(101, status);
        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
        Assert.Equal("welcome", (await ReceiveJsonAsync(socket)).GetProperty("type").GetString());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // MapLifeline's upgrade holds to the same
    public async Task Several_frames_in_the_same_write_as_the_head_are_each_handled(bool lean)
    {
        // The WebSocket reads ahead into its own buffer: every message that arrived together must be handled, not only
        // the first one (an idle wait must not sleep on the socket while a whole message is already buffered).
        await using var server = await TestServer.StartAsync(lean: lean);
        byte[] bytes =
        [
            .. Encoding.ASCII.GetBytes(Upgrade(server.Port)),
            .. MaskedTextFrame("{\"type\":\"hello\",\"v\":1}"),
            .. MaskedTextFrame("{\"type\":\"ping\",\"n\":1}"),
            .. MaskedTextFrame("{\"type\":\"ping\",\"n\":2}"),
        ];
        var (tcp, stream, status, _) = await ExchangeAsync(server.Port, bytes);
        using var _t = tcp;
        Assert.Equal(101, status);
        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
        var seen = new List<string>();
        while (seen.Count < 3)
        {
            // the server may batch several messages in one frame, one per line
            foreach (var line in (await ReceiveTextAsync(socket)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var message = JsonDocument.Parse(line).RootElement;
                seen.Add(message.GetProperty("type").GetString() + (message.TryGetProperty("n", out var n) ? n.GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture) : string.Empty));
            }
        }

        Assert.Equal(["welcome", "pong1", "pong2"], seen);
    }

    [Theory]
    [InlineData("missing", null)]
    [InlineData("not base64", "not base64 at all!!!!!!!")]
    [InlineData("15 bytes", "AAAAAAAAAAAAAAAAAAAA")]
    [InlineData("17 bytes", "AAAAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("empty", "")]
    public async Task Missing_or_malformed_key_gets_400(string what, string? key)
    {
        _ = what;
        await using var server = await TestServer.StartAsync(lean: true);
        Assert.Equal(400, (await AnswerAsync(server.Port, Upgrade(server.Port, key: key))).Status);
        Assert.Equal(0, server.Lifeline.ConnectionCount);
    }

    [Fact]
    public async Task Two_keys_get_400()
    {
        await using var server = await TestServer.StartAsync(lean: true);
        Assert.Equal(400, (await AnswerAsync(server.Port, Upgrade(server.Port, extra: $"Sec-WebSocket-Key: {Key}\r\n"))).Status);
    }

    [Theory]
    [InlineData("8")]
    [InlineData("14")]
    [InlineData("13x")]
    public async Task Unsupported_version_gets_426_naming_13(string version)
    {
        await using var server = await TestServer.StartAsync(lean: true);
        var (status, head) = await AnswerAsync(server.Port, Upgrade(server.Port, version: version));
        Assert.Equal(426, status);
        Assert.Contains("Sec-WebSocket-Version: 13\r\n", head, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_version_no_host_or_no_connection_upgrade_gets_400()
    {
        await using var server = await TestServer.StartAsync(lean: true);
        Assert.Equal(400, (await AnswerAsync(server.Port, Upgrade(server.Port, version: null))).Status);
        Assert.Equal(400, (await AnswerAsync(server.Port, Upgrade(server.Port, host: false))).Status);
        var noConnectionUpgrade = Upgrade(server.Port).Replace("Connection: keep-alive, Upgrade", "Connection: keep-alive", StringComparison.Ordinal);
        Assert.Equal(400, (await AnswerAsync(server.Port, noConnectionUpgrade)).Status);
        Assert.Equal(400, (await AnswerAsync(server.Port, Upgrade(server.Port, extra: "Bad Name: x\r\n"))).Status);
    }

    [Theory]
    [InlineData("POST /ws HTTP/1.1", 405)]
    [InlineData("PUT /ws?x=1 HTTP/1.1", 405)]
    [InlineData("GET /ws HTTP/1.0", 400)]
    public async Task Non_get_gets_405_and_http_1_0_gets_400(string requestLine, int expected)
    {
        await using var server = await TestServer.StartAsync(lean: true);
        var (status, head) = await AnswerAsync(server.Port, Upgrade(server.Port, requestLine));
        Assert.Equal(expected, status);
        if (expected == 405)
        {
            Assert.Contains("Allow: GET\r\n", head, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_head_over_the_limit_gets_431()
    {
        await using var server = await TestServer.StartAsync(lean: true);
        // Kestrel's limits together: 8 KiB of request line and 32 KiB of fields.
        var (status, _) = await AnswerAsync(server.Port, Upgrade(server.Port, extra: $"X-Pad: {new string('x', 48 * 1024)}\r\n"));
        Assert.Equal(431, status);
        Assert.Equal(0, server.Lifeline.ConnectionCount);
    }

    [Fact]
    public async Task A_head_that_trickles_in_slower_than_the_handshake_timeout_is_closed()
    {
        await using var server = await TestServer.StartAsync(o => o.HandshakeTimeout = TimeSpan.FromSeconds(1), lean: true);
        using var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(IPAddress.Loopback, server.Port);
        var stream = tcp.GetStream();
        var started = Stopwatch.StartNew();
        var closed = ReadUntilClosedAsync(stream);
        var head = Encoding.ASCII.GetBytes(Upgrade(server.Port) + new string('x', 1000));
        for (var i = 0; i < head.Length && !closed.IsCompleted; i++)
        {
            try
            {
                await stream.WriteAsync(head.AsMemory(i, 1));
            }
            catch (IOException)
            {
                break; // already closed
            }

            await Task.WhenAny(closed, Task.Delay(50));
        }

        Assert.True(closed.IsCompleted, "the connection is still open after the whole head trickled in");
        var answer = await closed;
        Assert.Equal(string.Empty, answer); // closed without an answer
        Assert.InRange(started.Elapsed, TimeSpan.FromSeconds(0.9), TestTimeouts.Default);
        Assert.Single(server.Logs.Named("LeanHeadTimedOut"));
        Assert.Equal(0, server.Lifeline.ConnectionCount);
    }

    [Fact]
    public async Task A_server_that_stops_closes_a_connection_whose_head_is_pending_without_an_error()
    {
        // Kestrel waits for the connection (its head timeout closes it) or aborts it at its shutdown timeout: either way
        // nothing escapes the listener.
        var server = await TestServer.StartAsync(o => o.HandshakeTimeout = TimeSpan.FromSeconds(2), lean: true);
        using var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(IPAddress.Loopback, server.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
        var closed = ReadUntilClosedAsync(stream);
        await server.DisposeAsync(); // fails on any Error log (an exception escaping the listener is one)
        Assert.Equal(string.Empty, await closed.WaitAsync(TestTimeouts.Default));
    }

    [Fact]
    public async Task Foreign_origin_gets_403_and_same_origin_101()
    {
        await using var server = await TestServer.StartAsync(lean: true);
        Assert.Equal(403, (await AnswerAsync(server.Port, Upgrade(server.Port, origin: "http://evil.example"))).Status);
        Assert.Single(server.Logs.Named("OriginRefused"));
        Assert.Equal(101, (await AnswerAsync(server.Port, Upgrade(server.Port, origin: $"http://127.0.0.1:{server.Port}"))).Status);
    }

    [Fact]
    public async Task Too_many_pending_handshakes_get_503_with_retry_after()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxPendingHandshakes = 1, lean: true);
        var (first, _, status, _) = await ExchangeAsync(server.Port, Encoding.ASCII.GetBytes(Upgrade(server.Port)));
        using var _f = first;
        Assert.Equal(101, status);
        var (refused, head) = await AnswerAsync(server.Port, Upgrade(server.Port));
        Assert.Equal(503, refused);
        Assert.Contains("Retry-After: 1\r\n", head, StringComparison.Ordinal);
        Assert.Single(server.Logs.Named("TooManyHandshakes"));
    }

    [Fact]
    public async Task Everything_else_on_the_port_goes_to_the_http_pipeline()
    {
        await using var server = await TestServer.StartAsync(lean: true);
        using var http = new HttpClient { Timeout = TestTimeouts.Default };
        var root = new Uri($"http://127.0.0.1:{server.Port}");

        // an unmapped path: Kestrel's own 404; a GET of the path without an upgrade: MapLifeline's 400; the same
        // HTTP connection is kept alive across them (a second request is never looked at by the listener)
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri(root, "/nothing-here"))).StatusCode);
        var plain = await http.GetAsync(new Uri(root, "/ws"));
        Assert.Equal(HttpStatusCode.BadRequest, plain.StatusCode);
        Assert.Contains("WebSocket upgrade expected", await plain.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri(root, "/wsx"))).StatusCode);

        // the HTTP transport's stream, and a WebSocket client
        var (stream, welcome) = await HttpRawClient.ConnectLiveAsync(server.WsUri);
        await using var _s = stream;
        Assert.Equal("http", welcome.GetProperty("transport").GetString());
        var (socket, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _w = socket;
        Assert.Equal(2, server.Lifeline.ConnectionCount);
    }

    [Fact]
    public async Task The_authenticator_sees_the_rebuilt_head_at_the_hello_and_only_path_and_addresses_at_a_refresh()
    {
        var seen = new List<AuthenticationContext>();
        var authenticator = new CapturingAuthenticator(seen);
        await using var server = await TestServer.StartAsync(authenticator: authenticator, lean: true);
        var (client, _) = await RawClient.ConnectAndHelloAsync(new Uri(server.WsUri + "?room=7"), "alice");
        await using var _c = client;
        await client.SendJsonAsync(new { type = "refresh", id = 1, token = "alice" });
        await client.ReceiveTypeAsync("reply");

        Assert.Equal(2, seen.Count);
        var hello = seen[0].HttpContext;
        Assert.Null(hello.Features.Get<IHttpWebSocketFeature>()); // not Kestrel's request: the lean listener's
        Assert.Equal("GET", hello.Request.Method);
        Assert.Equal("/ws", hello.Request.Path.Value);
        Assert.Equal("?room=7", hello.Request.QueryString.Value);
        Assert.Equal($"127.0.0.1:{server.Port}", hello.Request.Host.Value);
        Assert.Equal("websocket", hello.Request.Headers.Upgrade.ToString(), ignoreCase: true);
        Assert.Equal(IPAddress.Loopback, hello.Connection.RemoteIpAddress);
        Assert.NotEqual(0, hello.Connection.RemotePort);
        Assert.False(hello.User.Identity?.IsAuthenticated ?? false);

        var refresh = seen[1].HttpContext;
        Assert.Equal("/ws", refresh.Request.Path.Value);
        Assert.Empty(refresh.Request.Headers);
        Assert.Equal(hello.Connection.RemotePort, refresh.Connection.RemotePort);
    }

    [Fact]
    public async Task A_dead_peer_is_reset_and_nothing_is_left()
    {
        await using var server = await TestServer.StartAsync(lean: true);
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _c = client;
        Assert.Equal(1, server.Lifeline.ConnectionCount);
        client.Socket.Abort();
        await server.Disconnects.WaitForCountAsync(1).DefaultTimeout();
        Assert.Equal(0, server.Lifeline.ConnectionCount);
    }

    private sealed class CapturingAuthenticator(List<AuthenticationContext> seen) : ILifelineAuthenticator
    {
        public ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken)
        {
            lock (seen)
            {
                seen.Add(context);
            }

            return ValueTask.FromResult(context.Token is { } user ? AuthenticationResult.Success(user) : AuthenticationResult.Anonymous);
        }
    }

    private static async Task<string> ReadUntilClosedAsync(NetworkStream stream)
    {
        var received = new StringBuilder();
        var buffer = new byte[1024];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                received.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        }
        catch (IOException)
        {
            // reset: closed too
        }

        return received.ToString();
    }

    private static async Task<string> ReceiveTextAsync(WebSocket socket)
    {
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        var buffer = new byte[64 * 1024];
        var count = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(count), timeout.Token);
            count += result.Count;
            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(buffer, 0, count);
            }
        }
    }

    private static async Task<JsonElement> ReceiveJsonAsync(WebSocket socket)
    {
        using var document = JsonDocument.Parse(await ReceiveTextAsync(socket));
        return document.RootElement.Clone();
    }

    /// <summary>A client's text frame (masked, RFC 6455 5.3), payload under 126 bytes.</summary>
    private static byte[] MaskedTextFrame(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        byte[] mask = [0x12, 0x34, 0x56, 0x78];
        var frame = new byte[2 + 4 + payload.Length];
        frame[0] = 0x81;
        frame[1] = (byte)(0x80 | payload.Length);
        mask.CopyTo(frame, 2);
        for (var i = 0; i < payload.Length; i++)
        {
            frame[6 + i] = (byte)(payload[i] ^ mask[i % 4]);
        }

        return frame;
    }
}
