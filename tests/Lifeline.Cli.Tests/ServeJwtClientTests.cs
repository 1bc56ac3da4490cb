using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Lifeline.Cli.Commands;
using Lifeline.Cli.Tests.Infrastructure;
using Lifeline.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Xunit.Abstractions;

namespace Lifeline.Cli.Tests;

/// <summary>
/// Issue 14's proofs with the real .NET client against a real <c>lifeline serve --auth jwt</c> (an EC key written here,
/// 3-second tokens made here): refreshes keep a connection alive far past its first token; a provider that stops
/// refreshing gets 4002 at the expiry and the client comes back at once when the provider works again; an outage longer
/// than a token's life ends with the session resumed and every channel caught up.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class ServeJwtClientTests(RedisFixture redis, ITestOutputHelper output) : IDisposable
{
    // 5 s: a refresh at 80% leaves about a second for the provider, the round trip and a loaded CI host (3 s tokens left
    // 0.4 to 0.6 s, and a full CI=true run once saw a 4002 at 19 s).
    private static readonly TimeSpan TokenLife = TimeSpan.FromSeconds(5);
    private readonly TestJwtIssuer _issuer = new();

    public void Dispose() => _issuer.Dispose();

    [Fact]
    public async Task A_client_with_5_second_tokens_stays_connected_for_20_seconds_by_refreshing()
    {
        await using var app = await StartAsync(port: 0);
        var issued = 0;
        var options = new LifelineClientOptions
        {
            TokenProvider = _ =>
            {
                Interlocked.Increment(ref issued);
                return ValueTask.FromResult<string?>(Token("alice", TokenLife));
            },
        };
        await using var client = new LifelineClient(ServeAppTests.WsUri(app, "/ws"), options);
        var states = Record(client);
        await client.ConnectAsync().DefaultTimeout();
        var channel = client.Channel("room:refresh");
        await channel.SubscribeAsync().DefaultTimeout();

        // The subject of this test is elapsed time: four token lifetimes.
        await Task.Delay(TimeSpan.FromSeconds(20));

        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.Changed += (_, e) => changed.TrySetResult();
        await channel.PublishAsync(new JsonObject { ["still"] = "here" }).DefaultTimeout();
        await changed.Task.DefaultTimeout();

        output.WriteLine($"tokens issued: {issued}; state changes: {string.Join(", ", states.Select(s => $"{s.NewState}({s.Reason})"))}");
        Assert.Equal(ClientState.Open, client.State);
        Assert.DoesNotContain(states, s => s.NewState == ClientState.Reconnecting);
        Assert.InRange(issued, 4, 40); // 1 for the connect, then one refresh at 80% of each (4 to 6 s) lifetime: about 5
    }

    [Fact]
    public async Task A_provider_that_stops_refreshing_gets_4002_at_the_expiry_and_the_client_is_back_at_once_when_it_works_again()
    {
        await using var app = await StartAsync(port: 0);
        LifelineClient? client = null;
        DateTime? firstExpiry = null;
        var options = new LifelineClientOptions
        {
            // The provider "stops refreshing": while the connection is open it has nothing to give (null, a failed
            // refresh each time). Once the connection is lost it works again.
            TokenProvider = _ =>
            {
                if (client?.State == ClientState.Open)
                {
                    return ValueTask.FromResult<string?>(null);
                }

                var token = Token("alice", TokenLife);
                firstExpiry ??= new JsonWebToken(token).ValidTo; // exp is whole seconds
                return ValueTask.FromResult<string?>(token);
            },
            ReconnectPolicy = new FixedDelay(TimeSpan.FromSeconds(30)), // "at once" must not be the policy's doing
        };
        await using var lifeline = client = new LifelineClient(ServeAppTests.WsUri(app, "/ws"), options);
        var states = Record(client);
        var expired = new TaskCompletionSource<DateTime>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reopened = new TaskCompletionSource<DateTime>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.StateChanged += (_, e) =>
        {
            if (e.NewState == ClientState.Reconnecting && e.CloseCode == 4002)
            {
                expired.TrySetResult(DateTime.UtcNow);
            }
            else if (e.NewState == ClientState.Open && expired.Task.IsCompleted)
            {
                reopened.TrySetResult(DateTime.UtcNow);
            }
        };
        await client.ConnectAsync().DefaultTimeout();
        var session = client.Resumed;

        var closedAt = await expired.Task.DefaultTimeout();
        var backAt = await reopened.Task.DefaultTimeout();

        var expiry = firstExpiry!.Value;
        output.WriteLine($"4002 {(closedAt - expiry).TotalMilliseconds:F0} ms after exp; open again {(backAt - closedAt).TotalMilliseconds:F0} ms later");
        Assert.False(session);
        Assert.InRange(closedAt, expiry.AddMilliseconds(-150), expiry.AddSeconds(2)); // generous: the contract is exp + sweep + 100 ms
        Assert.True(backAt - closedAt < TimeSpan.FromSeconds(10), $"back after {backAt - closedAt}: the policy's 30 s, not at once");
        Assert.True(client.Resumed, "the session resumes after 4002");
        Assert.Single(states, s => s.CloseCode == 4002);
    }

    [Fact]
    public async Task An_outage_longer_than_the_token_life_ends_resumed_with_every_channel_caught_up()
    {
        var port = Lifeline.NetLab.FreePorts.Next();
        var app = await StartAsync(port, redis.Server.Configuration);
        var options = new LifelineClientOptions
        {
            TokenProvider = _ => ValueTask.FromResult<string?>(Token("alice", TokenLife)),
            ReconnectPolicy = new FixedDelay(TimeSpan.FromMilliseconds(500)),
        };
        await using var client = new LifelineClient(ServeAppTests.WsUri(app, "/ws"), options);
        var resumed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.StateChanged += (_, e) =>
        {
            if (e.NewState == ClientState.Open && e.OldState == ClientState.Reconnecting && client.Resumed)
            {
                resumed.TrySetResult();
            }
        };
        await client.ConnectAsync().DefaultTimeout();
        var name = "room:" + Guid.NewGuid().ToString("N");
        var channel = client.Channel(name);
        var seen = new ConcurrentQueue<long>();
        channel.Changed += (_, e) =>
        {
            if (!e.IsSnapshot)
            {
                seen.Enqueue(e.Offset);
            }
        };
        await channel.SubscribeAsync().DefaultTimeout();
        for (var i = 1; i <= 3; i++)
        {
            await channel.PublishAsync(new JsonObject { ["before"] = i }).DefaultTimeout();
        }

        // The server is gone for 10 s: longer than a token lifetime (5 to 6 s), twice over.
        await app.StopAsync();
        await app.DisposeAsync();
        await Task.Delay(TimeSpan.FromSeconds(10));
        app = await StartAsync(port, redis.Server.Configuration);
        await using var _ = app;
        var server = app.Services.GetRequiredService<Lifeline.Server.LifelineServer>();
        for (var i = 1; i <= 3; i++)
        {
            await server.PublishAsync(name, System.Text.Json.JsonDocument.Parse($$"""{"after":{{i}}}""").RootElement);
        }

        await resumed.Task.DefaultTimeout();
        await WaitUntilAsync(() => channel.Position?.Offset == 6);

        Assert.True(client.Resumed);
        Assert.Equal([1, 2, 3, 4, 5, 6], seen.Order().ToArray()); // each delta once, none missing
        Assert.Equal(3, channel.GetState().GetProperty("before").GetInt32());
        Assert.Equal(3, channel.GetState().GetProperty("after").GetInt32());
    }

    private async Task<WebApplication> StartAsync(int port, string? redisConfiguration = null)
    {
        var keyFile = await _issuer.WriteKeyFileAsync();
        List<string> args =
        [
            "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--auth", "jwt", "--jwt-key-file", keyFile,
            // A sweep every 50 ms (a twentieth of the shorter of the two); the 5 s timeout because this suite is about tokens,
            // not heartbeats: a 1 s timeout once closed a connection with 4000 under a full CI=true run.
            "--heartbeat-interval", "1s", "--heartbeat-timeout", "5s",
        ];
        if (redisConfiguration is not null)
        {
            args.AddRange(["--redis", redisConfiguration]);
        }

        var app = ServeCommand.BuildApp([.. args]).App;
        await app.StartAsync();
        return app;
    }

    /// <summary>A token of at least <paramref name="life"/> (<c>exp</c> is whole seconds: rounded up, 5 s lives 5 to 6 s).</summary>
    private string Token(string sub, TimeSpan life) => _issuer.Token(sub, life, atLeast: true);

    private static ConcurrentQueue<StateChangedEventArgs> Record(LifelineClient client)
    {
        var states = new ConcurrentQueue<StateChangedEventArgs>();
        client.StateChanged += (_, e) => states.Enqueue(e);
        return states;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(50); // polling a client property, bounded
        }
    }

    private sealed class FixedDelay(TimeSpan delay) : IRetryPolicy
    {
        public TimeSpan? NextRetryDelay(RetryContext context) => delay;
    }
}
