using System.Text.Json.Nodes;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;

namespace Lifeline.Client.Tests.Integration;

/// <summary>Conditional publish and UpdateAsync against the real server (issue 15).</summary>
public class RealServerUpdateTests : RealServerClients
{
    public RealServerUpdateTests()
        : base(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5))
    {
    }

    [Fact]
    public async Task AConflict_CarriesTheServersPosition_AndNothingIsApplied()
    {
        var alice = await ConnectAsync("alice");
        var room = alice.Channel("cas:1");
        await room.SubscribeAsync().DefaultTimeout();
        var start = room.Position!;
        await room.PublishAsync(new JsonObject { ["a"] = 1 }).DefaultTimeout();
        await room.PublishAsync(new JsonObject { ["b"] = 2 }).DefaultTimeout();

        var ex = await Assert.ThrowsAsync<LifelineConflictException>(() => room.PublishAsync(new JsonObject { ["c"] = 3 }, start).DefaultTimeout());

        var server = await Server.Lifeline.GetChannelAsync("cas:1");
        Assert.Equal(new Position(server.Epoch, server.Offset), ex.CurrentPosition);
        Assert.Equal(start.Offset + 2, server.Offset);
        Assert.False(server.State.TryGetProperty("c", out _));

        // At the right position the same publish applies.
        var offset = await room.PublishAsync(new JsonObject { ["c"] = 3 }, ex.CurrentPosition).DefaultTimeout();
        Assert.Equal(server.Offset + 1, offset);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TwoClients_Append50TimesEach_Concurrently_TheListHasExactly100Items_AndEveryoneEqualsTheServer(bool optimistic)
    {
        // Two competitors with the DEFAULT retry limit (10): the early retry and the yield of a contended channel keep
        // the race fair enough that neither loses 11 times in a row (issue 15; LifelineChannel.Update.cs).
        var alice = await ConnectAsync("alice", o => o.Optimistic = optimistic);
        var bob = await ConnectAsync("bob", o => o.Optimistic = optimistic);
        Assert.Equal(LifelineClientOptions.DefaultUpdateRetryLimit, alice.Options.UpdateRetryLimit);
        var aliceList = alice.Channel("list:1");
        var bobList = bob.Channel("list:1");
        await aliceList.SubscribeAsync().DefaultTimeout();
        await bobList.SubscribeAsync().DefaultTimeout();

        static async Task AppendAsync(LifelineChannel channel, string who)
        {
            for (var i = 0; i < 50; i++)
            {
                await channel.UpdateAsync(s =>
                {
                    var items = s["items"] as JsonArray ?? [];
                    s["items"] = new JsonArray([.. items.Select(n => n?.DeepClone()), JsonValue.Create($"{who}-{i}")]);
                    return s;
                });
            }
        }

        await Task.WhenAll(AppendAsync(aliceList, "alice"), AppendAsync(bobList, "bob")).WaitAsync(TimeSpan.FromSeconds(60));

        var server = await Server.Lifeline.GetChannelAsync("list:1");
        var items = server.State.GetProperty("items").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(100, items.Count);
        Assert.Equal(100, items.Distinct().Count());
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"alice-{i}"), items.Where(i => i.StartsWith("alice", StringComparison.Ordinal)));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"bob-{i}"), items.Where(i => i.StartsWith("bob", StringComparison.Ordinal)));
        foreach (var channel in new[] { aliceList, bobList })
        {
            var deadline = DateTime.UtcNow + TestTimeouts.Default;
            while (channel.Position?.Offset != server.Offset && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }

            Assert.Equal(new Position(server.Epoch, server.Offset), channel.Position);
            Assert.Equal(0, channel.PendingCount);
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(server.State.GetRawText()), JsonNode.Parse(channel.GetState().GetRawText())));
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(server.State.GetRawText()), JsonNode.Parse(channel.GetConfirmedState().GetRawText())));
        }
    }
}
