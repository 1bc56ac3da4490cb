using System.Text.Json;
using Lifeline.Bench.Servers;
using Lifeline.Redis;
using Lifeline.Server;

// Lifeline through AddLifeline/MapLifeline at /ws. The per-address, per-user, handshake and rate limits are raised: the
// generator opens up to 100,000 connections from a few loopback addresses, and one publisher sends as fast as it can.
// SignalR and ws have no such limits, so they are off here to compare the connection layers alone.
// --redis HOST:PORT (two-node workload): the Redis engine instead of the in-memory one.
// BENCH_LIFELINE_LISTENER=lean (server kind lifeline-lean): the endpoint also has the lean listener (UseLifeline("/ws")),
// which takes the WebSocket upgrades; MapLifeline stays mapped for everything else (the HTTP transport).
var redisAt = Array.IndexOf(args, "--redis");
var redis = redisAt >= 0 && redisAt + 1 < args.Length ? args[redisAt + 1] : null;
var settings = BenchSettings.Parse(redisAt >= 0 ? [.. args[..redisAt], .. args[(redisAt + 2)..]] : args);
var lean = Environment.GetEnvironmentVariable("BENCH_LIFELINE_LISTENER") == "lean";
var builder = BenchHost.CreateBuilder(settings, lean ? listen => listen.UseLifeline("/ws") : null);
builder.Services.AddLifeline(o =>
{
    o.HeartbeatInterval = settings.HeartbeatInterval;
    o.HeartbeatTimeout = settings.HeartbeatTimeout;
    o.MaxConnectionsPerAddress = int.MaxValue;
    o.MaxConnectionsPerUser = int.MaxValue;
    o.MaxPendingHandshakes = int.MaxValue;
    o.MaxMessagesPerSecond = 1_000_000;
    o.MessageBurst = 1_000_000;

    // Diagnosis only (w2-burst): BENCH_PUBLISH_BACKLOG_LIMIT sets the publisher flow control's bound (0: off).
    if (int.TryParse(Environment.GetEnvironmentVariable("BENCH_PUBLISH_BACKLOG_LIMIT"), out var backlog) && backlog >= 0)
    {
        o.PublishBacklogLimit = backlog;
    }

    // Diagnosis only (W3): BENCH_CLOSE_HANDSHAKE_TIMEOUT_MS shortens the wait for the peer's close frame.
    if (int.TryParse(Environment.GetEnvironmentVariable("BENCH_CLOSE_HANDSHAKE_TIMEOUT_MS"), out var closeMs) && closeMs > 0)
    {
        o.CloseHandshakeTimeout = TimeSpan.FromMilliseconds(closeMs);
    }
});
if (redis is not null)
{
    builder.Services.AddLifelineRedis(o => o.Configuration = redis);
}

var app = builder.Build();
app.MapLifeline("/ws");

// w2-burst: the server publishes with LifelineServer.PublishAsync in a loop (the patch {"b": payload}).
BenchBurst.Map(app, async (services, channel, payload) =>
{
    using var patch = JsonDocument.Parse("{\"b\":\"" + payload + "\"}");
    await services.GetRequiredService<LifelineServer>().PublishAsync(channel, patch.RootElement);
});
await BenchHost.RunAsync(app, settings);
