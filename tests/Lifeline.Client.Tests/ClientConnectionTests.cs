using System.Net.WebSockets;
using Lifeline.Client.Internal;

namespace Lifeline.Client.Tests;

/// <summary>The per-socket object's own rules, without a server.</summary>
public class ClientConnectionTests
{
    [Fact]
    public void Fail_CompletesEnded_OnlyAfterTheTokenIsCancelled_SoTeardownCannotDisposeTheSourceUnderIt()
    {
        // Regression, found by the convergence test: Fail completed Ended first and cancelled the token after. The
        // supervisor tears a connection down (and disposes its token source) as soon as Ended completes, so a publish
        // whose send failed could hit ObjectDisposedException inside Fail and fail although it was still queued.
        using var socket = new WebSocketTransport(new Uri("ws://127.0.0.1:1/ws"), null);
        var conn = new ClientConnection(1, socket);
        bool? endedDuringCancel = null;
        using var registration = conn.Token.Register(() => endedDuringCancel = conn.Ended.IsCompleted);

        Assert.True(conn.Fail(DisconnectInfo.Lost("test"), abort: true));

        Assert.False(endedDuringCancel, "Ended completed before the token was cancelled");
        Assert.True(conn.IsEnded);
        Assert.True(conn.Ended.IsCompleted);
        Assert.False(conn.Fail(DisconnectInfo.Lost("again"), abort: true));
        Assert.Equal("test", conn.Ended.Result.Reason);
        conn.Dispose();
        Assert.False(conn.Fail(DisconnectInfo.Lost("after dispose"), abort: true));
    }
}
