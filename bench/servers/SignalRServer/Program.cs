using Lifeline.Bench.Servers;
using Lifeline.Bench.SignalRServer;
using Microsoft.AspNetCore.SignalR;

// ASP.NET Core SignalR, JSON hub protocol, hub at /hub (clients skip negotiation and open the WebSocket directly).
// Heartbeat equivalent to Lifeline's: the server pings every interval (KeepAliveInterval); a client that sends nothing
// for interval + timeout (ClientTimeoutInterval) is dropped. The benchmark client answers each ping with a ping.
var settings = BenchSettings.Parse(args);
var builder = BenchHost.CreateBuilder(settings);
builder.Services.AddSignalR(o =>
{
    o.KeepAliveInterval = settings.HeartbeatInterval;
    o.ClientTimeoutInterval = settings.HeartbeatInterval + settings.HeartbeatTimeout;
});

var app = builder.Build();
app.MapHub<BenchHub>("/hub");

// w2-burst: the server sends to the group with IHubContext in a loop (target "m", as the hub's Publish does).
BenchBurst.Map(app, (services, channel, payload) => services.GetRequiredService<IHubContext<BenchHub>>().Clients.Group(channel).SendAsync("m", payload));
await BenchHost.RunAsync(app, settings);
