using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Client.Tests.Infrastructure;
using Lifeline.Protocol;

namespace Lifeline.Client.Tests;

/// <summary>
/// <see cref="LifelineChannel.UpdateAsync"/> under contention (issue 15): the early retry (a delta past the update's
/// <c>if</c> settles it as a conflict without waiting for the reply) and the yield of a new update on a contended channel.
/// </summary>
public class UpdateFairnessTests : UpdateTestBase
{
    private static long IfOffset(JsonElement publish) => publish.GetProperty("if").GetProperty("offset").GetInt64();

    private static string Key(JsonElement publish) => publish.GetProperty("key").GetString()!;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ADeltaPastTheIf_RetriesAtOnce_AndTheLateConflictReplyIsIgnored(bool optimistic)
    {
        var (_, peer, channel) = await SubscribedAsync("""{"items":[1]}""", configure: o => o.Optimistic = optimistic);
        var seen = new List<string>();
        var update = channel.UpdateAsync(s =>
        {
            seen.Add(s.ToJsonString());
            return Append(s, 9);
        });
        var first = await peer.ExpectAsync("publish");
        Assert.Equal(3, IfOffset(first));

        // Another writer's delta: the first publish can only be a conflict now, so the retry goes out before its reply.
        await peer.SendAsync(Delta("list", 4, """{"items":[1,2]}"""));
        var second = await peer.ExpectAsync("publish");
        Assert.Equal(4, IfOffset(second));
        Assert.Equal("""{"items":[1,2,9]}""", second.GetProperty("patch").GetRawText());
        Assert.NotEqual(Key(first), Key(second));
        Assert.Equal(1, channel.PendingCount);

        // The stale publish's conflict reply changes nothing: the update still waits for its retry.
        await ReplyConflictAsync(peer, first, "e1", 4);
        await AssertNothingSentAsync(peer);
        Assert.False(update.IsCompleted);
        Assert.Equal(optimistic ? """{"items":[1,2,9]}""" : """{"items":[1,2]}""", channel.GetState().GetRawText());

        await ReplyOkAsync(peer, second, 5);
        await peer.SendAsync(Delta("list", 5, """{"items":[1,2,9]}"""));
        Assert.Equal(5, await update.DefaultTimeout());
        Assert.Equal(["""{"items":[1]}""", """{"items":[1,2]}"""], seen);
        Assert.Equal(0, channel.PendingCount);
        Assert.Equal("""{"items":[1,2,9]}""", channel.GetState().GetRawText());
    }

    [Fact]
    public async Task EarlyRetries_CountAgainstTheLimit_AndTheLastOneFailsWithTheDeltasPosition()
    {
        var (_, peer, channel) = await SubscribedAsync("{}", offset: 0, o => o.UpdateRetryLimit = 1);
        var calls = 0;
        var update = channel.UpdateAsync(s =>
        {
            s["n"] = ++calls;
            return s;
        });

        var first = await peer.ExpectAsync("publish");
        await peer.SendAsync(Delta("list", 1, """{"other":1}"""));
        var second = await peer.ExpectAsync("publish");
        Assert.Equal(1, IfOffset(second));
        await peer.SendAsync(Delta("list", 2, """{"other":2}"""));

        // No reply at all: the second delta settles the retry too, and the limit (1 retry) is reached.
        var ex = await Assert.ThrowsAsync<LifelineConflictException>(() => update.DefaultTimeout());
        Assert.Equal(new Position("e1", 2), ex.CurrentPosition);
        Assert.Equal(ErrorCodes.Conflict, ex.ErrorCode);
        Assert.Equal(2, calls);
        Assert.Equal(0, channel.PendingCount);

        // Their late replies find nothing to settle, and nothing more is sent.
        await ReplyConflictAsync(peer, first, "e1", 2);
        await ReplyConflictAsync(peer, second, "e1", 2);
        await AssertNothingSentAsync(peer);
    }

    [Fact]
    public async Task ASupersededPublish_IsNeverResentAfterAReconnect_OnlyTheRetryIs()
    {
        var (client, peer, channel) = await SubscribedAsync("{}");
        var update = channel.UpdateAsync(s => Append(s, 1));
        var first = await peer.ExpectAsync("publish");
        await peer.SendAsync(Delta("list", 4, """{"x":1}"""));
        var second = await peer.ExpectAsync("publish");
        peer.Abort();

        peer = await Server.AcceptAsync();
        await peer.HandshakeAsync();
        var subscribe = await peer.ExpectAsync("subscribe");
        Assert.Equal(4, subscribe.GetProperty("since").GetProperty("offset").GetInt64());
        var resent = await peer.ExpectAsync("publish");
        Assert.Equal(Key(second), resent.GetProperty("key").GetString());
        Assert.NotEqual(Key(first), resent.GetProperty("key").GetString());
        Assert.Equal(4, IfOffset(resent));
        await AssertNothingSentAsync(peer);

        await peer.SendAsync(new SubscribedMessage(subscribe.GetProperty("id").GetInt64(), "list", "e1", 4, true));
        await ReplyOkAsync(peer, resent, 5);
        await peer.SendAsync(Delta("list", 5, """{"items":[1]}"""));
        Assert.Equal(5, await update.DefaultTimeout());
        GC.KeepAlive(client);
    }

    [Fact]
    public async Task APublishSentOnAnEarlierConnection_IsNotSettledEarly_ItsOwnDeltaMayBeTheOneThatArrives()
    {
        var (client, peer, channel) = await SubscribedAsync("{}");
        var calls = 0;
        var update = channel.UpdateAsync(s =>
        {
            calls++;
            return Append(s, 1);
        });
        var first = await peer.ExpectAsync("publish");
        peer.Abort();

        // The server had applied it at 4 and its reply was lost: the catch-up brings its own delta before the
        // resent publish's reply (the key's first result).
        peer = await Server.AcceptAsync();
        await peer.HandshakeAsync();
        var subscribe = await peer.ExpectAsync("subscribe");
        var resent = await peer.ExpectAsync("publish");
        Assert.Equal(Key(first), resent.GetProperty("key").GetString());
        await peer.SendPackedAsync(
            new SubscribedMessage(subscribe.GetProperty("id").GetInt64(), "list", "e1", 4, true),
            Delta("list", 4, """{"items":[1]}"""));
        await AssertNothingSentAsync(peer);
        Assert.False(update.IsCompleted);

        await ReplyOkAsync(peer, resent, 4);
        Assert.Equal(4, await update.DefaultTimeout());
        Assert.Equal(1, calls);
        Assert.Equal("""{"items":[1]}""", channel.GetState().GetRawText());
        GC.KeepAlive(client);
    }

    [Fact]
    public async Task APlainConditionalPublish_WaitsForTheServersAnswer()
    {
        var (_, peer, channel) = await SubscribedAsync("{}");
        var publish = channel.PublishAsync(new JsonObject { ["a"] = 1 }, new Position("e1", 3));
        var sent = await peer.ExpectAsync("publish");
        await peer.SendAsync(Delta("list", 4, """{"b":1}"""));
        await AssertNothingSentAsync(peer);
        Assert.False(publish.IsCompleted);
        Assert.Equal(1, channel.PendingCount);

        await ReplyConflictAsync(peer, sent, "e1", 4);
        var ex = await Assert.ThrowsAsync<LifelineConflictException>(() => publish.DefaultTimeout());
        Assert.Equal(new Position("e1", 4), ex.CurrentPosition);
    }

    [Fact]
    public async Task CancellingAfterAnEarlyRetry_StopsTheUpdate_AndDropsItsPublish()
    {
        var (_, peer, channel) = await SubscribedAsync("{}", configure: o => o.Optimistic = true);
        using var cts = new CancellationTokenSource();
        var update = channel.UpdateAsync(s => Append(s, 1), cts.Token);
        var first = await peer.ExpectAsync("publish");
        await peer.SendAsync(Delta("list", 4, """{"x":1}"""));
        var second = await peer.ExpectAsync("publish");

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => update.DefaultTimeout());
        Assert.Equal(0, channel.PendingCount);
        Assert.Equal("""{"x":1}""", channel.GetState().GetRawText());

        await ReplyConflictAsync(peer, first, "e1", 4);
        await ReplyConflictAsync(peer, second, "e1", 5);
        await AssertNothingSentAsync(peer);
        Assert.Equal(0, channel.PendingCount);
    }

    [Fact]
    public async Task OnAContendedChannel_ANewUpdateWaitsForTheNextDelta_AtMostTheYield_AndNotAfterTheWindow()
    {
        var time = NewFakeTime();
        var (_, peer, channel) = await SubscribedAsync("{}", offset: 0, o => o.TimeProvider = time);

        // Uncontended: the first update goes out at once (fake time never moves here).
        var update = channel.UpdateAsync(s => Append(s, 1));
        var sent = await peer.ExpectAsync("publish");
        await peer.SendAsync(Delta("list", 1, """{"items":[7]}"""));
        sent = await peer.ExpectAsync("publish");
        await ReplyOkAsync(peer, sent, 2);
        await peer.SendAsync(Delta("list", 2, """{"items":[7,1]}"""));
        Assert.Equal(2, await update.DefaultTimeout());

        // It conflicted: the next update lets the other writer go first, and starts from its delta.
        update = channel.UpdateAsync(s => Append(s, 2));
        await AssertNothingSentAsync(peer);
        await peer.SendAsync(Delta("list", 3, """{"items":[7,1,8]}"""));
        sent = await peer.ExpectAsync("publish");
        Assert.Equal(3, IfOffset(sent));
        Assert.Equal("""{"items":[7,1,8,2]}""", sent.GetProperty("patch").GetRawText());
        await ReplyOkAsync(peer, sent, 4);
        await peer.SendAsync(Delta("list", 4, """{"items":[7,1,8,2]}"""));
        Assert.Equal(4, await update.DefaultTimeout());

        // No other writer: it waits ContentionYield at most.
        update = channel.UpdateAsync(s => Append(s, 3));
        await AssertNothingSentAsync(peer);
        time.Advance(LifelineChannel.ContentionYield);
        sent = await peer.ExpectAsync("publish");
        Assert.Equal(4, IfOffset(sent));
        await ReplyOkAsync(peer, sent, 5);
        await peer.SendAsync(Delta("list", 5, """{"items":[7,1,8,2,3]}"""));
        Assert.Equal(5, await update.DefaultTimeout());

        // Once the last conflict is ContentionWindow old, updates go out at once again.
        time.Advance(LifelineChannel.ContentionWindow);
        update = channel.UpdateAsync(s => Append(s, 4));
        sent = await peer.ExpectAsync("publish");
        Assert.Equal(5, IfOffset(sent));
        await ReplyOkAsync(peer, sent, 6);
        await peer.SendAsync(Delta("list", 6, """{"items":[7,1,8,2,3,4]}"""));
        Assert.Equal(6, await update.DefaultTimeout());
    }

    [Fact]
    public async Task CancellingDuringTheYield_StopsTheUpdate_AndSendsNothing()
    {
        var time = NewFakeTime();
        var (_, peer, channel) = await SubscribedAsync("{}", offset: 0, o => o.TimeProvider = time);
        var update = channel.UpdateAsync(s => Append(s, 1));
        var sent = await peer.ExpectAsync("publish");
        await ReplyConflictAsync(peer, sent, "e1", 1);
        await peer.SendAsync(Delta("list", 1, """{"items":[7]}"""));
        sent = await peer.ExpectAsync("publish");
        await ReplyOkAsync(peer, sent, 2);
        await peer.SendAsync(Delta("list", 2, """{"items":[7,1]}"""));
        await update.DefaultTimeout();

        using var cts = new CancellationTokenSource();
        update = channel.UpdateAsync(s => Append(s, 2), cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => update.DefaultTimeout());
        time.Advance(LifelineChannel.ContentionYield);
        await AssertNothingSentAsync(peer);
        Assert.Equal(0, channel.PendingCount);
    }
}
