using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Server.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Lifeline.Server.Tests;

/// <summary>Subscribe is gap-free and duplicate-free while a publisher runs flat out.</summary>
public sealed class SubscribeUnderLoadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Twenty_clients_resubscribing_under_a_flat_out_publisher_see_consecutive_offsets_and_the_final_state()
    {
        using var heavy = await HeavyTestGate.EnterAsync();
        const int Seed = 20261128;
        const int Clients = 20;
        const int MaxPublishes = 40_000;
        output.WriteLine($"seed {Seed}");
        // These test peers read slower than an in-process publisher writes on a loaded machine; the slow-consumer close
        // (1013) has its own test (ChannelTests). Here the queue bound is lifted so the subscribe path alone is tested.
        await using var server = await TestServer.StartAsync(o => o.SendQueueLimit = 10_000_000);
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var clientsStarted = new CountdownEvent(Clients);
        var clientsDone = new CancellationTokenSource();
        var publisher = Task.Run(async () =>
        {
            clientsStarted.Wait(stop.Token);
            for (var i = 1; i <= MaxPublishes && !clientsDone.IsCancellationRequested; i++)
            {
                var patch = JsonDocument.Parse($"{{\"n\":{i},\"k{i % 37}\":{i}}}").RootElement;
                await server.Lifeline.PublishAsync("load", patch, cancellationToken: stop.Token);
            }
        });

        var roundsDone = Enumerable.Range(0, Clients).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var clients = Enumerable.Range(0, Clients).Select(c => Task.Run(() => RunClientAsync(server, new Random(Seed + c), clientsStarted, roundsDone[c], publisher, stop.Token))).ToList();
        // The publisher stops by itself once every client has done its rounds (or at MaxPublishes).
        _ = Task.WhenAll(roundsDone.Select(r => r.Task)).ContinueWith(_ => clientsDone.Cancel(), TaskScheduler.Default);
        var mirrors = await Task.WhenAll(clients);
        await publisher;

        var final = await server.Lifeline.GetChannelAsync("load");
        var publishes = final.Offset;
        output.WriteLine($"publishes: {publishes}");
        Assert.True(publishes > 1000, $"only {publishes} publishes overlapped the clients");
        var expected = JsonNode.Parse(final.State.GetRawText());
        for (var c = 0; c < Clients; c++)
        {
            Assert.True(mirrors[c].Violations.Count == 0, $"client {c}: {string.Join("; ", mirrors[c].Violations.Take(5))}");
            Assert.Equal(publishes, mirrors[c].Offset);
            Assert.True(JsonNode.DeepEquals(expected, mirrors[c].State), $"client {c} state differs");
            Assert.Equal(mirrors[c].AppliedOffsets.Distinct().Count(), mirrors[c].AppliedOffsets.Count);
        }

        output.WriteLine($"snapshots taken: {mirrors.Sum(m => m.Snapshots)}, deltas applied: {mirrors.Sum(m => m.AppliedOffsets.Count)}");
    }

    private static async Task<ChannelMirror> RunClientAsync(TestServer server, Random random, CountdownEvent started, TaskCompletionSource roundsDone, Task publisher, CancellationToken ct)
    {
        var mirror = new ChannelMirror();
        var client = await ConnectAsync(server);
        started.Signal();
        var requestId = 1;
        for (var round = 0; round < 12 && !ct.IsCancellationRequested; round++)
        {
            // Subscribe from the last position and read until caught up with the subscribed offset plus a few more.
            await client.SendJsonAsync(new { type = "subscribe", id = ++requestId, channel = "load", since = mirror.Epoch is null ? null : new { epoch = mirror.Epoch, offset = mirror.Offset } });
            long target = -1;
            var extra = random.Next(0, 200);
            while (target < 0 || mirror.Offset < target)
            {
                var m = await client.ReceiveAsync() ?? throw new InvalidOperationException($"closed {client.CloseStatus} {client.CloseDescription}");
                if (m.GetProperty("type").GetString() == "subscribed")
                {
                    target = m.GetProperty("offset").GetInt64() + (publisher.IsCompleted ? 0 : extra);
                }

                mirror.Apply(m);
                if (publisher.IsCompleted && target > 0)
                {
                    target = Math.Min(target, (await server.Lifeline.GetChannelAsync("load")).Offset);
                }
            }

            if (random.Next(3) == 0)
            {
                await client.DisposeAsync(); // abrupt: the new connection resumes from the mirror's position
                client = await ConnectAsync(server);
            }
            else
            {
                await client.SendJsonAsync(new { type = "unsubscribe", id = ++requestId, channel = "load" });
                var id = requestId;
                while (true)
                {
                    var m = await client.ReceiveAsync() ?? throw new InvalidOperationException($"closed {client.CloseStatus} {client.CloseDescription}");
                    if (m.GetProperty("type").GetString() == "reply" && m.GetProperty("id").GetInt64() == id)
                    {
                        break;
                    }

                    mirror.Apply(m);
                }
            }
        }

        // Final catch-up: subscribe and read until the last offset.
        roundsDone.SetResult();
        await publisher;
        var last = (await server.Lifeline.GetChannelAsync("load")).Offset;
        await client.SendJsonAsync(new { type = "subscribe", id = ++requestId, channel = "load", since = mirror.Epoch is null ? null : new { epoch = mirror.Epoch, offset = mirror.Offset } });
        while (mirror.Offset < last)
        {
            mirror.Apply((await client.ReceiveAsync())!.Value);
        }

        await client.DisposeAsync();
        return mirror;
    }

    private static async Task<RawClient> ConnectAsync(TestServer server)
    {
        var client = await RawClient.ConnectAsync(server.WsUri);
        client.AutoPong = true;
        await client.HelloAsync();
        return client;
    }
}
