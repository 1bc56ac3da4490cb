using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;

namespace Lifeline.Client.Tests.Integration;

/// <summary>Restart after giving up, against the real server (issue 15).</summary>
public class RealServerRestartTests : RealServerClients
{
    private readonly TestLogger _logger = new();

    public RealServerRestartTests()
        : base(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5))
    {
    }

    [Fact]
    public async Task AfterGivingUp_TheSameClientConnectsAgain_ResyncsItsChannels_AndItsHandlersFireOnce()
    {
        var client = CreateClient(new LifelineClientOptions { Token = "alice", ReconnectPolicy = new LimitedPolicy(TimeSpan.FromMilliseconds(20), maxAttempts: 2) }, _logger);
        var states = new StateRecorder(client);
        var room = client.Channel("room:restart");
        var changes = new ConcurrentQueue<(string Epoch, long Offset, bool Snapshot)>();
        room.Changed += (_, e) => changes.Enqueue((e.Epoch, e.Offset, e.IsSnapshot));
        await client.ConnectAsync().DefaultTimeout();
        await room.SubscribeAsync().DefaultTimeout();
        await room.PublishAsync(new JsonObject { ["before"] = true }).DefaultTimeout();

        // The server goes down; every retry is refused; the policy gives up.
        var port = await StopServerAsync();
        var closed = await states.WaitForStateAsync(ClientState.Closed, from: 2);
        Assert.Equal("retry_gave_up", closed.Reason);

        await StartServerAsync(port);
        await Server.Lifeline.PublishAsync("room:restart", System.Text.Json.JsonDocument.Parse("""{"after":1}""").RootElement).DefaultTimeout();
        var mark = states.Count;
        await client.ConnectAsync().DefaultTimeout();
        Assert.Equal(ClientState.Open, client.State);
        Assert.Equal("alice", client.UserId);

        // The channel was subscribed again without being asked: the new server's state arrives as a snapshot (a new
        // epoch: the in-memory engine forgot the old one), then live deltas reach the same handler once each.
        var server = await Server.Lifeline.GetChannelAsync("room:restart");
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (room.Position != new Position(server.Epoch, server.Offset) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Equal(new Position(server.Epoch, server.Offset), room.Position);
        Assert.Equal("""{"after":1}""", room.GetState().GetRawText());
        var offset = await room.PublishAsync(new JsonObject { ["again"] = true }).DefaultTimeout();
        deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (room.Position?.Offset != offset && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        var inNewEpoch = changes.Where(c => c.Epoch == server.Epoch).ToList();
        Assert.Equal([(server.Epoch, server.Offset, true), (server.Epoch, offset, false)], inNewEpoch);
        Assert.Single(states.Events.Skip(mark), e => e.NewState == ClientState.Open);
        Assert.Equal(1, Server.Lifeline.ConnectionCount);
    }
}
