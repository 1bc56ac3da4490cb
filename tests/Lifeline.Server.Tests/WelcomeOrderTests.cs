using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Lifeline.Server.Tests;

/// <summary>
/// PROTOCOL.md: the welcome is the first message a client receives. Issue 13 saw a <c>ping</c> arrive first under load:
/// the connection became Open before its welcome was queued and before its first ping was scheduled, and a heartbeat
/// sweep that ran in between queued a ping ahead of the welcome. These tests force that interleaving.
/// </summary>
public sealed class WelcomeOrderTests
{
    [Fact]
    public async Task Welcome_comes_first_even_when_a_sweep_with_a_ping_due_runs_the_moment_the_connection_opens()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await TestServer.StartAsync(
            o =>
            {
                o.HeartbeatInterval = TimeSpan.FromSeconds(1);
                o.HeartbeatTimeout = TimeSpan.FromSeconds(30);
            },
            services => services.AddSingleton<TimeProvider>(time));
        var swept = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Runtime.TestHooks.Opened = _ =>
        {
            // What a loaded host does by chance: the sweep runs, with the first ping due, as soon as the state is Open.
            time.Advance(TimeSpan.FromSeconds(2)); // past the jittered first ping ([interval/2, interval])
            server.Runtime.Scheduler.Sweep();
            swept.TrySetResult();
        };

        await using var client = await RawClient.ConnectAsync(server.WsUri);
        await client.SendJsonAsync(new { type = "hello", v = 1 });
        var first = await client.ReceiveAsync();
        var second = await client.ReceiveAsync();
        await swept.Task.WaitAsync(TestTimeouts.Default);

        Assert.Equal("welcome", first!.Value.GetProperty("type").GetString());
        Assert.Equal("ping", second!.Value.GetProperty("type").GetString());
        Assert.Equal(1, second.Value.GetProperty("n").GetInt64());
    }

    [Fact]
    public async Task A_sweep_while_the_hello_is_being_handled_sends_no_ping_before_the_welcome()
    {
        // The authenticator holds the hello while sweeps run with pings long overdue: a Handshaking connection gets no ping.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var inAuthenticator = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAsync(
            o =>
            {
                o.HeartbeatInterval = TimeSpan.FromSeconds(1);
                o.HeartbeatTimeout = TimeSpan.FromSeconds(30);
                o.HandshakeTimeout = TimeSpan.FromMinutes(5);
            },
            services =>
            {
                services.AddSingleton<TimeProvider>(time);
                services.AddSingleton<ILifelineAuthenticator>(new GatedAuthenticator(inAuthenticator, release.Task));
            });

        await using var client = await RawClient.ConnectAsync(server.WsUri);
        await client.SendJsonAsync(new { type = "hello", v = 1 });
        await inAuthenticator.Task.WaitAsync(TestTimeouts.Default);
        for (var i = 0; i < 5; i++)
        {
            time.Advance(TimeSpan.FromSeconds(2));
            server.Runtime.Scheduler.Sweep();
        }

        release.SetResult();
        var first = await client.ReceiveAsync();
        Assert.Equal("welcome", first!.Value.GetProperty("type").GetString());
    }

    private sealed class GatedAuthenticator(TaskCompletionSource entered, Task release) : ILifelineAuthenticator
    {
        public async ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken)
        {
            entered.TrySetResult();
            await release.WaitAsync(cancellationToken);
            return AuthenticationResult.Success("alice");
        }
    }
}
