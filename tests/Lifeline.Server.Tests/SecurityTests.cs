using System.Net.WebSockets;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Xunit;

namespace Lifeline.Server.Tests;

/// <summary>Issue 9: origin check, limits, authentication, session-token secrecy.</summary>
[Collection(HostileInputCollection.Name)]
public sealed class SecurityTests : IAsyncLifetime
{
    // Each test holds the heavy-test gate: no test of this class overlaps the CPU-heavy load test (see HeavyTestGate).
    private IDisposable? _heavy;

    public async Task InitializeAsync() => _heavy = await HeavyTestGate.EnterAsync();

    public Task DisposeAsync()
    {
        _heavy?.Dispose();
        return Task.CompletedTask;
    }

    // ------------------------------------------------------------------ origin

    [Fact]
    public async Task Foreign_origin_gets_403_before_the_upgrade()
    {
        await using var server = await TestServer.StartAsync();
        var status = await RawClient.TryUpgradeAsync(server.WsUri, o => o.SetRequestHeader("Origin", "http://evil.example"));
        Assert.Equal(403, status);
        Assert.Equal(0, server.Lifeline.ConnectionCount);
        Assert.Single(server.Logs.Named("OriginRefused"));
    }

    [Theory]
    [InlineData("null")]
    [InlineData("http://127.0.0.1.evil.example")]
    [InlineData("https://127.0.0.1")]
    [InlineData("not a url")]
    public async Task Opaque_or_lookalike_origins_get_403(string origin)
    {
        await using var server = await TestServer.StartAsync();
        Assert.Equal(403, await RawClient.TryUpgradeAsync(server.WsUri, o => o.SetRequestHeader("Origin", origin)));
    }

    [Fact]
    public async Task Same_origin_and_no_origin_are_allowed()
    {
        await using var server = await TestServer.StartAsync();
        Assert.Equal(101, await RawClient.TryUpgradeAsync(server.WsUri, o => o.SetRequestHeader("Origin", $"http://127.0.0.1:{server.Port}")));
        Assert.Equal(101, await RawClient.TryUpgradeAsync(server.WsUri));
    }

    [Fact]
    public async Task Listed_origins_are_allowed_exact_or_with_any_port_and_others_refused()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.AllowedOrigins.Add("https://app.example.com");
            o.AllowedOrigins.Add("http://localhost:*");
        });
        Assert.Equal(101, await RawClient.TryUpgradeAsync(server.WsUri, o => o.SetRequestHeader("Origin", "https://app.example.com")));
        Assert.Equal(101, await RawClient.TryUpgradeAsync(server.WsUri, o => o.SetRequestHeader("Origin", "http://localhost:5173")));
        Assert.Equal(403, await RawClient.TryUpgradeAsync(server.WsUri, o => o.SetRequestHeader("Origin", "https://app.example.com:8443")));
        Assert.Equal(403, await RawClient.TryUpgradeAsync(server.WsUri, o => o.SetRequestHeader("Origin", "http://app.example.com")));
        Assert.Equal(403, await RawClient.TryUpgradeAsync(server.WsUri, o => o.SetRequestHeader("Origin", "https://localhost:5173")));
    }

    [Fact]
    public async Task Star_allows_every_origin_and_bad_entries_are_refused_at_start()
    {
        await using (var server = await TestServer.StartAsync(o => o.AllowedOrigins.Add("*")))
        {
            Assert.Equal(101, await RawClient.TryUpgradeAsync(server.WsUri, o => o.SetRequestHeader("Origin", "http://evil.example")));
        }

        await Assert.ThrowsAsync<OptionsValidationException>(() => TestServer.StartAsync(o => o.AllowedOrigins.Add("app.example.com")));
    }

    // ------------------------------------------------------------------ limits

    [Fact]
    public async Task Messages_over_the_rate_get_rate_limited_and_sustained_abuse_closes_1008()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.MaxMessagesPerSecond = 1;
            o.MessageBurst = 5;
            o.RateLimitAbuseThreshold = 6; // the 5 refusals below stay under it; the pings after cross it
        });
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _c = client;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 1; i <= 10; i++)
        {
            await client.SendJsonAsync(new { type = "presence", id = i, channel = "room:1" });
        }

        var replies = await client.ReceiveUntilAsync(r => r.Count(m => m.GetProperty("type").GetString() == "reply") == 10);
        var refilled = (int)Math.Ceiling(clock.Elapsed.TotalSeconds); // 1 token per second since the first message
        var ok = replies.Count(r => r.GetProperty("ok").GetBoolean());
        var limited = replies.Where(r => !r.GetProperty("ok").GetBoolean()).ToList();
        Assert.InRange(ok, 5, 5 + refilled); // the burst, plus what was refilled meanwhile
        Assert.All(limited, r => Assert.Equal("rate_limited", r.GetProperty("error").GetProperty("code").GetString()));
        Assert.True(limited.Count >= 10 - 5 - refilled, $"{limited.Count} refused in {clock.Elapsed}");

        // Keep going: past the abuse threshold the server closes with 1008.
        for (var i = 0; i < 10 && client.Socket.State == WebSocketState.Open; i++)
        {
            try
            {
                await client.SendJsonAsync(new { type = "ping", n = i });
            }
            catch (WebSocketException)
            {
                break;
            }
        }

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await client.WaitForCloseAsync());
        Assert.Equal("rate_limit_abused", client.CloseDescription);
    }

    [Fact]
    public async Task Subscriptions_over_the_limit_get_limit_exceeded_and_a_resync_still_works()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxSubscriptionsPerConnection = 2);
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _c = client;
        await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = "a" });
        await client.ReceiveTypeAsync("subscribed");
        await client.SendJsonAsync(new { type = "subscribe", id = 2, channel = "b" });
        await client.ReceiveTypeAsync("subscribed");
        await client.SendJsonAsync(new { type = "subscribe", id = 3, channel = "c" });
        var refused = await client.ReceiveTypeAsync("reply");
        Assert.Equal(3, refused.GetProperty("id").GetInt64());
        Assert.False(refused.GetProperty("ok").GetBoolean());
        Assert.Equal("limit_exceeded", refused.GetProperty("error").GetProperty("code").GetString());
        await client.SendJsonAsync(new { type = "subscribe", id = 4, channel = "a" });
        Assert.Equal(4, (await client.ReceiveTypeAsync("subscribed")).GetProperty("id").GetInt64());
    }

    [Fact]
    public async Task Connections_per_user_over_the_limit_close_1008_and_the_count_is_released()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxConnectionsPerUser = 2, s => s.AddSingleton<ILifelineAuthenticator, TokenIsUserAuthenticator>());
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _a = a;
        var (b, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _b = b;
        var (other, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "bob");
        await using var _o = other;

        var third = await RawClient.ConnectAsync(server.WsUri);
        await using var _t = third;
        await third.SendJsonAsync(new { type = "hello", v = 1, token = "alice" });
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await third.WaitForCloseAsync());
        Assert.Equal("too_many_connections", third.CloseDescription);

        await a.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await server.Disconnects.WaitForCountAsync(1);
        var (again, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _g = again;
        Assert.Equal("alice", welcome.GetProperty("user").GetString());
    }

    [Fact]
    public async Task Connections_per_address_over_the_limit_close_1008()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxConnectionsPerAddress = 2);
        var (a, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _a = a;
        var (b, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _b = b;
        var third = await RawClient.ConnectAsync(server.WsUri);
        await using var _t = third;
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await third.WaitForCloseAsync());
        Assert.Equal("too_many_connections", third.CloseDescription);
        Assert.Single(server.Logs.Named("TooManyConnections"));
    }

    [Fact]
    public async Task Pending_handshakes_over_the_limit_get_503_until_one_says_hello()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxPendingHandshakes = 2);
        var a = await RawClient.ConnectAsync(server.WsUri);
        await using var _a = a;
        var b = await RawClient.ConnectAsync(server.WsUri);
        await using var _b = b;
        Assert.Equal(503, await RawClient.TryUpgradeAsync(server.WsUri));
        await a.HelloAsync();
        var c = await RawClient.ConnectAsync(server.WsUri);
        await using var _c = c;
        await c.HelloAsync();
        Assert.Equal(1, server.Runtime.Limits.PendingHandshakes);
    }

    [Fact]
    public async Task Json_deeper_than_MaxJsonDepth_closes_1007()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxJsonDepth = 4);
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _c = client;
        await client.SendJsonAsync(new { type = "publish", id = 1, channel = "a", patch = new { x = new { y = new { z = 1 } } } }); // depth 4: fine
        Assert.True((await client.ReceiveTypeAsync("reply")).GetProperty("ok").GetBoolean());
        await client.SendJsonAsync(new { type = "publish", id = 2, channel = "a", patch = new { x = new { y = new { z = new { w = 1 } } } } });
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, await client.WaitForCloseAsync());
    }

    [Fact]
    public async Task Patch_over_MaxPatchSize_gets_limit_exceeded_and_is_not_applied()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxPatchSize = 100);
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _c = client;
        await client.SendJsonAsync(new { type = "publish", id = 1, channel = "a", patch = new { big = new string('x', 100) } });
        var reply = await client.ReceiveTypeAsync("reply");
        Assert.Equal("limit_exceeded", reply.GetProperty("error").GetProperty("code").GetString());
        await client.SendJsonAsync(new { type = "subscribe", id = 2, channel = "a" });
        var snapshot = await client.ReceiveTypeAsync("snapshot");
        Assert.Equal("{}", snapshot.GetProperty("state").GetRawText());
    }

    [Fact]
    public async Task Channel_names_too_long_or_with_bad_characters_get_invalid_channel()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxChannelNameLength = 8);
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _c = client;
        var id = 0;
        foreach (var name in new[] { "123456789", "a b", "a\u0007", "é" })
        {
            await client.SendJsonAsync(new { type = "subscribe", id = ++id, channel = name });
            var reply = await client.ReceiveTypeAsync("reply");
            Assert.Equal("invalid_channel", reply.GetProperty("error").GetProperty("code").GetString());
        }

        await client.SendJsonAsync(new { type = "subscribe", id = ++id, channel = "12345678" });
        await client.ReceiveTypeAsync("subscribed");
    }

    [Fact]
    public async Task Permessage_deflate_is_never_negotiated()
    {
        await using var server = await TestServer.StartAsync();
        var client = await RawClient.ConnectAsync(server.WsUri, o => o.DangerousDeflateOptions = new WebSocketDeflateOptions());
        await using var _c = client;
        Assert.NotNull(client.Socket.HttpResponseHeaders);
        Assert.DoesNotContain(client.Socket.HttpResponseHeaders!, h => h.Key.Equals("Sec-WebSocket-Extensions", StringComparison.OrdinalIgnoreCase));
        await client.HelloAsync();
    }

    // ------------------------------------------------------------------ authorization per channel

    [Theory]
    [InlineData("subscribe")]
    [InlineData("publish")]
    [InlineData("presence")]
    public async Task Channel_policy_refusals_answer_forbidden_for_each_operation(string operation)
    {
        await using var server = await TestServer.StartAsync(services: s => s.AddSingleton<IChannelPolicy>(new DenyPolicy(Enum.Parse<ChannelOperation>(operation, ignoreCase: true))));
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _c = client;
        await client.SendJsonAsync(new { type = operation, id = 7, channel = "secret", patch = new { a = 1 } });
        var reply = await client.ReceiveTypeAsync("reply");
        Assert.Equal(7, reply.GetProperty("id").GetInt64());
        Assert.False(reply.GetProperty("ok").GetBoolean());
        Assert.Equal("forbidden", reply.GetProperty("error").GetProperty("code").GetString());
    }

    private sealed class DenyPolicy(ChannelOperation denied) : IChannelPolicy
    {
        public ValueTask<ChannelDecision> DecideAsync(ChannelRequest request, CancellationToken cancellationToken) =>
            ValueTask.FromResult(request.Operation == denied ? ChannelDecision.Forbid("no") : ChannelDecision.Allow);
    }

    // ------------------------------------------------------------------ authentication

    [Fact]
    public async Task HttpContext_user_from_the_apps_authentication_becomes_the_lifeline_user()
    {
        await using var server = await TestServer.StartAsync(services: s =>
        {
            s.AddAuthentication(HeaderAuthHandler.SchemeName).AddScheme<AuthenticationSchemeOptions, HeaderAuthHandler>(HeaderAuthHandler.SchemeName, null);
            s.AddSingleton<ILifelineAuthenticator, HttpContextUserAuthenticator>();
        });
        var client = await RawClient.ConnectAsync(server.WsUri, o => o.SetRequestHeader(HeaderAuthHandler.Header, "alice"));
        await using var _c = client;
        var welcome = await client.HelloAsync(token: "mallory"); // hello.token is ignored
        Assert.Equal("alice", welcome.GetProperty("user").GetString());

        var anonymous = await RawClient.ConnectAsync(server.WsUri);
        await using var _a = anonymous;
        await anonymous.SendJsonAsync(new { type = "hello", v = 1 });
        Assert.Equal(4001, (int)(await anonymous.WaitForCloseAsync())!);
        Assert.Equal("unauthorized", anonymous.CloseDescription);
    }

    private sealed class HeaderAuthHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string SchemeName = "TestHeader";
        public const string Header = "X-Test-User";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (Request.Headers[Header].ToString() is not { Length: > 0 } user)
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var identity = new ClaimsIdentity([new Claim("sub", user)], SchemeName);
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
        }
    }

    internal static readonly byte[] JwtKey = SHA256.HashData("lifeline-test-key"u8.ToArray());

    internal static string Jwt(object header, object payload, byte[]? key = null)
    {
        static string B64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var head = B64(JsonSerializer.SerializeToUtf8Bytes(header));
        var body = B64(JsonSerializer.SerializeToUtf8Bytes(payload));
        var signature = B64(HMACSHA256.HashData(key ?? JwtKey, Encoding.ASCII.GetBytes(head + "." + body)));
        return head + "." + body + "." + signature;
    }

    public static TheoryData<string, string?> JwtCases()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var hs = new { alg = "HS256", typ = "JWT" };
        var good = new { sub = "alice", aud = "lifeline", iss = "issuer", exp = now + 600 };
        var data = new TheoryData<string, string?>
        {
            { Jwt(hs, good), null },
            { Jwt(hs, new { sub = "alice", aud = new[] { "other", "lifeline" }, iss = "issuer", exp = now + 600 }), null },
            { Jwt(hs, new { sub = "alice", aud = "lifeline", iss = "issuer", exp = now - 600 }), "token_expired" },
            { Jwt(hs, new { sub = "alice", aud = "other", iss = "issuer", exp = now + 600 }), "invalid_token" },
            { Jwt(hs, new { sub = "alice", aud = "lifeline", iss = "someone-else", exp = now + 600 }), "invalid_token" },
            { Jwt(hs, new { sub = "alice", aud = "lifeline", iss = "issuer" }), "invalid_token" }, // no exp
            { Jwt(hs, new { sub = "alice", aud = "lifeline", iss = "issuer", exp = now + 600, nbf = now + 300 }), "invalid_token" },
            { Jwt(hs, good, SHA256.HashData("another-key"u8.ToArray())), "invalid_token" }, // wrong signature
            { Jwt(new { alg = "HS384" }, good), "invalid_token" },
            { Jwt(hs, new { aud = "lifeline", iss = "issuer", exp = now + 600 }), "invalid_token" }, // no sub
            { "not.a.jwt", "invalid_token" },
            { "", "invalid_token" }, // no token at all: refused (AllowAnonymous is off)
        };

        // alg=none: unsigned (empty signature) and with the original signature kept.
        var noneHeader = Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(new { alg = "none" })).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var signed = Jwt(hs, good).Split('.');
        data.Add(noneHeader + "." + signed[1] + ".", "invalid_token");
        data.Add(noneHeader + "." + signed[1] + "." + signed[2], "invalid_token");
        return data;
    }

    [Theory]
    [MemberData(nameof(JwtCases))]
    public async Task Jwt_tokens_are_validated_and_refusals_close_4001_or_4002_when_expired(string token, string? refusal)
    {
        await using var server = await TestServer.StartAsync(services: s => s.AddSingleton<ILifelineAuthenticator>(
            new JwtTokenAuthenticator(new JwtTokenOptions { SigningKey = JwtKey, Audience = "lifeline", Issuer = "issuer", ClockSkew = TimeSpan.FromSeconds(5) })));
        var client = await RawClient.ConnectAsync(server.WsUri);
        await using var _c = client;
        await client.SendJsonAsync(new { type = "hello", v = 1, token = token.Length == 0 ? null : token });
        if (refusal is null)
        {
            Assert.Equal("alice", (await client.ReceiveTypeAsync("welcome")).GetProperty("user").GetString());
            return;
        }

        Assert.Equal(refusal == "token_expired" ? 4002 : 4001, (int)(await client.WaitForCloseAsync())!);
        Assert.Equal(refusal, client.CloseDescription);
    }

    [Fact]
    public async Task Dotnet_client_does_not_retry_after_a_jwt_refusal()
    {
        await using var server = await TestServer.StartAsync(services: s => s.AddSingleton<ILifelineAuthenticator>(
            new JwtTokenAuthenticator(new JwtTokenOptions { SigningKey = JwtKey })));
        var client = await RawClient.ConnectAsync(server.WsUri);
        await using var _c = client;
        await client.SendJsonAsync(new { type = "hello", v = 1, token = "forged" });
        Assert.Equal(4001, (int)(await client.WaitForCloseAsync())!);
        Assert.False(Protocol.CloseCode.FromCode(4001).ShouldReconnect);
    }

    // ------------------------------------------------------------------ session tokens

    [Fact]
    public async Task Session_tokens_are_never_logged_across_connect_and_resume()
    {
        await using var server = await TestServer.StartAsync(authenticator: new TokenIsUserAuthenticator());
        var (first, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        var session = welcome.GetProperty("session").GetString()!;
        Assert.True(Base64UrlLength(session) >= 16, "at least 128 bits");
        await first.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room:1" });
        await first.ReceiveTypeAsync("subscribed");
        await first.DisposeAsync(); // abnormal end: the session stays resumable
        await server.Disconnects.WaitForCountAsync(1);

        var second = await RawClient.ConnectAsync(server.WsUri);
        await using var _s = second;
        var resumed = await second.HelloAsync("alice", session);
        Assert.True(resumed.GetProperty("resumed").GetBoolean());
        await second.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await server.Disconnects.WaitForCountAsync(2);

        Assert.NotEmpty(server.Logs.Entries);
        foreach (var entry in server.Logs.Entries)
        {
            Assert.DoesNotContain(session, entry.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(entry.State.Values, v => v?.ToString()?.Contains(session, StringComparison.Ordinal) == true);
            Assert.True(entry.Exception is null || !entry.Exception.ToString().Contains(session, StringComparison.Ordinal));
        }
    }

    private static int Base64UrlLength(string token) => token.Length * 6 / 8;
}
