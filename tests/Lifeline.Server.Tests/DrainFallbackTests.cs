using System.Diagnostics;
using Lifeline.Server.Tests.Infrastructure;

namespace Lifeline.Server.Tests;

/// <summary>
/// <see cref="LifelineServer.DrainAsync"/>'s fallback (issue 13): connections whose teardown is still waiting on the peer
/// when <see cref="LifelineOptions.DrainTimeout"/> ends get their transport reset, so the drain is not held for the
/// whole close-handshake bound.
/// </summary>
public sealed class DrainFallbackTests
{
    [Fact]
    public async Task A_peer_that_never_answers_the_close_is_reset_when_the_drain_timeout_ends()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.CloseHandshakeTimeout = TimeSpan.FromSeconds(60); // the teardown alone would wait this long for the peer
            o.DrainTimeout = TimeSpan.FromMilliseconds(500);
        });
        var (client, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var _ = client; // never reads again: the server's close frame is never answered
        var id = welcome.GetProperty("connection").GetString()!;

        var clock = Stopwatch.StartNew();
        await server.StopAsync();
        var disconnect = await server.Disconnects.WaitForAsync(id);

        // Generous bound (a loaded CI host): far below the 60 s close bound that the fallback cut short.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"drain took {clock.Elapsed}");
        Assert.Equal(1001, disconnect.CloseCode.Code);
        Assert.Equal(0, server.Lifeline.ConnectionCount);
        Assert.Contains(server.Logs.Named("ConnectionReset"), e => Equals(e.State["ConnectionId"], id));
    }
}
