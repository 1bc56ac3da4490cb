using System.Collections.Concurrent;
using System.Text.Json;
using Lifeline.Engine;
using Lifeline.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests;

/// <summary>
/// Issue 20, publisher flow control (<see cref="LifelineOptions.PublishBacklogLimit"/>): a publisher is held while most
/// of the channel's subscribers have more than the limit waiting, so it never runs further ahead of them than that; a
/// subscriber that stopped reading does not count (it is closed with 1013 and holds nobody back); the reply still
/// precedes the delta it announces. Asserted on the queue depths the server itself reports, never on timing.
/// </summary>
public sealed class PublishFlowControlTests
{
    private const int Limit = 4;
    private const string Channel = "c";

    private static JsonElement Patch(int n, int padBytes) => JsonDocument.Parse($"{{\"n\":{n},\"pad\":\"{new string('p', padBytes)}\"}}").RootElement;

    private static readonly JsonElement End = JsonDocument.Parse("{\"end\":true}").RootElement;

    [Fact]
    public async Task A_server_side_burst_publisher_never_runs_more_than_the_limit_ahead_of_most_subscribers()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.PublishBacklogLimit = Limit;
            o.PublishBacklogTimeout = TimeSpan.FromMinutes(1); // no subscriber may count as slow here, however loaded the machine
            o.SendQueueLimit = 100_000;
            o.HeartbeatInterval = TimeSpan.FromMinutes(5); // no ping joins a queue during the burst
        });
        var subscribers = await SubscribeAsync(server, 3);
        await using var _ = new DisposeAll(subscribers);
        var readers = subscribers.Select(ReadDeltasUntilEndAsync).ToList(); // they read all along, slower than the publisher

        // After each publish returns, no more than half of the subscribers (1 of 3) may have more than Limit messages
        // waiting: the publisher is paced by their writers. Without flow control they fall hundreds behind.
        var connections = server.Runtime.Registry.All.ToList();
        Assert.Equal(3, connections.Count);
        const int Publishes = 600;
        var worst = new List<int[]>();
        for (var i = 1; i <= Publishes; i++)
        {
            await server.Lifeline.PublishAsync(Channel, Patch(i, 8 * 1024)).DefaultTimeout();
            var depths = connections.Select(c => c.SendQueueDepth).ToArray();
            if (depths.Count(d => d > Limit) > 1)
            {
                worst.Add(depths);
            }
        }

        await server.Lifeline.PublishAsync(Channel, End);
        Assert.True(worst.Count == 0, $"{worst.Count} publishes returned with most subscribers over the limit, e.g. [{string.Join(", ", worst.FirstOrDefault() ?? [])}]");
        Assert.True(server.Runtime.Metrics.PublishesHeld > 0, "the burst never reached the limit: the test proved nothing");

        // Every subscriber got every delta, in order, and nobody was closed.
        foreach (var offsets in await Task.WhenAll(readers).DefaultTimeout(TimeSpan.FromMinutes(2)))
        {
            Assert.Equal(Enumerable.Range(1, Publishes + 1).Select(o => (long)o), offsets);
        }

        Assert.Empty(server.Disconnects.Calls);
    }

    [Theory]
    [InlineData(2, 1)] // a slow minority: never counted
    [InlineData(1, 2)] // a stopped majority: counted until its writers have been busy for PublishBacklogTimeout, then left to SendQueueLimit
    public async Task A_subscriber_that_stops_reading_is_closed_with_1013_and_holds_neither_the_publisher_nor_the_others_back(int reading, int stopped)
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.PublishBacklogLimit = Limit;
            o.PublishBacklogTimeout = TimeSpan.FromSeconds(1);
            o.SendQueueLimit = 512;
        });
        var readers = await SubscribeAsync(server, reading);
        var stoppers = await SubscribeAsync(server, stopped); // read nothing from here on
        await using var _ = new DisposeAll([.. readers, .. stoppers]);
        var reads = readers.Select(ReadDeltasUntilEndAsync).ToList();

        // Publish until every stopped reader has been closed (bounded: the socket buffers fill long before 20,000 x 4 KiB).
        var published = 0;
        var publisher = Task.Run(async () =>
        {
            while (published < 20_000 && server.Disconnects.Calls.Count < stopped)
            {
                await server.Lifeline.PublishAsync(Channel, Patch(++published, 4 * 1024));
            }

            for (var i = 0; i < 100; i++)
            {
                await server.Lifeline.PublishAsync(Channel, Patch(++published, 16));
            }

            await server.Lifeline.PublishAsync(Channel, End);
        });
        await publisher.DefaultTimeout(TimeSpan.FromMinutes(2)); // the publisher completes

        await server.Disconnects.WaitForCountAsync(stopped);
        Assert.All(server.Disconnects.Calls, d =>
        {
            Assert.Equal(1013, d.CloseCode.Code);
            Assert.Equal("slow_consumer", d.Reason);
        });
        foreach (var offsets in await Task.WhenAll(reads).DefaultTimeout(TimeSpan.FromMinutes(2)))
        {
            Assert.Equal(Enumerable.Range(1, published + 1).Select(o => (long)o), offsets); // every delta, in order
        }

        Assert.Equal(stopped, server.Disconnects.Calls.Count); // the readers are still connected
    }

    [Fact]
    public async Task A_client_publishing_flat_out_is_paced_and_still_gets_each_reply_before_its_delta()
    {
        // The policy runs as each publish is admitted: by then the previous publish's hold is over.
        var admitted = new ConcurrentQueue<int[]>();
        Func<int[]>? depths = null;
        var policy = new SnapshotPolicy(() => admitted.Enqueue(depths?.Invoke() ?? []));
        await using var server = await TestServer.StartAsync(
            o =>
            {
                o.PublishBacklogLimit = Limit;
                o.PublishBacklogTimeout = TimeSpan.FromMinutes(1);
                o.SendQueueLimit = 100_000;
                o.HeartbeatInterval = TimeSpan.FromMinutes(5);
            },
            services => services.AddSingleton<IChannelPolicy>(policy));
        var others = await SubscribeAsync(server, 2);
        var (publisher, welcome) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        var publisherId = welcome.GetProperty("connection").GetString();
        await using var _p = publisher;
        await using var _o = new DisposeAll(others);
        await publisher.SendJsonAsync(new { type = "subscribe", id = 1, channel = Channel });
        await publisher.ReceiveTypeAsync("snapshot");
        var connections = server.Runtime.Registry.All.Where(c => c.Id != publisherId).ToList(); // its own queue never holds it
        Assert.Equal(2, connections.Count);
        depths = () => connections.Select(c => c.SendQueueDepth).ToArray();
        var reads = others.Select(ReadDeltasUntilEndAsync).ToList();

        const int Publishes = 400; // within the default burst of the rate limit
        var pad = new string('p', 8 * 1024);
        for (var i = 0; i < Publishes; i++)
        {
            await publisher.SendJsonAsync(new { type = "publish", id = 100 + i, channel = Channel, patch = new { n = i, pad } });
        }

        // The publisher reads its own replies and deltas: each reply before the delta it announced.
        var seen = await publisher.ReceiveUntilAsync(messages => messages.Count(m => m.GetProperty("type").GetString() == "delta") == Publishes, TimeSpan.FromMinutes(1));
        var replied = new HashSet<long>();
        foreach (var m in seen)
        {
            switch (m.GetProperty("type").GetString())
            {
                case "reply":
                    Assert.True(m.GetProperty("ok").GetBoolean());
                    replied.Add(m.GetProperty("offset").GetInt64());
                    break;
                case "delta":
                    Assert.True(replied.Contains(m.GetProperty("offset").GetInt64()), $"delta {m.GetProperty("offset")} arrived before its reply");
                    break;
            }
        }

        await server.Lifeline.PublishAsync(Channel, End);
        foreach (var offsets in await Task.WhenAll(reads).DefaultTimeout(TimeSpan.FromMinutes(2)))
        {
            Assert.Equal(Enumerable.Range(1, Publishes + 1).Select(o => (long)o), offsets);
        }

        // Each publish after the first was admitted only once at most one of the two other subscribers had more than
        // Limit messages waiting (the publisher's own subscription does not count: the hold stops reading from it).
        var snapshots = admitted.Skip(1).Take(Publishes - 1).ToList();
        Assert.Equal(Publishes - 1, snapshots.Count);
        Assert.All(snapshots, d => Assert.True(d.Count(x => x > Limit) <= 1, $"admitted with depths [{string.Join(", ", d)}]"));
        Assert.True(server.Runtime.Metrics.PublishesHeld > 0, "the publisher was never held: the test proved nothing");
        Assert.Empty(server.Disconnects.Calls);
    }

    [Fact]
    public async Task With_the_limit_at_0_a_burst_publisher_runs_ahead_as_before()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.PublishBacklogLimit = 0;
            o.SendQueueLimit = 100_000;
        });
        var subscribers = await SubscribeAsync(server, 1);
        await using var _ = new DisposeAll(subscribers); // they never read: nothing holds the publisher
        for (var i = 1; i <= 2_000 && server.Runtime.Registry.All.Single().SendQueueDepth <= Limit * 10; i++)
        {
            await server.Lifeline.PublishAsync(Channel, Patch(i, 8 * 1024)).DefaultTimeout();
        }

        Assert.True(server.Runtime.Registry.All.Single().SendQueueDepth > Limit * 10);
        Assert.Equal(0, server.Runtime.Metrics.PublishesHeld);
    }

    private static async Task<List<RawClient>> SubscribeAsync(TestServer server, int count)
    {
        var clients = new List<RawClient>();
        for (var i = 0; i < count; i++)
        {
            var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
            clients.Add(client);
            await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = Channel });
            await client.ReceiveTypeAsync("snapshot");
        }

        return clients;
    }

    /// <summary>The offsets of the deltas a subscriber receives, up to the one whose patch is <see cref="End"/>.</summary>
    private static async Task<List<long>> ReadDeltasUntilEndAsync(RawClient client)
    {
        var offsets = new List<long>();
        while (true)
        {
            var m = await client.ReceiveTypeAsync("delta");
            offsets.Add(m.GetProperty("offset").GetInt64());
            if (m.GetProperty("patch").TryGetProperty("end", out _))
            {
                return offsets;
            }
        }
    }

    private sealed class SnapshotPolicy(Action onPublish) : IChannelPolicy
    {
        public ValueTask<ChannelDecision> DecideAsync(ChannelRequest request, CancellationToken cancellationToken)
        {
            if (request.Operation == ChannelOperation.Publish && request.ConnectionId is not null)
            {
                onPublish();
            }

            return ValueTask.FromResult(ChannelDecision.Allow);
        }
    }

    private sealed class DisposeAll(IEnumerable<RawClient> clients) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }
        }
    }
}
