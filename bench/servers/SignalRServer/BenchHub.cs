using Microsoft.AspNetCore.SignalR;

namespace Lifeline.Bench.SignalRServer;

/// <summary>
/// Subscribe = join a group; Publish = send the payload to the group as target <c>m</c> (serialized once by SignalR);
/// Emit = the same to the group's other connections (<c>OthersInGroup</c>: the caller excluded), the cursor workload.
/// </summary>
internal sealed class BenchHub : Hub
{
    public Task Subscribe(string channel) => Groups.AddToGroupAsync(Context.ConnectionId, channel);

    public Task Publish(string channel, string data) => Clients.Group(channel).SendAsync("m", data);

    public Task Emit(string channel, string data) => Clients.OthersInGroup(channel).SendAsync("m", data);
}
