using System.Collections.Concurrent;
using System.Text.Json;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Lifeline.Client.Tests;

/// <summary>
/// Token providers, refresh ahead of expiry and close 4002 (issue 14), on fake time against the scripted server: the
/// server's side (refresh replies, 4002 at expiry) is played by the test.
/// </summary>
public class TokenTests : ClientTestBase
{
    private const long LongHeartbeat = 600_000;

    /// <summary>A token provider whose answers the test decides by call number (1-based), counting its calls.</summary>
    private sealed class TokenScript(Func<int, ValueTask<string?>> answer)
    {
        private int _calls;

        public TokenScript()
            : this(n => ValueTask.FromResult<string?>($"tok-{n}"))
        {
        }

        public int Calls => Volatile.Read(ref _calls);

        public ConcurrentBag<string> Issued { get; } = [];

        public Func<CancellationToken, ValueTask<string?>> Provider => async _ =>
        {
            var token = await answer(Interlocked.Increment(ref _calls));
            if (token is not null)
            {
                Issued.Add(token);
            }

            return token;
        };
    }

    private sealed class ErrorRecorder
    {
        private readonly ConcurrentQueue<LifelineErrorEventArgs> _errors = new();

        public ErrorRecorder(LifelineClient client) => client.Error += (_, e) => _errors.Enqueue(e);

        public IReadOnlyList<LifelineErrorEventArgs> All => [.. _errors];
    }

    private async Task<(ScriptedPeer Peer, JsonElement Hello)> ConnectWithExpiryAsync(LifelineClient client, long? tokenExpiresInMs)
    {
        var connect = client.ConnectAsync();
        var peer = await Server.AcceptAsync();
        var hello = await peer.HandshakeAsync(intervalMs: LongHeartbeat, tokenExpiresInMs: tokenExpiresInMs);
        await connect.DefaultTimeout();
        return (peer, hello);
    }

    private static long LongValue(LogEntry entry, string name) => Convert.ToInt64(entry.Values[name], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Waits until <paramref name="count"/> entries named by any of <paramref name="names"/> were logged.</summary>
    private static async Task WaitForCountAsync(TestLogger logger, int count, params string[] names)
    {
        var until = DateTime.UtcNow + TestTimeouts.Default;
        while (names.Sum(logger.CountOf) < count)
        {
            Assert.True(DateTime.UtcNow < until, $"timed out waiting for {count} of {string.Join('/', names)}");
            await Task.Delay(10);
        }
    }

    private static void AssertNoTokenLogged(TestLogger logger, TokenScript tokens)
    {
        foreach (var entry in logger.Entries)
        {
            var text = entry.Message + " " + string.Join(' ', entry.Values.Values) + " " + entry.Exception;
            foreach (var token in tokens.Issued)
            {
                Assert.DoesNotContain(token, text, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Refresh_IsDueAt80Percent_OrAt30sBeforeTheExpiry_AndFollowsEachRepliesLifetime()
    {
        var time = NewFakeTime();
        var logger = new TestLogger();
        var tokens = new TokenScript();
        var client = CreateClient(
            o =>
            {
                o.TimeProvider = time;
                o.TokenProvider = tokens.Provider;
            },
            logger);
        var (peer, hello) = await ConnectWithExpiryAsync(client, tokenExpiresInMs: 3_000);
        Assert.Equal("tok-1", hello.GetProperty("token").GetString());

        // A 3 s token: at 2.4 s (80%; 30 s before is impossible), not a millisecond earlier.
        var scheduled = await logger.WaitForAsync("TokenRefreshScheduled");
        Assert.Equal(2_400, LongValue(scheduled, "DueMs"));
        time.Advance(TimeSpan.FromMilliseconds(2_399));
        await AssertStaysFalseAsync(() => tokens.Calls > 1, "refreshed before 80% of the lifetime");
        time.Advance(TimeSpan.FromMilliseconds(1));
        var refresh = await peer.ExpectAsync("refresh");
        Assert.Equal("tok-2", refresh.GetProperty("token").GetString());
        await peer.SendAsync(new ReplyMessage(refresh.GetProperty("id").GetInt64(), true) { TokenExpiresInMs = 60_000 });

        // A 60 s token (from the reply): 30 s before the expiry comes before 80% (48 s).
        scheduled = await logger.WaitForAsync("TokenRefreshScheduled", 2);
        Assert.Equal(30_000, LongValue(scheduled, "DueMs"));
        time.Advance(TimeSpan.FromMilliseconds(29_999));
        await AssertStaysFalseAsync(() => tokens.Calls > 2, "refreshed a 60 s token before 30 s before its expiry");
        time.Advance(TimeSpan.FromMilliseconds(1));
        refresh = await peer.ExpectAsync("refresh");
        Assert.Equal("tok-3", refresh.GetProperty("token").GetString());
        await peer.SendAsync(new ReplyMessage(refresh.GetProperty("id").GetInt64(), true) { TokenExpiresInMs = 3_600_000 });

        // A 1 h token: 80% (48 min) comes first.
        scheduled = await logger.WaitForAsync("TokenRefreshScheduled", 3);
        Assert.Equal(2_880_000, LongValue(scheduled, "DueMs"));

        Assert.Equal(ClientState.Open, client.State);
        Assert.Equal(1, Server.ConnectionCount);
        Assert.Equal(2, logger.CountOf("TokenRefreshed"));
        AssertNoTokenLogged(logger, tokens);
    }

    [Fact]
    public async Task FailedRefresh_ProviderThrowsOrServerRefuses_IsReportedAndRetriedWithBackoff_BeforeTheExpiry()
    {
        var time = NewFakeTime();
        var logger = new TestLogger();
        var tokens = new TokenScript(n => n == 2 ? throw new InvalidOperationException("vault down") : ValueTask.FromResult<string?>($"tok-{n}"));
        var client = CreateClient(
            o =>
            {
                o.TimeProvider = time;
                o.TokenProvider = tokens.Provider;
                o.ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(200));
            },
            logger);
        var errors = new ErrorRecorder(client);
        var (peer, _) = await ConnectWithExpiryAsync(client, tokenExpiresInMs: 3_000);
        await logger.WaitForAsync("TokenRefreshScheduled");
        time.Advance(TimeSpan.FromMilliseconds(2_400));

        // Try 1: the provider throws. Reported with its exception; next try in 200 ms (600 ms before the expiry).
        var failed = await logger.WaitForAsync("TokenRefreshFailed");
        Assert.Equal(200, LongValue(failed, "DelayMs"));
        Assert.Equal(600, LongValue(failed, "RemainingMs"));
        var first = Assert.Single(errors.All);
        Assert.Equal(LifelineErrorEventArgs.TokenRefreshFailed, first.Code);
        Assert.Equal("vault down", Assert.IsType<InvalidOperationException>(first.Exception).Message);

        time.Advance(TimeSpan.FromMilliseconds(199));
        await AssertStaysFalseAsync(() => tokens.Calls > 2, "retried before the backoff delay");
        time.Advance(TimeSpan.FromMilliseconds(1));

        // Try 2: the server refuses the token.
        var refresh = await peer.ExpectAsync("refresh");
        Assert.Equal("tok-3", refresh.GetProperty("token").GetString());
        await peer.SendAsync(new ReplyMessage(refresh.GetProperty("id").GetInt64(), false) { Error = new ErrorInfo(ErrorCodes.Forbidden, "another user") });
        failed = await logger.WaitForAsync("TokenRefreshFailed", 2);
        Assert.Equal(200, LongValue(failed, "DelayMs"));
        Assert.Equal(400, LongValue(failed, "RemainingMs"));
        Assert.Equal(ErrorCodes.Forbidden, failed.Values["Code"]);
        Assert.Equal(2, errors.All.Count);
        Assert.Equal(ErrorCodes.Forbidden, Assert.IsType<LifelineRequestException>(errors.All[1].Exception).ErrorCode);

        // Try 3: accepted; the next refresh is scheduled from the reply's lifetime.
        time.Advance(TimeSpan.FromMilliseconds(200));
        refresh = await peer.ExpectAsync("refresh");
        Assert.Equal("tok-4", refresh.GetProperty("token").GetString());
        await peer.SendAsync(new ReplyMessage(refresh.GetProperty("id").GetInt64(), true) { TokenExpiresInMs = 3_000 });
        var scheduled = await logger.WaitForAsync("TokenRefreshScheduled", 2);
        Assert.Equal(2_400, LongValue(scheduled, "DueMs"));
        Assert.Equal(2, LongValue(await logger.WaitForAsync("TokenRefreshed"), "Failures"));
        Assert.Equal(ClientState.Open, client.State);
        AssertNoTokenLogged(logger, tokens);
    }

    [Fact]
    public async Task Close4002_ReconnectsAtOnceWithAFreshToken_ThenBacksOff_AndResumesSessionAndChannels()
    {
        var time = NewFakeTime();
        var logger = new TestLogger();
        var tokens = new TokenScript();
        var policy = RecordingPolicy.Fixed(TimeSpan.FromSeconds(5));
        var client = CreateClient(
            o =>
            {
                o.TimeProvider = time;
                o.TokenProvider = tokens.Provider;
                o.ReconnectPolicy = policy;
            },
            logger);
        var states = new StateRecorder(client);
        var received = 0;
        client.ServerMessageReceived += (_, _) => Interlocked.Increment(ref received);
        var (peer, _) = await ConnectWithExpiryAsync(client, tokenExpiresInMs: 3_000);

        // A channel at offset 5 and a publish the server will not acknowledge before it closes.
        var channel = client.Channel("room:1");
        var changes = 0;
        channel.Changed += (_, _) => Interlocked.Increment(ref changes);
        var subscribe = channel.SubscribeAsync();
        var request = await peer.ExpectAsync("subscribe");
        await peer.SendPackedAsync(
            new SubscribedMessage(request.GetProperty("id").GetInt64(), "room:1", "e1", 5, false),
            new SnapshotMessage("room:1", "e1", 5, JsonDocument.Parse("""{"n":5}""").RootElement.Clone()));
        await subscribe.DefaultTimeout();
        var publish = channel.PublishAsync(new System.Text.Json.Nodes.JsonObject { ["n"] = 6 });
        var published = await peer.ExpectAsync("publish");

        // Every refresh is refused until none fits before the expiry.
        await logger.WaitForAsync("TokenRefreshScheduled");
        time.Advance(TimeSpan.FromMilliseconds(2_400));
        for (var tries = 1; ; tries++)
        {
            var refresh = await peer.ExpectAsync("refresh");
            await peer.SendAsync(new ReplyMessage(refresh.GetProperty("id").GetInt64(), false) { Error = new ErrorInfo(ErrorCodes.Forbidden, "no") });
            await WaitForCountAsync(logger, tries, "TokenRefreshFailed", "TokenRefreshGaveUp");
            if (logger.CountOf("TokenRefreshGaveUp") == 1)
            {
                break;
            }

            time.Advance(TimeSpan.FromMilliseconds(LongValue(await logger.WaitForAsync("TokenRefreshFailed", tries), "DelayMs")));
        }

        // The refresh tries were spaced by the reconnect policy too, with their own reason.
        var refreshDecisions = policy.CallCount;
        Assert.All(policy.Calls, c => Assert.Equal("token_refresh_failed", c.Context.Reason));
        Assert.Equal(Enumerable.Range(0, refreshDecisions).ToArray(), policy.Calls.Select(c => c.Context.PreviousRetryCount).ToArray());
        var providerCallsBefore = tokens.Calls;
        await peer.CloseAsync(4002, "token_expired");

        // At once (no time passes), with a fresh token, resuming the session; the policy is not asked.
        var second = await Server.AcceptAsync();
        var hello = await second.ExpectAsync("hello");
        Assert.Equal($"tok-{providerCallsBefore + 1}", hello.GetProperty("token").GetString());
        Assert.Equal("s1", hello.GetProperty("resume").GetString());
        Assert.Equal(refreshDecisions, policy.CallCount);
        var reconnecting = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal(4002, reconnecting.CloseCode);
        Assert.Equal("token_expired", reconnecting.Reason);

        // That token is already expired too: now the usual backoff (the immediate attempt counted as one).
        await second.CloseAsync(4002, "token_expired");
        var scheduled = await logger.WaitForAsync("ReconnectScheduled", 2);
        Assert.Equal(5_000, LongValue(scheduled, "DelayMs"));
        var decision = Assert.Single(policy.Calls.Skip(refreshDecisions));
        Assert.Equal(1, decision.Context.PreviousRetryCount);
        Assert.Equal(4002, decision.Context.CloseCode);
        time.Advance(TimeSpan.FromMilliseconds(4_999));
        await AssertStaysFalseAsync(() => Server.ConnectionCount > 2, "a second immediate attempt after 4002");
        time.Advance(TimeSpan.FromMilliseconds(1));

        // The third attempt: a fresh token again, the session resumed, the channel caught up from offset 5 and the
        // publish re-sent with its key.
        var third = await Server.AcceptAsync();
        hello = await third.ExpectAsync("hello");
        Assert.Equal($"tok-{providerCallsBefore + 2}", hello.GetProperty("token").GetString());
        Assert.Equal("s1", hello.GetProperty("resume").GetString());
        await third.SendAsync(new WelcomeMessage("s1", "c3", "u1", true, new HeartbeatInfo(LongHeartbeat, 5_000), 120_000) { TokenExpiresInMs = 3_000 });
        var resubscribe = await third.ExpectAsync("subscribe");
        Assert.Equal("e1", resubscribe.GetProperty("since").GetProperty("epoch").GetString());
        Assert.Equal(5, resubscribe.GetProperty("since").GetProperty("offset").GetInt64());
        await third.SendAsync(new SubscribedMessage(resubscribe.GetProperty("id").GetInt64(), "room:1", "e1", 5, true));
        var resent = await third.ExpectAsync("publish");
        Assert.Equal(published.GetProperty("key").GetString(), resent.GetProperty("key").GetString());
        await third.SendPackedAsync(
            new DeltaMessage("room:1", 6, JsonDocument.Parse("""{"n":6}""").RootElement.Clone(), 1),
            new ReplyMessage(resent.GetProperty("id").GetInt64(), true) { Offset = 6 });
        Assert.Equal(6, await publish.DefaultTimeout());
        await states.WaitForStateAsync(ClientState.Open, from: 2);
        Assert.Equal("""{"n":6}""", channel.GetState().GetRawText());

        // One provider call per attempt; handlers attached once fire once per message on the third socket; and only
        // the third connection's refresh loop runs (one refresh at 2.4 s).
        Assert.Equal(providerCallsBefore + 2, tokens.Calls);
        Assert.Equal(3, Server.ConnectionCount);
        Assert.Equal(2, Volatile.Read(ref changes)); // the snapshot at 5, the delta at 6
        var receivedBefore = Volatile.Read(ref received);
        await third.SendAsync(new ServerPing(1));
        await third.ExpectAsync("pong");
        Assert.Equal(receivedBefore + 1, Volatile.Read(ref received));
        // The first connection scheduled once (then gave up); the third connection's loop is the second.
        await logger.WaitForAsync("TokenRefreshScheduled", 2);
        time.Advance(TimeSpan.FromMilliseconds(2_400));
        var lastRefresh = await third.ExpectAsync("refresh");
        Assert.Equal($"tok-{providerCallsBefore + 3}", lastRefresh.GetProperty("token").GetString());
        await third.SendAsync(new ReplyMessage(lastRefresh.GetProperty("id").GetInt64(), true) { TokenExpiresInMs = 3_000 });
        await logger.WaitForAsync("TokenRefreshScheduled", 3);
        await AssertStaysFalseAsync(() => tokens.Calls > providerCallsBefore + 3, "a second refresh loop on the same connection");
        AssertNoTokenLogged(logger, tokens);
    }

    [Fact]
    public async Task ProviderThatThrowsOrReturnsNull_IsAFailedAttempt_ReportedWithTheException_AndRetriedWithBackoff()
    {
        var time = NewFakeTime();
        var logger = new TestLogger();
        var tokens = new TokenScript(n => n switch
        {
            1 => throw new InvalidOperationException("vault down"),
            2 => ValueTask.FromResult<string?>(null),
            _ => ValueTask.FromResult<string?>("good-token"),
        });
        var policy = RecordingPolicy.Fixed(TimeSpan.FromSeconds(1));
        var client = CreateClient(
            o =>
            {
                o.TimeProvider = time;
                o.TokenProvider = tokens.Provider;
                o.ReconnectPolicy = policy;
            },
            logger);
        var states = new StateRecorder(client);
        var errors = new ErrorRecorder(client);
        var connect = client.ConnectAsync();

        // Attempt 1: the provider throws. No socket is opened; the state change and the Error event carry the exception.
        var reconnecting = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal("token_provider_failed", reconnecting.Reason);
        Assert.Null(reconnecting.CloseCode);
        Assert.Equal("vault down", Assert.IsType<InvalidOperationException>(reconnecting.Exception).Message);
        await logger.WaitForAsync("ReconnectScheduled");
        var error = Assert.Single(errors.All);
        Assert.Equal(LifelineErrorEventArgs.TokenProviderFailed, error.Code);
        Assert.Same(reconnecting.Exception, error.Exception);
        Assert.Equal(0, Server.ConnectionCount);

        // Attempt 2 (after the policy's delay): null. Still reported, still retried; the client stays Reconnecting.
        time.Advance(TimeSpan.FromSeconds(1));
        await logger.WaitForAsync("ReconnectScheduled", 2);
        Assert.Equal(2, errors.All.Count);
        Assert.Equal(LifelineErrorEventArgs.TokenProviderFailed, errors.All[1].Code);
        Assert.Contains("null", Assert.IsType<LifelineException>(errors.All[1].Exception).Message, StringComparison.Ordinal);
        Assert.Equal([0, 1], policy.Calls.Select(c => c.Context.PreviousRetryCount).ToArray());
        Assert.All(policy.Calls, c => Assert.Equal("token_provider_failed", c.Context.Reason));
        Assert.Equal(0, Server.ConnectionCount);
        Assert.Equal(ClientState.Reconnecting, client.State);

        // Attempt 3: a token; the first connection opens and ConnectAsync completes.
        time.Advance(TimeSpan.FromSeconds(1));
        var peer = await Server.AcceptAsync();
        var hello = await peer.HandshakeAsync();
        Assert.Equal("good-token", hello.GetProperty("token").GetString());
        await connect.DefaultTimeout();
        Assert.Equal(3, tokens.Calls);
        Assert.Equal(1, Server.ConnectionCount);
        Assert.Equal(2, logger.CountOf("TokenProviderFailed"));
        Assert.DoesNotContain(logger.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
        AssertNoTokenLogged(logger, tokens);
    }

    [Fact]
    public async Task ProviderThatNeverAnswers_FailsTheAttemptAfterConnectTimeout()
    {
        var time = NewFakeTime();
        var calls = 0;
        var client = CreateClient(o =>
        {
            o.TimeProvider = time;
            o.ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.FromSeconds(1));
            o.TokenProvider = _ => Interlocked.Increment(ref calls) == 1
                ? new ValueTask<string?>(new TaskCompletionSource<string?>().Task) // ignores its cancellation token
                : ValueTask.FromResult<string?>("late");
        });
        var states = new StateRecorder(client);
        var connect = client.ConnectAsync();
        var until = DateTime.UtcNow + TestTimeouts.Default;
        while (Volatile.Read(ref calls) == 0)
        {
            Assert.True(DateTime.UtcNow < until, "the provider was never called");
            await Task.Delay(10);
        }

        await AssertStaysFalseAsync(() => Volatile.Read(ref calls) != 1 || client.State != ClientState.Connecting, "the hung provider was not waited for");

        time.Advance(LifelineClientOptions.DefaultConnectTimeout);
        var reconnecting = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal("token_provider_failed", reconnecting.Reason);
        Assert.IsType<LifelineException>(reconnecting.Exception);

        time.Advance(TimeSpan.FromSeconds(1));
        var peer = await Server.AcceptAsync();
        Assert.Equal("late", (await peer.HandshakeAsync()).GetProperty("token").GetString());
        await connect.DefaultTimeout();
    }

    [Fact]
    public async Task Close4002AtTheFirstHello_IsRetriedAtOnce_AndConnectAsyncCompletes()
    {
        var time = NewFakeTime();
        var tokens = new TokenScript();
        var policy = RecordingPolicy.Fixed(TimeSpan.FromHours(1));
        var client = CreateClient(o =>
        {
            o.TimeProvider = time;
            o.TokenProvider = tokens.Provider;
            o.ReconnectPolicy = policy;
        });
        var connect = client.ConnectAsync();
        var first = await Server.AcceptAsync();
        Assert.Equal("tok-1", (await first.ExpectAsync("hello")).GetProperty("token").GetString());
        await first.CloseAsync(4002, "token_expired");

        // No time passes and the policy (one hour) is not asked: the fresh token goes out at once.
        var second = await Server.AcceptAsync();
        Assert.Equal("tok-2", (await second.HandshakeAsync()).GetProperty("token").GetString());
        await connect.DefaultTimeout();
        Assert.Equal(0, policy.CallCount);
        Assert.Equal(2, tokens.Calls);
    }

    [Fact]
    public async Task FixedToken_IsNotRefreshed_AndIsSentAgainAfter4002()
    {
        var time = NewFakeTime();
        var logger = new TestLogger();
        var client = CreateClient(
            o =>
            {
                o.TimeProvider = time;
                o.Token = "fixed-token";
            },
            logger);
        var (peer, hello) = await ConnectWithExpiryAsync(client, tokenExpiresInMs: 3_000);
        Assert.Equal("fixed-token", hello.GetProperty("token").GetString());
        await logger.WaitForAsync("TokenNotRefreshable");
        Assert.Equal(0, logger.CountOf("TokenRefreshScheduled"));

        await peer.CloseAsync(4002, "token_expired");
        var second = await Server.AcceptAsync();
        Assert.Equal("fixed-token", (await second.HandshakeAsync()).GetProperty("token").GetString());
        Assert.DoesNotContain(logger.Entries, e => e.Message.Contains("fixed-token", StringComparison.Ordinal));
    }
}
