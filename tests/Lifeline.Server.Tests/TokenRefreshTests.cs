using System.Net.WebSockets;
using System.Text.Json;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Lifeline.Server.Tests;

/// <summary>
/// Issue 14, server side: <c>welcome.tokenExpiresInMs</c>, <c>refresh</c> on a live connection, and the expiry of live
/// connections on the heartbeat sweep (close 4002), on fake time. The authenticator here reads tokens as
/// <c>user@seconds</c>: valid for that many seconds from now on the server's clock (a negative number: already expired).
/// </summary>
public sealed class TokenRefreshTests
{
    [Fact]
    public async Task Welcome_carries_the_time_left_on_the_token_and_nothing_when_it_does_not_expire()
    {
        var (server, _) = await StartAsync();
        await using var _s = server;

        var (client, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice@60");
        await using var _c = client;
        Assert.Equal(60_000, welcome.GetProperty("tokenExpiresInMs").GetInt64());

        var (other, plain) = await RawClient.ConnectAndHelloAsync(server.WsUri, "bob");
        await using var _o = other;
        Assert.False(plain.TryGetProperty("tokenExpiresInMs", out _));
    }

    [Fact]
    public async Task Hello_with_an_expired_token_closes_4002_and_a_refused_one_4001()
    {
        var (server, _) = await StartAsync();
        await using var _s = server;

        var expired = await RawClient.ConnectAsync(server.WsUri);
        await using var _e = expired;
        await expired.SendJsonAsync(new { type = "hello", v = 1, token = "alice@-1" });
        Assert.Equal(4002, (int)(await expired.WaitForCloseAsync())!);
        Assert.Equal("token_expired", expired.CloseDescription);

        var refused = await RawClient.ConnectAsync(server.WsUri);
        await using var _r = refused;
        await refused.SendJsonAsync(new { type = "hello", v = 1, token = "bad" });
        Assert.Equal(4001, (int)(await refused.WaitForCloseAsync())!);
    }

    [Fact]
    public async Task The_sweep_closes_a_connection_with_4002_at_its_expiry_and_not_before()
    {
        var (server, time) = await StartAsync();
        await using var _s = server;
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice@10");
        await using var _c = client;

        time.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromMilliseconds(1));
        server.Runtime.Scheduler.Sweep();
        await AssertOpenAsync(client, 1);

        time.Advance(TimeSpan.FromMilliseconds(1));
        server.Runtime.Scheduler.Sweep();
        Assert.Equal(4002, (int)(await client.WaitForCloseAsync())!);
        Assert.Equal("token_expired", client.CloseDescription);
        var closed = await server.Disconnects.WaitForAsync(_ => true);
        Assert.Equal(DisconnectInitiator.Server, closed.Initiator);
        Assert.Equal(4002, closed.CloseCode.Code);
    }

    [Fact]
    public async Task A_successful_refresh_moves_the_expiry()
    {
        var (server, time) = await StartAsync();
        await using var _s = server;
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice@10");
        await using var _c = client;

        time.Advance(TimeSpan.FromSeconds(8));
        await client.SendJsonAsync(new { type = "refresh", id = 6, token = "alice@20" });
        var reply = await client.ReceiveTypeAsync("reply");
        Assert.Equal(6, reply.GetProperty("id").GetInt64());
        Assert.True(reply.GetProperty("ok").GetBoolean());
        Assert.Equal(20_000, reply.GetProperty("tokenExpiresInMs").GetInt64());

        time.Advance(TimeSpan.FromSeconds(12)); // 20 s: past the first token's expiry
        server.Runtime.Scheduler.Sweep();
        await AssertOpenAsync(client, 7);

        time.Advance(TimeSpan.FromSeconds(8)); // 28 s: the refreshed token's expiry
        server.Runtime.Scheduler.Sweep();
        Assert.Equal(4002, (int)(await client.WaitForCloseAsync())!);
    }

    [Theory]
    [InlineData("bob@60", "another user")]
    [InlineData("alice@-1", "an expired token")]
    [InlineData("bad", "a refused token")]
    public async Task A_refused_refresh_answers_forbidden_and_keeps_the_old_expiry(string token, string what)
    {
        _ = what;
        var (server, time) = await StartAsync();
        await using var _s = server;
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice@10");
        await using var _c = client;

        await client.SendJsonAsync(new { type = "refresh", id = 6, token });
        AssertForbidden(await client.ReceiveTypeAsync("reply"), 6);

        time.Advance(TimeSpan.FromSeconds(9));
        server.Runtime.Scheduler.Sweep();
        await AssertOpenAsync(client, 7);
        time.Advance(TimeSpan.FromSeconds(1));
        server.Runtime.Scheduler.Sweep();
        Assert.Equal(4002, (int)(await client.WaitForCloseAsync())!);
    }

    [Fact]
    public async Task A_refresh_can_give_an_anonymous_connection_nothing_and_a_connection_without_expiry_one()
    {
        var (server, time) = await StartAsync();
        await using var _s = server;
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _c = client;

        await client.SendJsonAsync(new { type = "refresh", id = 1, token = "alice@5" });
        Assert.Equal(5000, (await client.ReceiveTypeAsync("reply")).GetProperty("tokenExpiresInMs").GetInt64());
        time.Advance(TimeSpan.FromSeconds(5));
        server.Runtime.Scheduler.Sweep();
        Assert.Equal(4002, (int)(await client.WaitForCloseAsync())!);
    }

    [Fact]
    public async Task A_refresh_to_a_sooner_expiry_is_enforced_at_that_expiry()
    {
        var (server, time) = await StartAsync();
        await using var _s = server;
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice@60");
        await using var _c = client;

        // A pass now plans the connection's next tick at its first ping or its expiry (60 s), whichever is sooner;
        // the refresh must bring it forward (the scheduler only visits connections that are due).
        server.Runtime.Scheduler.Sweep();
        await client.SendJsonAsync(new { type = "refresh", id = 6, token = "alice@5" });
        Assert.Equal(5000, (await client.ReceiveTypeAsync("reply")).GetProperty("tokenExpiresInMs").GetInt64());

        time.Advance(TimeSpan.FromSeconds(5));
        server.Runtime.Scheduler.Sweep();
        Assert.Equal(4002, (int)(await client.WaitForCloseAsync())!);
    }

    [Fact]
    public async Task Refresh_tokens_are_never_logged()
    {
        var (server, _) = await StartAsync();
        await using var _s = server;
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice@10");
        await using var _c = client;
        const string accepted = "alice@600";
        const string refused = "mallory@601";
        await client.SendJsonAsync(new { type = "refresh", id = 1, token = accepted });
        Assert.True((await client.ReceiveTypeAsync("reply")).GetProperty("ok").GetBoolean());
        await client.SendJsonAsync(new { type = "refresh", id = 2, token = refused });
        AssertForbidden(await client.ReceiveTypeAsync("reply"), 2);

        Assert.Contains(server.Logs.Entries, e => e.EventName == "TokenRefresh");
        foreach (var entry in server.Logs.Entries)
        {
            foreach (var secret in new[] { accepted, refused })
            {
                Assert.DoesNotContain(secret, entry.Message, StringComparison.Ordinal);
                Assert.DoesNotContain(entry.State.Values, v => v?.ToString()?.Contains(secret, StringComparison.Ordinal) == true);
            }
        }
    }

    public static TheoryData<string> HostileJwtRefreshes() => ["garbage", "another_user", "expired", "alg_none", "wrong_signature", "huge"];

    [Theory]
    [MemberData(nameof(HostileJwtRefreshes))]
    public async Task Hostile_jwt_refreshes_are_answered_forbidden_and_harm_no_connection(string name)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var hs = new { alg = "HS256", typ = "JWT" };
        string Token(string sub, long exp) => SecurityTests.Jwt(hs, new { sub, exp });
        var signed = Token("alice", now + 600).Split('.');
        var none = Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(new { alg = "none", typ = "JWT" })).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var token = name switch
        {
            "garbage" => "not a token \u0000 at all",
            "another_user" => Token("bob", now + 600),
            "expired" => Token("alice", now - 600),
            "alg_none" => none + "." + signed[1] + ".",
            "wrong_signature" => SecurityTests.Jwt(hs, new { sub = "alice", exp = now + 600 }, new byte[32]),
            _ => new string('a', 9000),
        };

        await using var server = await TestServer.StartAsync(services: s => s.AddSingleton<ILifelineAuthenticator>(
            new JwtTokenAuthenticator(new JwtTokenOptions { SigningKey = SecurityTests.JwtKey })));
        var (bystander, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, Token("carol", now + 600));
        await using var _b = bystander;
        var (client, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri, Token("alice", now + 600));
        await using var _c = client;
        var before = welcome.GetProperty("tokenExpiresInMs").GetInt64();
        Assert.InRange(before, 590_000, 600_000);

        await client.SendJsonAsync(new { type = "refresh", id = 6, token });
        AssertForbidden(await client.ReceiveTypeAsync("reply", TestTimeouts.Default), 6);
        await AssertOpenAsync(client, 7);
        await AssertOpenAsync(bystander, 1);

        // and the connection can still refresh properly
        await client.SendJsonAsync(new { type = "refresh", id = 8, token = Token("alice", now + 1200) });
        var ok = await client.ReceiveTypeAsync("reply");
        Assert.True(ok.GetProperty("ok").GetBoolean(), ok.GetRawText());
        Assert.InRange(ok.GetProperty("tokenExpiresInMs").GetInt64(), 1_190_000, 1_200_000);
        Assert.Equal(0, server.Disconnects.Count);
    }

    internal static void AssertForbidden(JsonElement reply, long id)
    {
        Assert.Equal(id, reply.GetProperty("id").GetInt64());
        Assert.False(reply.GetProperty("ok").GetBoolean());
        Assert.Equal("forbidden", reply.GetProperty("error").GetProperty("code").GetString());
        Assert.False(reply.TryGetProperty("tokenExpiresInMs", out _));
    }

    /// <summary>The connection still answers requests.</summary>
    internal static async Task AssertOpenAsync(RawClient client, long id)
    {
        await client.SendJsonAsync(new { type = "presence", id, channel = "room:1" });
        var reply = await client.ReceiveAnyAsync(m => m.GetProperty("type").GetString() == "reply" && m.GetProperty("id").GetInt64() == id);
        Assert.True(reply.GetProperty("ok").GetBoolean());
    }

    private static async Task<(TestServer Server, FakeTimeProvider Time)> StartAsync()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var server = await TestServer.StartAsync(
            o =>
            {
                o.HeartbeatInterval = TimeSpan.FromMinutes(10); // no ping falls due while the tests move time
                o.HeartbeatTimeout = TimeSpan.FromMinutes(1);
            },
            services =>
            {
                services.AddSingleton<TimeProvider>(time);
                services.AddSingleton<ILifelineAuthenticator>(new ExpiringTokenAuthenticator(time));
            });
        return (server, time);
    }

    /// <summary><c>user@seconds</c>: the user, valid for that many seconds from now (negative: expired); <c>bad</c> refused; else the user with no expiry.</summary>
    private sealed class ExpiringTokenAuthenticator(TimeProvider time) : ILifelineAuthenticator
    {
        public ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken)
        {
            var token = context.Token ?? string.Empty;
            if (token == "bad")
            {
                return ValueTask.FromResult(AuthenticationResult.Fail("bad_token"));
            }

            var at = token.IndexOf('@', StringComparison.Ordinal);
            if (at < 0)
            {
                return ValueTask.FromResult(AuthenticationResult.Success(token));
            }

            var seconds = int.Parse(token[(at + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            return ValueTask.FromResult(seconds <= 0
                ? AuthenticationResult.Expired()
                : AuthenticationResult.Success(token[..at]) with { ExpiresAt = time.GetUtcNow().AddSeconds(seconds) });
        }
    }
}
