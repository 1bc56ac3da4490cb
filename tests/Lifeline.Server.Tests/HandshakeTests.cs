using System.Net.WebSockets;
using System.Text;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests;

/// <summary>hello/welcome and every bad input of the close-code table, each asserting the exact close code.</summary>
public sealed class HandshakeTests
{
    [Fact]
    public async Task Welcome_has_the_documented_shape()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.HeartbeatInterval = TimeSpan.FromSeconds(7);
            o.HeartbeatTimeout = TimeSpan.FromSeconds(3);
        });
        var (client, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _ = client;

        Assert.Equal("welcome", welcome.GetProperty("type").GetString());
        Assert.Equal(1, welcome.GetProperty("v").GetInt32());
        Assert.True(welcome.GetProperty("session").GetString()!.Length >= 22, "session must carry >= 128 bits");
        Assert.False(string.IsNullOrEmpty(welcome.GetProperty("connection").GetString()));
        Assert.Equal(System.Text.Json.JsonValueKind.Null, welcome.GetProperty("user").ValueKind);
        Assert.False(welcome.GetProperty("resumed").GetBoolean());
        Assert.Equal(7000, welcome.GetProperty("heartbeat").GetProperty("intervalMs").GetInt64());
        Assert.Equal(3000, welcome.GetProperty("heartbeat").GetProperty("timeoutMs").GetInt64());
        Assert.Equal(120000, welcome.GetProperty("resumeWindowMs").GetInt64());
    }

    [Fact]
    public async Task Sessions_differ_between_connections()
    {
        await using var server = await TestServer.StartAsync();
        var (a, wa) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        var (b, wb) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _ = a;
        await using var __ = b;
        Assert.NotEqual(wa.GetProperty("session").GetString(), wb.GetProperty("session").GetString());
        Assert.NotEqual(wa.GetProperty("connection").GetString(), wb.GetProperty("connection").GetString());
    }

    [Fact]
    public async Task Dev_authenticator_takes_the_token_as_user()
    {
        await using var server = await TestServer.StartAsync(authenticator: new TokenIsUserAuthenticator());
        var (client, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri, token: "alice");
        await using var _ = client;
        Assert.Equal("alice", welcome.GetProperty("user").GetString());
    }

    [Fact]
    public async Task Authenticator_refusal_closes_4001()
    {
        await using var server = await TestServer.StartAsync(services: s => s.AddSingleton<ILifelineAuthenticator>(new RefuseAll()));
        await using var client = await RawClient.ConnectAsync(server.WsUri);
        await client.SendJsonAsync(new { type = "hello", v = 1, token = "nope" });
        Assert.Equal(4001, (int?)await client.WaitForCloseAsync());
        Assert.Equal("bad token", client.CloseDescription);
    }

    [Fact]
    public async Task Binary_frame_closes_1003()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        await client.SendBytesAsync([1, 2, 3], WebSocketMessageType.Binary);
        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, await client.WaitForCloseAsync());
    }

    [Fact]
    public async Task Binary_frame_before_hello_closes_1003()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await RawClient.ConnectAsync(server.WsUri);
        await client.SendBytesAsync([0x7b, 0x7d], WebSocketMessageType.Binary);
        Assert.Equal(1003, (int?)await client.WaitForCloseAsync());
    }

    [Theory]
    [InlineData(new byte[] { 0xC3, 0x28 })] // invalid UTF-8 sequence
    [InlineData(new byte[] { 0x7B, 0x22, 0x74, 0xFF, 0x22, 0x7D })] // {"t\xFF"}
    public async Task Invalid_utf8_closes_1007(byte[] payload)
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        await client.SendBytesAsync(payload, WebSocketMessageType.Text);
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, await client.WaitForCloseAsync());
        var disconnect = (await WaitForOne(server)).CloseCode;
        Assert.Equal(1007, disconnect.Code);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2,3]")]
    [InlineData("\"a string\"")]
    [InlineData("42")]
    [InlineData("{\"type\":\"ping\",")]
    public async Task Text_that_is_not_a_json_object_closes_1007(string text)
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        await client.SendTextAsync(text);
        Assert.Equal(1007, (int?)await client.WaitForCloseAsync());
    }

    [Fact]
    public async Task Not_json_as_first_message_closes_1007()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await RawClient.ConnectAsync(server.WsUri);
        await client.SendTextAsync("hello?");
        Assert.Equal(1007, (int?)await client.WaitForCloseAsync());
    }

    [Fact]
    public async Task Message_over_the_size_limit_closes_1009()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxMessageSize = 1024);
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        await client.SendTextAsync("{\"type\":\"ping\",\"n\":1,\"pad\":\"" + new string('x', 2000) + "\"}");
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, await client.WaitForCloseAsync());
    }

    [Fact]
    public async Task Message_at_the_size_limit_is_accepted()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxMessageSize = 1024);
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        var head = "{\"type\":\"ping\",\"n\":5,\"pad\":\"";
        var text = head + new string('x', 1024 - head.Length - 2) + "\"}";
        Assert.Equal(1024, Encoding.UTF8.GetByteCount(text));
        await client.SendTextAsync(text);
        var pong = await client.ReceiveTypeAsync("pong");
        Assert.Equal(5, pong.GetProperty("n").GetInt64());
    }

    [Fact]
    public async Task First_message_not_hello_closes_1002()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await RawClient.ConnectAsync(server.WsUri);
        await client.SendJsonAsync(new { type = "ping", n = 1 });
        Assert.Equal(WebSocketCloseStatus.ProtocolError, await client.WaitForCloseAsync());
        Assert.Equal("hello_expected", client.CloseDescription);
    }

    [Theory]
    [InlineData("{\"type\":\"hello\",\"v\":2}", "unsupported_version")]
    [InlineData("{\"type\":\"hello\",\"v\":0}", "unsupported_version")]
    [InlineData("{\"type\":\"hello\"}", "bad_hello")]
    [InlineData("{\"type\":\"hello\",\"v\":\"1\"}", "bad_hello")]
    [InlineData("{\"type\":\"hello\",\"v\":1,\"token\":5}", "bad_hello")]
    [InlineData("{\"v\":1}", "hello_expected")]
    public async Task Bad_hello_closes_1002(string hello, string reason)
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await RawClient.ConnectAsync(server.WsUri);
        await client.SendTextAsync(hello);
        Assert.Equal(1002, (int?)await client.WaitForCloseAsync());
        Assert.Equal(reason, client.CloseDescription);
    }

    [Fact]
    public async Task Missing_hello_closes_1002_after_the_handshake_timeout()
    {
        await using var server = await TestServer.StartAsync(o => o.HandshakeTimeout = TimeSpan.FromMilliseconds(300));
        await using var client = await RawClient.ConnectAsync(server.WsUri);
        Assert.Equal(1002, (int?)await client.WaitForCloseAsync());
        Assert.Equal("hello_timeout", client.CloseDescription);
        Assert.Equal(0, server.Lifeline.ConnectionCount);
    }

    [Fact]
    public async Task Unknown_type_gets_an_error_and_the_connection_stays_open()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        await client.SendJsonAsync(new { type = "frobnicate", id = 9 });
        var error = await client.ReceiveTypeAsync("error");
        Assert.Equal("unknown_type", error.GetProperty("code").GetString());
        Assert.Equal(9, error.GetProperty("id").GetInt64());

        await client.SendJsonAsync(new { type = "ping", n = 77 });
        Assert.Equal(77, (await client.ReceiveTypeAsync("pong")).GetProperty("n").GetInt64());
    }

    [Theory]
    [InlineData("{\"id\":3}", "type must be a string")]
    [InlineData("{\"type\":7}", "type must be a string")]
    [InlineData("{\"type\":\"ping\"}", "ping.n must be a non-negative integer below 2^53")]
    [InlineData("{\"type\":\"publish\",\"id\":3,\"channel\":\"c\",\"patch\":[1]}", "publish.patch must be an object")]
    [InlineData("{\"type\":\"subscribe\",\"id\":-1,\"channel\":\"c\"}", "id must be a non-negative integer below 2^53")]
    public async Task Invalid_message_gets_invalid_message_and_the_connection_stays_open(string text, string message)
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        await client.SendTextAsync(text);
        var error = await client.ReceiveTypeAsync("error");
        Assert.Equal("invalid_message", error.GetProperty("code").GetString());
        Assert.Equal(message, error.GetProperty("message").GetString());
        Assert.Equal(WebSocketState.Open, client.Socket.State);
    }

    [Fact]
    public async Task Second_hello_is_an_error_not_a_close()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        await client.SendJsonAsync(new { type = "hello", v = 1, id = 4 });
        var error = await client.ReceiveTypeAsync("error");
        Assert.Equal("invalid_message", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Plain_http_request_gets_400()
    {
        await using var server = await TestServer.StartAsync();
        using var http = new HttpClient();
        var response = await http.GetAsync(new Uri($"http://127.0.0.1:{server.Port}/ws"));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
    }

    private static async Task<DisconnectedContext> WaitForOne(TestServer server)
    {
        await server.Disconnects.WaitForCountAsync(1);
        return server.Disconnects.Calls.Single();
    }

    private sealed class RefuseAll : ILifelineAuthenticator
    {
        public ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(AuthenticationResult.Fail("bad token"));
    }
}
