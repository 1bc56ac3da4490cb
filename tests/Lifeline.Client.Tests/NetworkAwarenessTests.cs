using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;

namespace Lifeline.Client.Tests;

/// <summary>NetworkAvailabilityChanged / NetworkAddressChanged, raised by a fake monitor, on fake time (issue 15).</summary>
public class NetworkAwarenessTests : ClientTestBase
{
    private readonly FakeNetworkMonitor _network = new();

    private RecordingPolicy? _policy;

    private LifelineClient CreateAwareClient(Microsoft.Extensions.Time.Testing.FakeTimeProvider time, TimeSpan? backoff = null, TestLogger? logger = null) => CreateClient(
        o =>
        {
            o.TimeProvider = time;
            o.NetworkMonitor = _network;
            o.ReconnectPolicy = _policy = RecordingPolicy.Fixed(backoff ?? TimeSpan.FromSeconds(30));
        },
        logger);

    [Fact]
    public async Task NetworkAvailable_DuringTheBackoffWait_StartsAnAttemptAtOnce()
    {
        var time = NewFakeTime();
        var client = CreateAwareClient(time);
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client, session: "s1");
        peer.Abort();
        await states.WaitForStateAsync(ClientState.Reconnecting);

        // The 30 s wait on fake time never elapses by itself: only the signal can start the attempt.
        await AssertStaysFalseAsync(() => Server.TryAccept(out _), "an attempt before the wait or the signal");
        _network.RaiseAvailability(true);

        var second = await Server.AcceptAsync();
        var hello = await second.HandshakeAsync(session: "s1", resumed: true);
        Assert.Equal("s1", hello.GetProperty("resume").GetString());
        await states.WaitForStateAsync(ClientState.Open, from: 2);
    }

    [Fact]
    public async Task NetworkUnavailable_AbandonsTheOpenConnection_WithReasonOffline()
    {
        var time = NewFakeTime();
        var client = CreateAwareClient(time);
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);

        _network.RaiseAvailability(false);
        var lost = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal("offline", lost.Reason);
        Assert.Equal(1006, lost.CloseCode);
        Assert.Equal(ClientState.Open, lost.OldState);
        await Assert.ThrowsAnyAsync<Exception>(() => peer.ReceiveAsync());

        // Back online: at once, not after the 30 s backoff.
        _network.RaiseAvailability(true);
        var second = await Server.AcceptAsync();
        await second.HandshakeAsync();
        await states.WaitForStateAsync(ClientState.Open, from: 2);
    }

    [Fact]
    public async Task NetworkAvailable_DuringAnAttempt_StartsItOverAtOnce_AndTheBackoffStartsOver()
    {
        var time = NewFakeTime();
        var client = CreateAwareClient(time);
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);
        peer.Abort();
        await states.WaitForStateAsync(ClientState.Reconnecting);
        _network.RaiseAvailability(true);

        // An attempt in flight when the signal comes (it may have started while offline): abandoned, and made again at once.
        var second = await Server.AcceptAsync();
        await second.ExpectAsync("hello");
        _network.RaiseAvailability(true);
        await Assert.ThrowsAnyAsync<Exception>(() => second.ReceiveAsync());
        var third = await Server.AcceptAsync();
        await third.HandshakeAsync();
        await states.WaitForStateAsync(ClientState.Open, from: 2);

        // The policy saw the first loss (retry 0), then the abandoned attempt as retry 0 again: the backoff started over.
        Assert.Equal([0, 0], _policy!.Calls.Select(c => c.Context.PreviousRetryCount).ToArray());
        Assert.Equal("online", _policy.Calls[1].Context.Reason);
    }

    [Fact]
    public async Task NetworkAvailable_WhileOpen_ProbesTheConnection_AndDoesNotSkipTheBackoffOfALaterLoss()
    {
        var time = NewFakeTime();
        var client = CreateAwareClient(time, backoff: TimeSpan.FromSeconds(30));
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);
        _network.RaiseAvailability(true);
        var probe = await peer.ExpectAsync("ping");
        await peer.SendAsync(new ServerPong(probe.GetProperty("n").GetInt64()));
        await peer.SendAsync(new ServerPing(1));
        await peer.ExpectAsync("pong");

        peer.Abort();
        await states.WaitForStateAsync(ClientState.Reconnecting);
        await AssertStaysFalseAsync(() => Server.TryAccept(out _), "a stale signal skipped the backoff");
        time.Advance(TimeSpan.FromSeconds(30));
        var second = await Server.AcceptAsync();
        await second.HandshakeAsync();
        await states.WaitForStateAsync(ClientState.Open, from: 2);
    }

    [Fact]
    public async Task AddressChanged_WhileOpen_SendsAPing_AndAPongKeepsTheConnection()
    {
        var time = NewFakeTime();
        var client = CreateAwareClient(time);
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client, timeoutMs: 5_000);

        _network.RaiseAddressChanged();
        var ping = await peer.ExpectAsync("ping");
        await peer.SendAsync(new ServerPong(ping.GetProperty("n").GetInt64()));

        // A ping round trip of the server's own: the pong was handled before its answer.
        await peer.SendAsync(new ServerPing(1));
        await peer.ExpectAsync("pong");
        time.Advance(TimeSpan.FromSeconds(6));
        await AssertStaysFalseAsync(() => client.State != ClientState.Open, "the connection was dropped although the probe was answered");
        Assert.Equal(2, states.Count);
    }

    [Fact]
    public async Task AddressChanged_WhileOpen_NoPongWithinTheHeartbeatTimeout_AbortsAndReconnects()
    {
        var time = NewFakeTime();
        var logger = new TestLogger();
        var client = CreateAwareClient(time, backoff: TimeSpan.Zero, logger: logger);
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client, intervalMs: 30_000, timeoutMs: 5_000);

        _network.RaiseAddressChanged();
        var ping = await peer.ExpectAsync("ping");

        // A pong with another n does not answer the probe; a second signal does not start a second probe.
        await peer.SendAsync(new ServerPong(ping.GetProperty("n").GetInt64() + 1000));
        _network.RaiseAddressChanged();
        await peer.SendAsync(new ServerPing(1));
        await peer.ExpectAsync("pong");
        time.Advance(TimeSpan.FromMilliseconds(4_999));
        await AssertStaysFalseAsync(() => client.State != ClientState.Open, "aborted before the heartbeat timeout");

        time.Advance(TimeSpan.FromMilliseconds(1));
        var lost = await states.WaitForStateAsync(ClientState.Reconnecting);
        Assert.Equal("probe_timeout", lost.Reason);
        await logger.WaitForAsync("ProbeTimedOut");
        var second = await Server.AcceptAsync();
        await second.HandshakeAsync();
        await states.WaitForStateAsync(ClientState.Open, from: 2);
    }

    [Fact]
    public async Task AddressChanged_WhileWaitingToReconnect_StartsAnAttemptAtOnce()
    {
        var time = NewFakeTime();
        var client = CreateAwareClient(time);
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);
        peer.Abort();
        await states.WaitForStateAsync(ClientState.Reconnecting);

        _network.RaiseAddressChanged();
        var second = await Server.AcceptAsync();
        await second.HandshakeAsync();
        await states.WaitForStateAsync(ClientState.Open, from: 2);
    }

    [Fact]
    public async Task AddressChanged_WhileWaitingToReconnect_DoesNotStartTheBackoffOver()
    {
        var time = NewFakeTime();
        var client = CreateAwareClient(time);
        var states = new StateRecorder(client);
        var (peer, _) = await ConnectAsync(client);
        peer.Abort();
        await states.WaitForStateAsync(ClientState.Reconnecting);

        // The wait ends at once, but the attempt it starts is the next retry, not retry 0 again (unlike "available").
        _network.RaiseAddressChanged();
        var second = await Server.AcceptAsync();
        await second.ExpectAsync("hello");
        second.Abort();

        // The policy is asked before the wait that this signal ends: once this attempt is accepted, it was asked twice.
        _network.RaiseAddressChanged();
        var third = await Server.AcceptAsync();
        await third.HandshakeAsync();
        await states.WaitForStateAsync(ClientState.Open, from: 2);
        Assert.Equal([0, 1], _policy!.Calls.Select(c => c.Context.PreviousRetryCount).ToArray());
    }

    [Fact]
    public async Task TheMonitorIsWatchedOnlyWhileTheClientRuns_AndNotAtAllWhenTurnedOff()
    {
        var time = NewFakeTime();
        var client = CreateAwareClient(time);
        Assert.Equal(0, _network.SubscriberCount);
        var (peer, _) = await ConnectAsync(client);
        Assert.Equal(1, _network.SubscriberCount);
        var closing = peer.WaitForCloseAsync();
        await client.CloseAsync().DefaultTimeout();
        await closing;
        peer.Release();
        Assert.Equal(0, _network.SubscriberCount);

        // Signals to a closed client do nothing.
        _network.RaiseAvailability(true);
        _network.RaiseAvailability(false);
        Assert.Equal(ClientState.Closed, client.State);

        var off = CreateClient(o =>
        {
            o.TimeProvider = time;
            o.NetworkMonitor = _network;
            o.NetworkAwareness = false;
        });
        var states = new StateRecorder(off);
        await ConnectAsync(off);
        Assert.Equal(0, _network.SubscriberCount);
        _network.RaiseAvailability(false);
        await AssertStaysFalseAsync(() => off.State != ClientState.Open, "a client with NetworkAwareness off reacted to a signal");
        Assert.Equal(2, states.Count);
    }
}
