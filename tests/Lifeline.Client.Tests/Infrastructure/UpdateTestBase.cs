using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Protocol;

namespace Lifeline.Client.Tests.Infrastructure;

/// <summary>A client subscribed to one channel of a scripted server, and the server's side of publishes (issue 15 tests).</summary>
public abstract class UpdateTestBase : ClientTestBase
{
    internal static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    internal static DeltaMessage Delta(string channel, long offset, string patch) => new(channel, offset, Json(patch), 1_764_340_000_000 + offset);

    internal async Task<(LifelineClient Client, ScriptedPeer Peer, LifelineChannel Channel)> SubscribedAsync(string state, long offset = 3, Action<LifelineClientOptions>? configure = null)
    {
        var client = CreateClient(configure);
        var (peer, _) = await ConnectAsync(client);
        var channel = client.Channel("list");
        var subscribe = channel.SubscribeAsync();
        var request = await peer.ExpectAsync("subscribe");
        await peer.SendPackedAsync(
            new SubscribedMessage(request.GetProperty("id").GetInt64(), "list", "e1", offset, false),
            new SnapshotMessage("list", "e1", offset, Json(state)));
        await subscribe.DefaultTimeout();
        return (client, peer, channel);
    }

    internal static Task ReplyOkAsync(ScriptedPeer peer, JsonElement publish, long offset) =>
        peer.SendRawAsync($$"""{"type":"reply","id":{{publish.GetProperty("id").GetInt64()}},"ok":true,"offset":{{offset}}}""");

    internal static Task ReplyConflictAsync(ScriptedPeer peer, JsonElement publish, string epoch, long offset) =>
        peer.SendRawAsync($$$"""{"type":"reply","id":{{{publish.GetProperty("id").GetInt64()}}},"ok":false,"error":{"code":"conflict","message":"the channel is at {{{epoch}}}:{{{offset}}}","epoch":"{{{epoch}}}","offset":{{{offset}}}}}""");

    internal static JsonObject Append(JsonObject state, int item)
    {
        var items = state["items"] as JsonArray ?? [];
        state["items"] = new JsonArray([.. items.Select(i => i?.DeepClone()), JsonValue.Create(item)]);
        return state;
    }

    /// <summary>A ping round trip: whatever the client sent before the pong is in the stream before it.</summary>
    internal static async Task AssertNothingSentAsync(ScriptedPeer peer)
    {
        await peer.SendAsync(new ServerPing(99));
        var next = await peer.ReceiveAsync();
        Assert.Equal("pong", next.GetProperty("type").GetString());
    }
}
