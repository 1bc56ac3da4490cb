using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;

namespace Lifeline.Client.Tests;

/// <summary>Conditional publish (<c>if</c>, <c>conflict</c>) and <see cref="LifelineChannel.UpdateAsync"/> against a scripted server (issue 15).</summary>
public class UpdateTests : UpdateTestBase
{
    [Fact]
    public async Task ConditionalPublish_SendsIf_AndAConflictThrowsWithTheServersPosition()
    {
        var (_, peer, channel) = await SubscribedAsync("""{"a":1}""");

        var publish = channel.PublishAsync(new JsonObject { ["a"] = 2 }, new Position("e1", 3));
        var sent = await peer.ExpectAsync("publish");
        Assert.Equal("e1", sent.GetProperty("if").GetProperty("epoch").GetString());
        Assert.Equal(3, sent.GetProperty("if").GetProperty("offset").GetInt64());
        await ReplyConflictAsync(peer, sent, "e1", 5);

        var ex = await Assert.ThrowsAsync<LifelineConflictException>(() => publish.DefaultTimeout());
        Assert.IsAssignableFrom<LifelinePublishException>(ex);
        Assert.Equal(ErrorCodes.Conflict, ex.ErrorCode);
        Assert.Equal(new Position("e1", 5), ex.CurrentPosition);
    }

    [Fact]
    public async Task UnconditionalPublish_SendsNoIf_AndOtherRefusalsStayPlainPublishExceptions()
    {
        var (_, peer, channel) = await SubscribedAsync("{}");

        var publish = channel.PublishAsync(new JsonObject { ["a"] = 2 }, expected: null);
        var sent = await peer.ExpectAsync("publish");
        Assert.False(sent.TryGetProperty("if", out _));
        await peer.SendRawAsync($$$"""{"type":"reply","id":{{{sent.GetProperty("id").GetInt64()}}},"ok":false,"error":{"code":"forbidden","message":"no"}}""");
        var ex = await Assert.ThrowsAsync<LifelinePublishException>(() => publish.DefaultTimeout());
        Assert.IsNotType<LifelineConflictException>(ex);
        Assert.Equal(ErrorCodes.Forbidden, ex.ErrorCode);
    }

    [Fact]
    public async Task QueuedConditionalPublish_IsResentAfterAReconnect_WithItsKeyAndIf()
    {
        var (client, peer, channel) = await SubscribedAsync("{}");
        var publish = channel.PublishAsync(new JsonObject { ["a"] = 1 }, new Position("e1", 3));
        var first = await peer.ExpectAsync("publish");
        peer.Abort();

        peer = await Server.AcceptAsync();
        await peer.HandshakeAsync();
        await peer.ExpectAsync("subscribe");
        var resent = await peer.ExpectAsync("publish");
        Assert.Equal(first.GetProperty("key").GetString(), resent.GetProperty("key").GetString());
        Assert.Equal(3, resent.GetProperty("if").GetProperty("offset").GetInt64());
        await ReplyOkAsync(peer, resent, 4);
        Assert.Equal(4, await publish.DefaultTimeout());
        GC.KeepAlive(client);
    }

    [Fact]
    public async Task Update_PublishesTheDiff_WithIf_AndCompletesOnceTheConfirmedStateHasIt()
    {
        var (_, peer, channel) = await SubscribedAsync("""{"items":[1],"title":"t"}""");

        var update = channel.UpdateAsync(s => Append(s, 2));
        var sent = await peer.ExpectAsync("publish");
        Assert.Equal("""{"items":[1,2]}""", sent.GetProperty("patch").GetRawText());
        Assert.Equal(new Position("e1", 3), new Position(sent.GetProperty("if").GetProperty("epoch").GetString()!, sent.GetProperty("if").GetProperty("offset").GetInt64()));
        await ReplyOkAsync(peer, sent, 4);

        // The reply alone does not complete it: the delta that brings the confirmed state there does.
        await AssertStaysFalseAsync(() => update.IsCompleted, "UpdateAsync completed before its delta arrived");
        await peer.SendAsync(Delta("list", 4, """{"items":[1,2]}"""));
        Assert.Equal(4, await update.DefaultTimeout());
        Assert.Equal("""{"items":[1,2],"title":"t"}""", channel.GetState().GetRawText());
    }

    [Fact]
    public async Task Update_OnConflict_WaitsUntilCaughtUp_ThenRecomputesFromTheNewState()
    {
        var (_, peer, channel) = await SubscribedAsync("""{"items":[1]}""");
        var seen = new List<string>();

        var update = channel.UpdateAsync(s =>
        {
            seen.Add(s.ToJsonString());
            return Append(s, 9);
        });
        var first = await peer.ExpectAsync("publish");
        await ReplyConflictAsync(peer, first, "e1", 5);

        // Not caught up yet (the client is at 3): no retry until offsets 4 and 5 are in.
        await peer.SendAsync(Delta("list", 4, """{"items":[1,2]}"""));
        await AssertNothingSentAsync(peer);
        await peer.SendAsync(Delta("list", 5, """{"items":[1,2,3]}"""));

        var second = await peer.ExpectAsync("publish");
        Assert.Equal("""{"items":[1,2,3,9]}""", second.GetProperty("patch").GetRawText());
        Assert.Equal(5, second.GetProperty("if").GetProperty("offset").GetInt64());
        Assert.NotEqual(first.GetProperty("key").GetString(), second.GetProperty("key").GetString());
        await ReplyOkAsync(peer, second, 6);
        await peer.SendAsync(Delta("list", 6, """{"items":[1,2,3,9]}"""));

        Assert.Equal(6, await update.DefaultTimeout());
        Assert.Equal(["""{"items":[1]}""", """{"items":[1,2,3]}"""], seen);
    }

    [Fact]
    public async Task Update_GivesUpAfterTheRetryLimit_WithTheLastConflict()
    {
        var (_, peer, channel) = await SubscribedAsync("{}", offset: 0, o => o.UpdateRetryLimit = 2);
        var calls = 0;

        var update = channel.UpdateAsync(s =>
        {
            calls++;
            s["n"] = calls;
            return s;
        });
        for (var k = 1; k <= 3; k++)
        {
            var sent = await peer.ExpectAsync("publish");
            Assert.Equal(k - 1, sent.GetProperty("if").GetProperty("offset").GetInt64());
            await ReplyConflictAsync(peer, sent, "e1", k);
            await peer.SendAsync(Delta("list", k, $$"""{"other":{{k}}}"""));
        }

        var ex = await Assert.ThrowsAsync<LifelineConflictException>(() => update.DefaultTimeout());
        Assert.Equal(new Position("e1", 3), ex.CurrentPosition);
        Assert.Equal(3, calls);
        await AssertNothingSentAsync(peer);
    }

    [Fact]
    public async Task Update_WhoseFunctionThrows_Fails_AndSendsNothing_AndTheChannelIsUnharmed()
    {
        var (_, peer, channel) = await SubscribedAsync("""{"a":1}""");

        var ex = await Assert.ThrowsAsync<FormatException>(() => channel.UpdateAsync(_ => throw new FormatException("bad input")).DefaultTimeout());
        Assert.Equal("bad input", ex.Message);
        await Assert.ThrowsAsync<InvalidOperationException>(() => channel.UpdateAsync(_ => null!).DefaultTimeout());
        await AssertNothingSentAsync(peer);
        Assert.Equal("""{"a":1}""", channel.GetState().GetRawText());
        Assert.Equal(new Position("e1", 3), channel.Position);

        // The channel still works: the next update goes out.
        var update = channel.UpdateAsync(s => Append(s, 1));
        var sent = await peer.ExpectAsync("publish");
        await ReplyOkAsync(peer, sent, 4);
        await peer.SendAsync(Delta("list", 4, """{"items":[1]}"""));
        Assert.Equal(4, await update.DefaultTimeout());
    }

    [Fact]
    public async Task Update_ThatChangesNothing_PublishesNothing_AndReturnsTheCurrentOffset()
    {
        var (_, peer, channel) = await SubscribedAsync("""{"a":[1,2]}""");
        Assert.Equal(3, await channel.UpdateAsync(s => s).DefaultTimeout());
        Assert.Equal(3, await channel.UpdateAsync(_ => new JsonObject { ["a"] = new JsonArray(1, 2) }).DefaultTimeout());
        await AssertNothingSentAsync(peer);
    }

    [Fact]
    public async Task Update_OfAChannelNotSubscribed_IsAnError_AndSendsNothing()
    {
        var client = CreateClient();
        var (peer, _) = await ConnectAsync(client);
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => client.Channel("x").UpdateAsync(s => s).DefaultTimeout());
        Assert.Contains("subscribe", ex.Message, StringComparison.Ordinal);
        await AssertNothingSentAsync(peer);
    }

    [Fact]
    public async Task Update_WaitingForCatchUp_FailsWhenTheClientCloses()
    {
        var (client, peer, channel) = await SubscribedAsync("{}", offset: 0);
        var update = channel.UpdateAsync(s =>
        {
            s["x"] = 1;
            return s;
        });
        var sent = await peer.ExpectAsync("publish");
        await ReplyConflictAsync(peer, sent, "e1", 7);
        await AssertNothingSentAsync(peer);

        var closing = peer.WaitForCloseAsync();
        await client.CloseAsync().DefaultTimeout();
        await closing;
        await Assert.ThrowsAsync<LifelineDisconnectedException>(() => update.DefaultTimeout());
        peer.Release();
    }
}
