using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace Lifeline.Server.Tests;

/// <summary>
/// Issue 9: hostile input. Each named case sends one attack and asserts the exact reply or close code, then that a
/// bystander subscribed to <c>room:1</c> on the same server kept its connection and its state. Then a seeded fuzz run.
/// </summary>
[Collection(HostileInputCollection.Name)]
public sealed class HostileInputTests(ITestOutputHelper output) : IAsyncLifetime
{
    // Each test holds the heavy-test gate: no test of this class overlaps the CPU-heavy load test (see HeavyTestGate).
    private IDisposable? _heavy;

    public async Task InitializeAsync() => _heavy = await HeavyTestGate.EnterAsync();

    public Task DisposeAsync()
    {
        _heavy?.Dispose();
        return Task.CompletedTask;
    }

    private const string Room = "room:1";

    /// <summary>What the attacker must get back.</summary>
    private sealed record Expect(int? CloseCode = null, string? CloseReason = null, string? ErrorCode = null, string? OkType = null)
    {
        public static Expect Close(int code, string? reason = null) => new(CloseCode: code, CloseReason: reason);

        public static Expect Error(string code) => new(ErrorCode: code);

        public static Expect Ok(string type) => new(OkType: type);
    }

    /// <summary>One attack: frames sent (text unless binary), before or after the hello.</summary>
    private sealed record Case(Expect Expect, byte[][] Frames, bool BeforeHello = false, bool Binary = false);

    private static byte[] T(string text) => Encoding.UTF8.GetBytes(text);

    private static string Nest(int depth) => new string('[', depth) + new string(']', depth);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // malformed frames and payloads: 1007 / 1003 / 1009
        ["truncated_json"] = new(Expect.Close(1007), [T("{\"type\":\"ping\",\"n\":1")]),
        ["json_array"] = new(Expect.Close(1007), [T("[{\"type\":\"ping\",\"n\":1}]")]),
        ["json_string"] = new(Expect.Close(1007), [T("\"ping\"")]),
        ["json_number"] = new(Expect.Close(1007), [T("42")]),
        ["json_null"] = new(Expect.Close(1007), [T("null")]),
        ["empty_frame"] = new(Expect.Close(1007), [[]]),
        ["trailing_garbage"] = new(Expect.Close(1007), [T("{\"type\":\"ping\",\"n\":1}x")]),
        ["two_objects_in_one_frame"] = new(Expect.Close(1007), [T("{\"type\":\"ping\",\"n\":1}\n{\"type\":\"ping\",\"n\":2}")]),
        ["nan_literal"] = new(Expect.Close(1007), [T("{\"type\":\"ping\",\"n\":NaN}")]),
        ["single_quotes"] = new(Expect.Close(1007), [T("{'type':'ping','n':1}")]),
        ["comment"] = new(Expect.Close(1007), [T("{\"type\":\"ping\",/*x*/\"n\":1}")]),
        ["invalid_utf8_byte"] = new(Expect.Close(1007), [[.. T("{\"type\":\"ping\",\"n\":1,\"x\":\""), 0xFF, .. T("\"}")]]),
        ["overlong_utf8_encoding"] = new(Expect.Close(1007), [[.. T("{\"type\":\"ping\",\"n\":1,\"x\":\""), 0xC0, 0xAF, .. T("\"}")]]),
        ["utf8_encoded_surrogate"] = new(Expect.Close(1007), [[.. T("{\"type\":\"ping\",\"n\":1,\"x\":\""), 0xED, 0xA0, 0x80, .. T("\"}")]]),
        ["binary_frame"] = new(Expect.Close(1003), [T("{\"type\":\"ping\",\"n\":1}")], Binary: true),
        ["message_too_big"] = new(Expect.Close(1009), [T("{\"type\":\"ping\",\"n\":1,\"pad\":\"" + new string('x', LifelineOptions.DefaultMaxMessageSize) + "\"}")]),
        ["deep_nesting_10000"] = new(Expect.Close(1007), [T("{\"type\":\"ping\",\"n\":1,\"x\":" + Nest(10_000) + "}")]),
        ["deep_nesting_in_patch"] = new(Expect.Close(1007), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"patch\":{\"a\":" + Nest(40) + "}}")]),

        // handshake
        ["subscribe_before_hello"] = new(Expect.Close(1002, "hello_expected"), [T("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"room:1\"}")], BeforeHello: true),
        ["hello_version_2"] = new(Expect.Close(1002, "unsupported_version"), [T("{\"type\":\"hello\",\"v\":2}")], BeforeHello: true),
        ["hello_version_string"] = new(Expect.Close(1002, "bad_hello"), [T("{\"type\":\"hello\",\"v\":\"1\"}")], BeforeHello: true),
        ["hello_version_1e400"] = new(Expect.Close(1002, "bad_hello"), [T("{\"type\":\"hello\",\"v\":1e400}")], BeforeHello: true),
        ["hello_token_number"] = new(Expect.Close(1002, "bad_hello"), [T("{\"type\":\"hello\",\"v\":1,\"token\":5}")], BeforeHello: true),
        ["garbage_before_hello"] = new(Expect.Close(1007), [T("hello?")], BeforeHello: true),
        ["refresh_before_hello"] = new(Expect.Close(1002, "hello_expected"), [T("{\"type\":\"refresh\",\"id\":1,\"token\":\"alice\"}")], BeforeHello: true),
        ["second_hello"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"hello\",\"v\":1}")]),

        // wrong types, huge numbers
        ["unknown_type"] = new(Expect.Error("unknown_type"), [T("{\"type\":\"explode\",\"id\":5}")]),
        ["type_with_null_byte"] = new(Expect.Error("unknown_type"), [T("{\"type\":\"publish\\u0000\",\"id\":5}")]),
        ["missing_type"] = new(Expect.Error("invalid_message"), [T("{\"id\":1,\"channel\":\"room:1\"}")]),
        ["type_is_number"] = new(Expect.Error("invalid_message"), [T("{\"type\":7,\"id\":1}")]),
        ["type_is_object"] = new(Expect.Error("invalid_message"), [T("{\"type\":{\"x\":1},\"id\":1}")]),
        ["id_is_string"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"presence\",\"id\":\"1\",\"channel\":\"room:1\"}")]),
        ["id_2_pow_53"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"presence\",\"id\":9007199254740992,\"channel\":\"room:1\"}")]),
        ["id_1e400"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"presence\",\"id\":1e400,\"channel\":\"room:1\"}")]),
        ["id_negative"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"presence\",\"id\":-1,\"channel\":\"room:1\"}")]),
        ["id_fraction"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"presence\",\"id\":1.5,\"channel\":\"room:1\"}")]),
        ["ping_n_1e400"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"ping\",\"n\":1e400}")]),
        ["pong_n_negative"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"pong\",\"n\":-5}")]),
        ["since_offset_2_pow_53"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"room:1\",\"since\":{\"epoch\":\"e\",\"offset\":9007199254740992}}")]),
        ["since_offset_huge_integer"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"room:1\",\"since\":{\"epoch\":\"e\",\"offset\":123456789012345678901234567890}}")]),
        ["since_epoch_number"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"room:1\",\"since\":{\"epoch\":1,\"offset\":1}}")]),
        ["subscribe_without_id"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"subscribe\",\"channel\":\"room:1\"}")]),
        ["refresh_without_token"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"refresh\",\"id\":1}")]),
        ["refresh_token_number"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"refresh\",\"id\":1,\"token\":5}")]),
        ["refresh_token_null"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"refresh\",\"id\":1,\"token\":null}")]),
        ["refresh_token_object"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"refresh\",\"id\":1,\"token\":{\"sub\":\"alice\"}}")]),
        ["channel_is_array"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"subscribe\",\"id\":1,\"channel\":[\"room:1\"]}")]),

        // channel names
        ["channel_control_character"] = new(Expect.Error("invalid_channel"), [T("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"room\\u0007:1\"}")]),
        ["channel_null_byte"] = new(Expect.Error("invalid_channel"), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\\u0000\",\"patch\":{\"x\":1}}")]),
        ["channel_newline"] = new(Expect.Error("invalid_channel"), [T("{\"type\":\"presence\",\"id\":1,\"channel\":\"room:1\\n\"}")]),
        ["channel_empty"] = new(Expect.Error("invalid_channel"), [T("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"\"}")]),
        ["channel_too_long"] = new(Expect.Error("invalid_channel"), [T("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"" + new string('c', 129) + "\"}")]),
        ["channel_non_ascii"] = new(Expect.Error("invalid_channel"), [T("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"r\u00e4um\"}")]),
        ["patch_value_lone_surrogate"] = new(Expect.Close(1007), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"patch\":{\"b\":\"\\udc00\"}}")]),
        ["patch_key_lone_surrogate"] = new(Expect.Close(1007), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"patch\":{\"\\ud800\":1}}")]),
        ["channel_lone_surrogate_escape"] = new(Expect.Close(1007), [T("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"a\\ud800\"}")]),

        // publish
        ["patch_is_array"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"patch\":[1]}")]),
        ["patch_is_string"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"patch\":\"{}\"}")]),
        ["patch_missing"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\"}")]),
        ["patch_too_big"] = new(Expect.Error("limit_exceeded"), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"patch\":{\"x\":\"" + new string('x', 40_000) + "\"}}")]),
        ["overlong_key"] = new(Expect.Error("limit_exceeded"), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"key\":\"" + new string('k', 129) + "\",\"patch\":{\"x\":1}}")]),
        ["empty_key"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"key\":\"\",\"patch\":{\"x\":1}}")]),
        ["key_is_number"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"key\":5,\"patch\":{\"x\":1}}")]),
        ["if_is_string"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"patch\":{\"x\":1},\"if\":\"e:1\"}")]),
        ["if_offset_negative"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"patch\":{\"x\":1},\"if\":{\"epoch\":\"e\",\"offset\":-1}}")]),
        ["if_epoch_number"] = new(Expect.Error("invalid_message"), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"patch\":{\"x\":1},\"if\":{\"epoch\":1,\"offset\":1}}")]),
        ["if_epoch_lone_surrogate"] = new(Expect.Close(1007), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"patch\":{\"x\":1},\"if\":{\"epoch\":\"\\ud800\",\"offset\":1}}")]),
        ["if_forged_position_on_the_bystanders_channel"] = new(Expect.Error("conflict"), [T("{\"type\":\"publish\",\"id\":1,\"channel\":\"room:1\",\"patch\":{\"a\":666},\"if\":{\"epoch\":\"forged\",\"offset\":1}}")]),
        ["unsubscribe_not_subscribed"] = new(Expect.Error("not_subscribed"), [T("{\"type\":\"unsubscribe\",\"id\":1,\"channel\":\"room:1\"}")]),

        // accepted oddities: must not crash or corrupt anything
        ["unknown_members_ignored"] = new(Expect.Ok("pong"), [T("{\"type\":\"ping\",\"n\":3,\"evil\":{\"__proto__\":{\"x\":1}}}")]),
        ["duplicate_members"] = new(Expect.Ok("reply"), [T("{\"type\":\"presence\",\"id\":1,\"channel\":\"nope\",\"channel\":\"room:2\"}")]),
        ["null_bytes_in_unknown_member"] = new(Expect.Ok("pong"), [T("{\"type\":\"ping\",\"n\":3,\"x\":\"\\u0000\\u0000\"}")]),
    };

    /// <summary>Every case over both listeners: <c>MapLifeline</c>'s upgrade and the lean listener (<c>UseLifeline</c>).</summary>
    public static TheoryData<string, bool> CaseNames()
    {
        var data = new TheoryData<string, bool>();
        foreach (var name in Cases.Keys)
        {
            data.Add(name, false);
            data.Add(name, true);
        }

        return data;
    }

    [Fact]
    public void There_are_at_least_30_named_cases() => Assert.True(Cases.Count >= 30, $"{Cases.Count} cases");

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Hostile_input_gets_the_exact_answer_and_the_bystander_is_untouched(string name, bool lean)
    {
        var attack = Cases[name];
        await using var server = await TestServer.StartAsync(lean: lean);
        await using var bystander = await StartBystanderAsync(server);

        var attacker = await RawClient.ConnectAsync(server.WsUri);
        await using var _a = attacker;
        if (!attack.BeforeHello)
        {
            await attacker.HelloAsync();
        }

        foreach (var frame in attack.Frames)
        {
            await attacker.SendBytesAsync(frame, attack.Binary ? WebSocketMessageType.Binary : WebSocketMessageType.Text);
        }

        await AssertAnswerAsync(attacker, attack.Expect);
        await AssertBystanderUntouchedAsync(server, bystander);
    }

    [Fact]
    public async Task Forged_resume_token_starts_a_fresh_session_and_reveals_nothing()
    {
        await using var server = await TestServer.StartAsync(authenticator: new TokenIsUserAuthenticator());
        await using var bystander = await StartBystanderAsync(server, "victim");
        var victimSession = bystander.Session;
        foreach (var forged in new[] { "AAAAAAAAAAAAAAAAAAAAAAAA", new string('A', 10_000), "../../etc/passwd", "\u0000", victimSession })
        {
            var (attacker, _) = (await RawClient.ConnectAsync(server.WsUri), 0);
            await using var _a = attacker;
            var welcome = await attacker.HelloAsync("mallory", forged);
            Assert.False(welcome.GetProperty("resumed").GetBoolean());
            Assert.NotEqual(forged, welcome.GetProperty("session").GetString());
            Assert.Equal("mallory", welcome.GetProperty("user").GetString());
            Assert.DoesNotContain(victimSession, welcome.GetRawText(), StringComparison.Ordinal);
        }

        await AssertBystanderUntouchedAsync(server, bystander);
    }

    [Fact]
    public async Task Flood_gets_rate_limited_then_closed_1008_and_the_bystander_is_untouched()
    {
        await using var server = await TestServer.StartAsync();
        await using var bystander = await StartBystanderAsync(server);
        var (attacker, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _a = attacker;
        var reader = attacker.WaitForCloseAsync();
        var limit = LifelineOptions.DefaultMessageBurst + LifelineOptions.DefaultRateLimitAbuseThreshold + 2000;
        for (var i = 0; i < limit && !reader.IsCompleted; i++)
        {
            try
            {
                await attacker.SendTextAsync("{\"type\":\"ping\",\"n\":" + i + "}");
            }
            catch (WebSocketException)
            {
                break;
            }
        }

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await reader);
        Assert.Equal("rate_limit_abused", attacker.CloseDescription);
        await AssertBystanderUntouchedAsync(server, bystander);
    }

    [Fact]
    public async Task Seeded_fuzz_leaves_the_server_serving_bounded_and_leak_free()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("LIFELINE_FUZZ_SEED"), out var s) ? s : 20261128;
        var total = int.TryParse(Environment.GetEnvironmentVariable("LIFELINE_FUZZ_MESSAGES"), out var m) ? Math.Max(m, 100_000) : 100_000;
        output.WriteLine($"fuzz seed {seed} (override with LIFELINE_FUZZ_SEED), {total} messages");

        // The rate limit is lifted so that the fuzz reaches the parser and the handlers instead of the token bucket.
        await using var server = await TestServer.StartAsync(o =>
        {
            o.MaxMessagesPerSecond = 10_000_000;
            o.MessageBurst = 10_000_000;
        });
        await using (var warm = await StartBystanderAsync(server))
        {
            await AssertBystanderUntouchedAsync(server, warm);
        }

        await TeardownTests.AssertEmptyAsync(server);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var baseline = GC.GetTotalMemory(forceFullCollection: true);

        const int Workers = 8;
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var clock = Stopwatch.StartNew();
        var sent = await Task.WhenAll(Enumerable.Range(0, Workers).Select(w => FuzzWorkerAsync(server.WsUri, seed + w, total / Workers, deadline.Token)));
        output.WriteLine($"sent {sent.Sum(x => x.Sent)} messages over {sent.Sum(x => x.Connections)} connections in {clock.Elapsed}");
        Assert.True(sent.Sum(x => x.Sent) >= total, $"only {sent.Sum(x => x.Sent)} messages sent before the deadline (seed {seed})");

        // Still serving: a fresh client can hello, subscribe and publish.
        await using (var fresh = await StartBystanderAsync(server))
        {
            await AssertBystanderUntouchedAsync(server, fresh);
        }

        // No handler threw (a crash would close 1011 and log an error).
        var errors = server.Logs.Entries.Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error).ToList();
        Assert.True(errors.Count == 0, $"seed {seed}: {string.Join("; ", errors.Take(3).Select(e => e.Message + " " + e.Exception))}");
        Assert.DoesNotContain(server.Disconnects.Calls, c => c.CloseCode.Code == 1011);

        // Nothing leaked.
        await TeardownTests.AssertEmptyAsync(server);
        await TeardownTests.WaitUntilAsync(() => server.Runtime.Limits.IsEmpty && ((Lifeline.Engine.MemoryEngine)server.Runtime.Engine).SlotNameCount == 0);

        // Memory bounded: the fuzz channels' states and histories are bounded by the engine; allow 64 MiB over the baseline.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var after = GC.GetTotalMemory(forceFullCollection: true);
        output.WriteLine($"managed memory: baseline {baseline / 1024} KiB, after {after / 1024} KiB");
        Assert.True(after - baseline < 64L * 1024 * 1024, $"managed memory grew by {(after - baseline) / 1024} KiB (seed {seed})");
    }

    private static async Task<(int Sent, int Connections)> FuzzWorkerAsync(Uri uri, int seed, int count, CancellationToken ct)
    {
        var random = new Random(seed);
        var sent = 0;
        var connections = 0;
        while (sent < count && !ct.IsCancellationRequested)
        {
            var client = await RawClient.ConnectAsync(uri);
            connections++;
            await using var _c = client;
            var drain = DrainAsync(client, ct);
            try
            {
                await client.SendJsonAsync(new { type = "hello", v = 1 });
                // Up to a few hundred messages per connection; a fatal one (1007, 1009, 1003) ends it early.
                var burst = random.Next(50, 400);
                for (var i = 0; i < burst && sent < count && !drain.IsCompleted; i++)
                {
                    var (bytes, binary) = FuzzMessage(random);
                    await client.Socket.SendAsync(bytes, binary ? WebSocketMessageType.Binary : WebSocketMessageType.Text, true, ct);
                    sent++;
                }

                if (client.Socket.State == WebSocketState.Open)
                {
                    await client.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, ct);
                }
            }
            catch (Exception ex) when (ex is WebSocketException or IOException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
            {
                // the server closed it (a fatal message) and reset the socket; go on with a new connection
            }

            await drain;
        }

        return (sent, connections);
    }

    /// <summary>Reads and discards until the close (so the server never sees a slow consumer).</summary>
    private static async Task DrainAsync(RawClient client, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (client.Socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                var result = await client.Socket.ReceiveAsync(buffer, ct);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }
    }

    private static readonly string[] Types = ["ping", "pong", "subscribe", "unsubscribe", "publish", "presence", "hello", "zap", "", "PUBLISH"];
    private static readonly string[] Channels = ["fuzz:1", "fuzz:2", "fuzz:3", "", "a b", "x\u0000", new string('c', 200), "ä"];

    /// <summary>A mostly well-formed message with random members; about 1 in 50 is fatal (bad JSON, UTF-8, binary, deep).</summary>
    private static (byte[] Bytes, bool Binary) FuzzMessage(Random random)
    {
        var roll = random.Next(1000);
        if (roll < 5)
        {
            return (T("{\"type\":\"ping\""), false);
        }

        if (roll < 10)
        {
            return ([0x7B, 0xFF, 0xFE, 0x7D], false);
        }

        if (roll < 13)
        {
            return (T("{}"), true);
        }

        if (roll < 16)
        {
            return (T("{\"type\":\"ping\",\"n\":1,\"x\":" + Nest(random.Next(33, 200)) + "}"), false);
        }

        if (roll < 20)
        {
            var junk = new byte[random.Next(0, 64)];
            random.NextBytes(junk);
            return (junk, false);
        }

        var fields = new Dictionary<string, object?> { ["type"] = Types[random.Next(Types.Length)] };
        if (random.Next(4) != 0)
        {
            fields["id"] = RandomValue(random);
        }

        if (random.Next(5) != 0)
        {
            fields["channel"] = random.Next(4) == 0 ? RandomValue(random) : Channels[random.Next(Channels.Length)];
        }

        if (random.Next(3) == 0)
        {
            fields["n"] = RandomValue(random);
        }

        if (random.Next(2) == 0)
        {
            fields["patch"] = random.Next(3) == 0 ? RandomValue(random) : new Dictionary<string, object?> { ["k" + random.Next(20)] = RandomValue(random) };
        }

        if (random.Next(4) == 0)
        {
            fields["key"] = random.Next(2) == 0 ? "k" + random.Next(100) : RandomValue(random);
        }

        if (random.Next(6) == 0)
        {
            fields["since"] = new Dictionary<string, object?> { ["epoch"] = RandomValue(random), ["offset"] = RandomValue(random) };
        }

        if (random.Next(8) == 0)
        {
            fields["v"] = RandomValue(random);
        }

        return (JsonSerializer.SerializeToUtf8Bytes(fields), false);
    }

    private static object? RandomValue(Random random) => random.Next(12) switch
    {
        0 => null,
        1 => random.Next(2) == 0,
        2 => random.Next(-5, 50),
        3 => 9007199254740992L + random.Next(1000),
        4 => long.MaxValue,
        5 => random.NextDouble() * 1e300,
        6 => -0.5,
        7 => "s" + random.Next(10),
        8 => new string((char)random.Next(0, 0x2FF), random.Next(0, 40)),
        9 => new object?[] { 1, "two", null },
        10 => new Dictionary<string, object?> { ["nested"] = new Dictionary<string, object?> { ["x"] = random.Next() } },
        _ => new string('z', random.Next(100, 3000)),
    };

    // ------------------------------------------------------------------ helpers

    private sealed class Bystander(RawClient client, string session) : IAsyncDisposable
    {
        public RawClient Client { get; } = client;

        public string Session { get; } = session;

        public ValueTask DisposeAsync() => Client.DisposeAsync();
    }

    /// <summary>A client subscribed to room:1 whose state is {"a":1} at offset 1.</summary>
    private static async Task<Bystander> StartBystanderAsync(TestServer server, string? token = null)
    {
        var (client, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri, token);
        client.AutoPong = true;
        await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = Room });
        await client.ReceiveTypeAsync("subscribed");
        var snapshot = await client.ReceiveTypeAsync("snapshot");
        if (snapshot.GetProperty("offset").GetInt64() == 0)
        {
            await client.SendJsonAsync(new { type = "publish", id = 2, channel = Room, patch = new { a = 1 } });
            await client.ReceiveUntilAsync(r => r.Any(x => x.GetProperty("type").GetString() == "reply") && r.Any(x => x.GetProperty("type").GetString() == "delta"));
        }

        return new Bystander(client, welcome.GetProperty("session").GetString()!);
    }

    /// <summary>The bystander's connection is open, its publish round-trips, and room:1 holds exactly what it published.</summary>
    private static async Task AssertBystanderUntouchedAsync(TestServer server, Bystander bystander)
    {
        var client = bystander.Client;
        Assert.Equal(WebSocketState.Open, client.Socket.State);
        var marker = Guid.NewGuid().ToString("N");
        await client.SendJsonAsync(new { type = "publish", id = 99, channel = Room, patch = new { b = marker } });
        var got = await client.ReceiveUntilAsync(r =>
            r.Any(x => x.GetProperty("type").GetString() == "reply") && r.Any(x => x.GetProperty("type").GetString() == "delta"));
        var reply = got.First(x => x.GetProperty("type").GetString() == "reply");
        Assert.True(reply.GetProperty("ok").GetBoolean(), reply.GetRawText());
        Assert.DoesNotContain(got, x => x.GetProperty("type").GetString() is "error");

        var (probe, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _p = probe;
        await probe.SendJsonAsync(new { type = "subscribe", id = 1, channel = Room });
        var snapshot = await probe.ReceiveTypeAsync("snapshot");
        Assert.Equal($"{{\"a\":1,\"b\":\"{marker}\"}}", snapshot.GetProperty("state").GetRawText());
    }

    private static async Task AssertAnswerAsync(RawClient attacker, Expect expect)
    {
        if (expect.CloseCode is { } code)
        {
            Assert.Equal(code, (int?)await attacker.WaitForCloseAsync());
            if (expect.CloseReason is { } reason)
            {
                Assert.Equal(reason, attacker.CloseDescription);
            }

            return;
        }

        var message = await attacker.ReceiveAsync() ?? throw new InvalidOperationException($"closed: {attacker.CloseStatus} {attacker.CloseDescription}");
        var type = message.GetProperty("type").GetString();
        if (expect.OkType is { } okType)
        {
            Assert.Equal(okType, type);
            if (type == "reply")
            {
                Assert.True(message.GetProperty("ok").GetBoolean(), message.GetRawText());
            }
        }
        else
        {
            var actual = type switch
            {
                "error" => message.GetProperty("code").GetString(),
                "reply" when !message.GetProperty("ok").GetBoolean() => message.GetProperty("error").GetProperty("code").GetString(),
                _ => $"unexpected {message.GetRawText()}",
            };
            Assert.Equal(expect.ErrorCode, actual);
        }

        // The connection stays open after a recoverable error: a ping still gets its pong.
        await attacker.SendJsonAsync(new { type = "ping", n = 4242 });
        Assert.Equal(4242, (await attacker.ReceiveTypeAsync("pong")).GetProperty("n").GetInt64());
    }
}

/// <summary>
/// The security and hostile-input suites (the fuzz run saturates both cores for seconds) run alone, one test at a time, so that it neither starves the
/// timing-sensitive load tests of other classes nor is starved by them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HostileInputCollection
{
    public const string Name = "Hostile input (not parallel)";
}
