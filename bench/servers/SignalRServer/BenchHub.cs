using Microsoft.AspNetCore.SignalR;

namespace Lifeline.Bench.SignalRServer;

/// <summary>Subscribe = join a group; Publish = send the payload to the group as target <c>m</c> (serialized once by SignalR).</summary>
internal sealed class BenchHub : Hub
{
    public Task Subscribe(string channel) => Groups.AddToGroupAsync(Context.ConnectionId, channel);

    public Task Publish(string channel, string data) => Clients.Group(channel).SendAsync("m", data);
}
