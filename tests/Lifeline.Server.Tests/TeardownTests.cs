using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using Lifeline.Protocol;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests;

/// <summary>The one teardown path: once per connection, whatever ends it; the socket never lingers.</summary>
public sealed class TeardownTests
{
    [Fact]
    public async Task Client_close_is_torn_down_once_with_the_clients_code()
    {
        await using var server = await TestServer.StartAsync();
        var (client, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _ = client;
        using var cts = new CancellationTokenSource(TestTimeouts.Default);
        await client.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);

        var disconnect = await server.Disconnects.WaitForAsync(welcome.GetProperty("connection").GetString()!);
        Assert.Equal(1000, disconnect.CloseCode.Code);
        Assert.Equal("bye", disconnect.Reason);
        Assert.Equal(DisconnectInitiator.Client, disconnect.Initiator);
        await AssertEmptyAsync(server);
        Assert.Single(server.Disconnects.Calls);
        Assert.Single(server.Logs.Named("ConnectionClosed"));
    }

    [Fact]
    public async Task Client_abort_without_close_frame_is_torn_down_once_as_1006()
    {
        await using var server = await TestServer.StartAsync();
        var (client, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        client.Socket.Abort();
        client.Socket.Dispose();

        var disconnect = await server.Disconnects.WaitForAsync(welcome.GetProperty("connection").GetString()!);
        Assert.Equal(1006, disconnect.CloseCode.Code);
        Assert.Equal(DisconnectInitiator.Network, disconnect.Initiator);
        await AssertEmptyAsync(server);
        Assert.Single(server.Disconnects.Calls);
    }

    [Fact]
    public async Task Disconnected_hook_that_throws_is_logged_and_teardown_completes()
    {
        var calls = 0;
        await using var server = await TestServer.StartAsync(
            o => o.Events.OnDisconnected = _ =>
            {
                Interlocked.Increment(ref calls);
                throw new InvalidOperationException("app bug");
            },
            expectedErrors: ["HookFailed"]);
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        client.Socket.Abort();

        await WaitUntilAsync(() => server.Logs.Named("ConnectionClosed").Any());
        Assert.Equal(1, calls);
        Assert.Single(server.Logs.Named("HookFailed"));
        await AssertEmptyAsync(server);
    }

    [Fact]
    public async Task Disconnected_hook_that_hangs_is_bounded_by_its_timeout()
    {
        var hookCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAsync(o =>
        {
            o.DisconnectedHookTimeout = TimeSpan.FromMilliseconds(200);
            o.Events.OnDisconnected = async ctx =>
            {
                ctx.CancellationToken.Register(() => hookCancelled.TrySetResult());
                await Task.Delay(Timeout.Infinite, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
            };
        },
        expectedErrors: ["HookTimedOut"]);
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        client.Socket.Abort();

        await hookCancelled.Task.WaitAsync(TestTimeouts.Default);
        await WaitUntilAsync(() => server.Logs.Named("ConnectionClosed").Any());
        Assert.Single(server.Logs.Named("HookTimedOut"));
        await AssertEmptyAsync(server);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the lean listener: the same reset, nothing left in the TCP table
    public async Task Client_that_stops_reading_while_the_server_sends_is_torn_down_on_time(bool lean)
    {
        var interval = TimeSpan.FromMilliseconds(300);
        var timeout = TimeSpan.FromMilliseconds(300);
        await using var server = await TestServer.StartAsync(o =>
        {
            o.HeartbeatInterval = interval;
            o.HeartbeatTimeout = timeout;
            o.SendQueueLimit = 1_000_000; // so that the heartbeat, not the slow-consumer bound, ends it
            o.CloseHandshakeTimeout = TimeSpan.FromSeconds(10); // a peer declared dead must not get this one
        }, lean: lean);
        var (client, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _ = client;
        var id = welcome.GetProperty("connection").GetString()!;
        var connection = server.Runtime.Registry.Find(id)!;
        var clientPort = connection.RemoteEndPoint!.Port;

        // 32 MiB queued: far beyond what the loopback socket buffers hold, so the server's send blocks.
        var chunk = Encoding.UTF8.GetBytes("{\"type\":\"filler\",\"x\":\"" + new string('x', 64 * 1024) + "\"}");
        for (var i = 0; i < 512; i++)
        {
            Assert.True(connection.Enqueue(chunk));
        }

        var clock = Stopwatch.StartNew();
        var disconnect = await server.Disconnects.WaitForAsync(id);
        var elapsed = clock.Elapsed;

        Assert.Equal(4000, disconnect.CloseCode.Code);
        // ping due within one interval, pong deadline one timeout later, then the close frame best-effort within
        // LifelineOptions.DeadPeerCloseTimeout (100 ms; the send is blocked, so it cannot go out), then the reset
        Assert.True(elapsed < interval + timeout + TimeSpan.FromSeconds(3), $"teardown took {elapsed}");
        Assert.Single(server.Logs.Named("ConnectionReset"));
        // By the server's own timestamps: from the heartbeat timeout to the end of teardown takes the short dead-peer
        // bound (plus scheduling), never the 10 s close handshake configured above.
        var detectedAt = At(Assert.Single(server.Logs.Named("HeartbeatTimeout")));
        await WaitUntilAsync(() => server.Logs.Named("ConnectionClosed").Any()); // logged just after the OnDisconnected hook returned
        var closedAt = At(Assert.Single(server.Logs.Named("ConnectionClosed")));
        Assert.True(closedAt - detectedAt < TimeSpan.FromSeconds(2), $"teardown after the heartbeat timeout took {(closedAt - detectedAt).TotalMilliseconds} ms");
        await WaitUntilAsync(() => !Lifeline.Server.TcpSocketTable.ForLocalPort(server.Port).Any(e => e.Remote.Port == clientPort));
        await AssertEmptyAsync(server);
    }

    [Fact]
    public async Task Heartbeat_timeout_racing_a_client_close_gives_one_teardown_and_one_hook_call()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(100);
            o.HeartbeatTimeout = TimeSpan.FromMilliseconds(100);
        });
        const int Connections = 30;
        var ids = new List<string>();
        var closes = new List<Task>();
        for (var i = 0; i < Connections; i++)
        {
            var (client, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri);
            var id = welcome.GetProperty("connection").GetString()!;
            ids.Add(id);
            var connection = server.Runtime.Registry.Find(id)!;
            // Both ends race: the server's own timeout path and the client's close frame, released together.
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            closes.Add(Task.Run(async () => { await go.Task; await connection.TeardownAsync(CloseCode.HeartbeatTimeout, DisconnectInitiator.Server); }));
            closes.Add(Task.Run(async () =>
            {
                await go.Task;
                try
                {
                    await client.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                    await client.WaitForCloseAsync();
                }
                catch (WebSocketException)
                {
                }
                finally
                {
                    await client.DisposeAsync();
                }
            }));
            go.SetResult();
        }

        await Task.WhenAll(closes).WaitAsync(TestTimeouts.Default);
        await server.Disconnects.WaitForCountAsync(Connections);
        await AssertEmptyAsync(server);
        Assert.Equal(Connections, server.Disconnects.Calls.Count);
        Assert.Equal(ids.Order(), server.Disconnects.Calls.Select(c => c.ConnectionId).Order());
        Assert.Equal(Connections, server.Logs.Named("ConnectionClosed").Count());
    }

    [Fact]
    public async Task Two_thousand_abrupt_connect_abort_cycles_leave_nothing_behind()
    {
        await using var server = await TestServer.StartAsync();
        const int Cycles = 2000;
        const int Parallel = 4;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Parallel).Select(async worker =>
        {
            for (var i = worker; i < Cycles; i += Parallel)
            {
                var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
                client.Socket.Abort();
                client.Socket.Dispose();
            }
        })).WaitAsync(TimeSpan.FromMinutes(3));

        await server.Disconnects.WaitForCountAsync(Cycles, TimeSpan.FromMinutes(1));
        await AssertEmptyAsync(server);
        Assert.Equal(Cycles, server.Disconnects.Calls.Count);
        Assert.All(server.Disconnects.Calls, c => Assert.Equal(1006, c.CloseCode.Code));
        Assert.Equal(0, Lifeline.Server.TcpSocketTable.CountCloseWait(server.Port));
        Assert.DoesNotContain(Lifeline.Server.TcpSocketTable.ForLocalPort(server.Port), e => e.State == TcpState.Established);
    }

    [Fact]
    public async Task Host_stop_closes_every_client_with_1001_and_a_spread_retry_hint()
    {
        var server = await TestServer.StartAsync(o => o.ShutdownRetrySpread = TimeSpan.FromSeconds(3));
        var clients = new List<RawClient>();
        for (var i = 0; i < 10; i++)
        {
            clients.Add((await RawClient.ConnectAndHelloAsync(server.WsUri)).Client);
        }

        var closes = clients.Select(c => c.WaitForCloseAsync()).ToList();
        var stop = server.StopAsync();
        var statuses = await Task.WhenAll(closes);
        await stop.WaitAsync(TestTimeouts.Default);

        Assert.All(statuses, s => Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, s));
        var hints = clients.Select(c => c.CloseDescription!).ToList();
        Assert.All(hints, h => Assert.StartsWith("retry_after_ms=", h, StringComparison.Ordinal));
        Assert.All(hints, h => Assert.InRange(int.Parse(h["retry_after_ms=".Length..], System.Globalization.CultureInfo.InvariantCulture), 0, 3000));
        Assert.Equal(0, server.Lifeline.ConnectionCount);
        Assert.True(server.Lifeline.IsDraining);
        await server.DisposeAsync();
        foreach (var c in clients)
        {
            await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_subscribe_completing_after_teardown_left_the_channels_detaches_itself()
    {
        // Regression, found by the client's convergence test (a channel kept a local subscriber after every connection
        // was gone): teardown collected the connection's subscriptions while a subscribe was still running; the
        // subscribe then added its subscription to a connection nobody would ever leave, and the channel kept it.
        var engine = new HeldRecoveryEngine("slow");
        await using var server = await TestServer.StartAsync(services: s =>
        {
            s.AddSingleton<ILifelineAuthenticator, TokenIsUserAuthenticator>();
            s.AddSingleton<Lifeline.Engine.ILifelineEngine>(engine);
        });
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, token: "alice");
        await using var __ = client;
        await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = "slow" });
        await engine.RecoveryEntered.WaitAsync(TestTimeouts.Default);

        // The connection is torn down (and leaves its channels) while the subscribe waits for the engine's read ...
        Assert.Equal(1, await server.Lifeline.DisconnectUserAsync("alice", CloseCode.Abnormal));

        // ... which then completes: the late subscription must be detached, not kept.
        engine.ReleaseRecovery();
        await engine.ObservationDisposed.WaitAsync(TestTimeouts.Default);
        Assert.Equal(0, server.Runtime.Hub.ChannelCount);
        Assert.Equal(0, server.Runtime.Presence.MembershipCount);
        await AssertEmptyAsync(server);
    }

    /// <summary>
    /// A <see cref="Lifeline.Engine.MemoryEngine"/> whose first recovery read of one channel waits until released and
    /// then completes whatever the token says, as an engine read that finished just as the connection was torn down.
    /// </summary>
    private sealed class HeldRecoveryEngine(string channel) : DelegatingEngine
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _held;

        public Task RecoveryEntered => _entered.Task;

        public Task ObservationDisposed => _disposed.Task;

        public void ReleaseRecovery() => _release.TrySetResult();

        public override async ValueTask<IAsyncDisposable> ObserveAsync(string name, Lifeline.Engine.IChannelObserver observer, CancellationToken cancellationToken = default)
        {
            var inner = await Inner.ObserveAsync(name, observer, cancellationToken);
            return name == channel ? new Signalling(inner, _disposed) : inner;
        }

        public override async ValueTask<Lifeline.Engine.RecoveryResult> RecoverAsync(string name, Position? since, CancellationToken cancellationToken = default)
        {
            if (name == channel && Interlocked.Exchange(ref _held, 1) == 0)
            {
                _entered.TrySetResult();
                await _release.Task;
                return await Inner.RecoverAsync(name, since, CancellationToken.None);
            }

            return await Inner.RecoverAsync(name, since, cancellationToken);
        }

        private sealed class Signalling(IAsyncDisposable inner, TaskCompletionSource disposed) : IAsyncDisposable
        {
            public async ValueTask DisposeAsync()
            {
                await inner.DisposeAsync();
                disposed.TrySetResult();
            }
        }
    }

    internal static async Task AssertEmptyAsync(TestServer server)
    {
        await WaitUntilAsync(() => server.Lifeline.ConnectionCount == 0 && server.Lifeline.ScheduledCount == 0);
        Assert.Equal(0, server.Lifeline.ConnectionCount);
        Assert.Equal(0, server.Lifeline.ScheduledCount);
    }

    /// <summary>Polls a condition that has no event (kernel socket tables, counters settled after hooks).</summary>
    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TestTimeouts.Default)
            {
                Assert.Fail("condition not met in time");
            }

            await Task.Delay(20);
        }
    }

    private static DateTime At(TestLogSink.LogEntry entry) =>
        DateTime.Parse(entry.State["At"]!.ToString()!, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal);
}
