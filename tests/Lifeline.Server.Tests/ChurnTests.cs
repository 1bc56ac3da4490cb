using Lifeline.Engine;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Lifeline.Server.Tests;

/// <summary>
/// Abrupt churn (bench W4): connections that connect, say hello and vanish (TCP FIN, no close frame) must leave no
/// per-connection structure behind: not in the registry, the scheduler, the handshake count, the engine's connection
/// slots and user observers, the channels or the presence tables. The only thing a torn-down connection keeps is its
/// session record, one per connection, for the resume window (PROTOCOL.md "resume"), and that goes too once the
/// window has passed.
/// </summary>
public sealed class ChurnTests
{
    [Fact]
    public async Task Abrupt_churn_of_anonymous_user_and_subscribed_connections_leaves_only_sessions_then_nothing()
    {
        // Fake time: grace periods, the resume window and the session sweep move only when the test says so.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await TestServer.StartAsync(
            o => o.PresenceGracePeriod = TimeSpan.FromSeconds(5),
            s => s.AddSingleton<ILifelineAuthenticator, TokenIsUserAuthenticator>().AddSingleton<TimeProvider>(time));
        var runtime = server.Runtime;
        var engine = (MemoryEngine)runtime.Engine;
        const int Cycles = 600;
        const int Parallel = 4;

        await Task.WhenAll(Enumerable.Range(0, Parallel).Select(async worker =>
        {
            for (var i = worker; i < Cycles; i += Parallel)
            {
                // a third anonymous, a third users, a third users subscribed to one of five channels (presence joins)
                var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, token: i % 3 == 0 ? null : "user" + (i % 7));
                if (i % 3 == 2)
                {
                    await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room" + (i % 5) });
                    await client.ReceiveTypeAsync("snapshot");
                }

                client.Socket.Abort();
                client.Socket.Dispose();
            }
        })).WaitAsync(TimeSpan.FromMinutes(3));

        await server.Disconnects.WaitForCountAsync(Cycles, TimeSpan.FromMinutes(1));
        await TeardownTests.AssertEmptyAsync(server);
        await TeardownTests.WaitUntilAsync(() => runtime.Limits.IsEmpty && engine.SlotNameCount == 0 && engine.ObservedUserCount == 0);
        Assert.All(server.Disconnects.Calls, c => Assert.Equal(1006, c.CloseCode.Code));
        Assert.Equal(Cycles, engine.SessionCount); // one record per connection (stored at the hello, refreshed at teardown)

        // The presence leaves follow the grace period; then no channel is left anywhere.
        time.Advance(TimeSpan.FromSeconds(6));
        await TeardownTests.WaitUntilAsync(() => runtime.Presence.PendingLeaves == 0);
        Assert.Equal(0, runtime.Presence.MembershipCount);
        Assert.Equal(0, runtime.Hub.ChannelCount);
        Assert.Equal(0, engine.ChannelCount);

        // Past the resume window (and the session sweep's interval), the next session stored sweeps the expired ones.
        time.Advance(LifelineOptions.DefaultResumeWindow + TimeSpan.FromSeconds(31));
        var (last, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using (last)
        {
            Assert.Equal(1, engine.SessionCount);
        }
    }
}
