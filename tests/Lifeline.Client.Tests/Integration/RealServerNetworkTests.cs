using Lifeline.Client.Tests.Infrastructure;

namespace Lifeline.Client.Tests.Integration;

/// <summary>The liveness probe against the real server: it answers a client ping with the same n (issue 15).</summary>
public class RealServerNetworkTests : RealServerClients
{
    private readonly TestLogger _logger = new();

    public RealServerNetworkTests()
        : base(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(2))
    {
    }

    [Fact]
    public async Task AddressChanged_TheServerAnswersTheProbe_AndTheConnectionStays()
    {
        var network = new FakeNetworkMonitor();
        var client = CreateClient(new LifelineClientOptions { Token = "alice", NetworkMonitor = network }, _logger);
        var states = new StateRecorder(client);
        await client.ConnectAsync().DefaultTimeout();
        var connection = client.ConnectionId;

        network.RaiseAddressChanged();
        await _logger.WaitForAsync("ProbeAnswered");

        Assert.Equal(ClientState.Open, client.State);
        Assert.Equal(connection, client.ConnectionId);
        Assert.Equal(2, states.Count);
        Assert.DoesNotContain(_logger.Entries, e => e.EventName == "ProbeTimedOut");
    }
}
