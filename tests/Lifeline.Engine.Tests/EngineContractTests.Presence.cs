using static Lifeline.Engine.Tests.TestSupport;

namespace Lifeline.Engine.Tests;

public abstract partial class EngineContractTests
{
    [Fact]
    public async Task Presence_JoinsOnTheFirstMemberKey_LeavesOnTheLast_EachOnce()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var observer = new RecordingObserver();
        await using var registration = await engine.ObserveAsync(channel, observer);

        Assert.True(await engine.AddPresenceAsync(channel, "u1", "tab-1"));
        Time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(await engine.AddPresenceAsync(channel, "u1", "tab-2"));
        Assert.False(await engine.AddPresenceAsync(channel, "u1", "tab-2"));
        Assert.Equal(["u1"], await engine.GetPresenceAsync(channel));

        Assert.False(await engine.RemovePresenceAsync(channel, "u1", "tab-1", "disconnect"));
        Assert.Equal(["u1"], await engine.GetPresenceAsync(channel));
        Time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await engine.RemovePresenceAsync(channel, "u1", "tab-2", "unsubscribe"));
        Assert.Empty(await engine.GetPresenceAsync(channel));

        await observer.WaitForPresenceAsync(2);
        var join = observer.Presence[0];
        var leave = observer.Presence[1];
        Assert.Equal(new PresenceEvent(channel, "join", "u1", null, StartTime.ToUnixTimeMilliseconds()), join);
        Assert.Equal(new PresenceEvent(channel, "leave", "u1", "unsubscribe", StartTime.ToUnixTimeMilliseconds() + 2000), leave);

        // Nothing else was emitted: a delta published afterwards arrives and the presence count is still 2.
        await PublishAsync(engine, channel, """{"a":1}""");
        await observer.WaitForDeltasAsync(1);
        Assert.Equal(2, observer.Presence.Count);
    }

    [Fact]
    public async Task Presence_RemovingAnUnknownMember_ReturnsFalse_AndEmitsNothing()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var observer = new RecordingObserver();
        await using var registration = await engine.ObserveAsync(channel, observer);
        await engine.AddPresenceAsync(channel, "u1", "s1");

        Assert.False(await engine.RemovePresenceAsync(channel, "u1", "s-unknown", "disconnect"));
        Assert.False(await engine.RemovePresenceAsync(channel, "u-unknown", "s1", "disconnect"));
        Assert.False(await engine.RemovePresenceAsync(NewChannel(), "u1", "s1", "disconnect"));

        Assert.Equal(["u1"], await engine.GetPresenceAsync(channel));
        await PublishAsync(engine, channel, """{"a":1}""");
        await observer.WaitForDeltasAsync(1);
        Assert.Equal(["join"], observer.Presence.Select(p => p.Event));
    }

    [Fact]
    public async Task Presence_TracksUsersPerChannel_SortedOrdinally()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var other = NewChannel();

        foreach (var user in new[] { "b", "a", "B", "_", "aa" })
        {
            Assert.True(await engine.AddPresenceAsync(channel, user, "s-" + user));
        }

        await engine.AddPresenceAsync(other, "zed", "s-zed");

        Assert.Equal(["B", "_", "a", "aa", "b"], await engine.GetPresenceAsync(channel));
        Assert.Equal(["zed"], await engine.GetPresenceAsync(other));
        Assert.Empty(await engine.GetPresenceAsync(NewChannel()));
    }

    [Fact]
    public async Task Presence_OfTwoUsersSharingAMemberKeyName_IsKeptApart()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();

        Assert.True(await engine.AddPresenceAsync(channel, "u1", "same"));
        Assert.True(await engine.AddPresenceAsync(channel, "u2", "same"));
        Assert.True(await engine.RemovePresenceAsync(channel, "u1", "same", "disconnect"));

        Assert.Equal(["u2"], await engine.GetPresenceAsync(channel));
    }

    [Fact]
    public async Task Presence_RejoiningAfterLeaving_EmitsANewJoin()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var observer = new RecordingObserver();
        await using var registration = await engine.ObserveAsync(channel, observer);

        await engine.AddPresenceAsync(channel, "u1", "s1");
        await engine.RemovePresenceAsync(channel, "u1", "s1", "disconnect");
        Assert.True(await engine.AddPresenceAsync(channel, "u1", "s2"));

        await observer.WaitForPresenceAsync(3);
        Assert.Equal(["join", "leave", "join"], observer.Presence.Select(p => p.Event));
        Assert.Equal("disconnect", observer.Presence[1].Reason);
    }

    [Fact]
    public async Task Session_IsFoundUntilItExpires()
    {
        var engine = await NewEngineAsync();
        var session = new SessionRecord("tok-" + Guid.NewGuid().ToString("N"), "u1", Time.GetUtcNow());
        await engine.StoreSessionAsync(session, Time.GetUtcNow().AddMinutes(2));

        Assert.Equal(session, await engine.FindSessionAsync(session.Token));
        Time.Advance(TimeSpan.FromMinutes(2) - TimeSpan.FromMilliseconds(1));
        Assert.Equal(session, await engine.FindSessionAsync(session.Token));
        Time.Advance(TimeSpan.FromMilliseconds(2));
        Assert.Null(await engine.FindSessionAsync(session.Token));
    }

    [Fact]
    public async Task Session_StoredAgain_GetsTheNewExpiry()
    {
        var engine = await NewEngineAsync();
        var session = new SessionRecord("tok-" + Guid.NewGuid().ToString("N"), null, Time.GetUtcNow());
        await engine.StoreSessionAsync(session, Time.GetUtcNow().AddMinutes(1));
        Time.Advance(TimeSpan.FromSeconds(50));
        await engine.StoreSessionAsync(session, Time.GetUtcNow().AddMinutes(1));

        Time.Advance(TimeSpan.FromSeconds(50));
        Assert.Equal(session, await engine.FindSessionAsync(session.Token));
        Time.Advance(TimeSpan.FromSeconds(11));
        Assert.Null(await engine.FindSessionAsync(session.Token));
    }

    [Fact]
    public async Task Session_Unknown_IsNull()
    {
        var engine = await NewEngineAsync();

        Assert.Null(await engine.FindSessionAsync("tok-" + Guid.NewGuid().ToString("N")));
    }
}
