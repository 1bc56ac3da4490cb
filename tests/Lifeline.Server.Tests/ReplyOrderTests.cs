using Lifeline.Server.Tests.Infrastructure;

namespace Lifeline.Server.Tests;

/// <summary>
/// PROTOCOL.md "publish": the reply comes first, then every subscriber, the publisher included, receives the delta.
/// Asserted, not assumed: with the embedded engine the fan-out runs inside the publish, before the reply exists.
/// </summary>
public sealed class ReplyOrderTests
{
    [Fact]
    public async Task A_publisher_subscribed_to_its_channel_gets_each_reply_before_the_delta_it_caused()
    {
        await using var server = await TestServer.StartAsync();
        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri);
        await using var __ = client;
        await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room" });
        await client.ReceiveTypeAsync("subscribed");
        await client.ReceiveTypeAsync("snapshot");

        const int Publishes = 50;
        for (var i = 0; i < Publishes; i++)
        {
            await client.SendJsonAsync(new { type = "publish", id = 100 + i, channel = "room", patch = new { v = i } });
        }

        var seen = await client.ReceiveUntilAsync(messages => messages.Count(m => m.GetProperty("type").GetString() == "delta") == Publishes);
        var replyAt = new Dictionary<long, int>();
        for (var i = 0; i < seen.Count; i++)
        {
            var m = seen[i];
            switch (m.GetProperty("type").GetString())
            {
                case "reply":
                    Assert.True(m.GetProperty("ok").GetBoolean());
                    replyAt[m.GetProperty("offset").GetInt64()] = i;
                    break;
                case "delta":
                    var offset = m.GetProperty("offset").GetInt64();
                    Assert.True(replyAt.ContainsKey(offset), $"delta {offset} arrived before the reply that announced it");
                    break;
            }
        }

        Assert.Equal(Publishes, replyAt.Count);
    }
}
