using static Lifeline.Engine.Tests.TestSupport;

namespace Lifeline.Engine.Tests;

public abstract partial class EngineContractTests
{
    [Fact]
    public async Task RepeatedKey_ReturnsTheFirstResult_AndIsNotAppliedOrFannedOutAgain()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var observer = new RecordingObserver();
        await using var registration = await engine.ObserveAsync(channel, observer);

        var first = await PublishAsync(engine, channel, """{"v":1}""", "user:1", "k1");
        Time.Advance(TimeSpan.FromSeconds(5));
        var repeat = await PublishAsync(engine, channel, """{"v":2,"other":true}""", "user:1", "k1");
        var next = await PublishAsync(engine, channel, """{"w":1}""");

        Assert.False(first.Duplicate);
        Assert.True(repeat.Duplicate);
        Assert.Equal(first with { Duplicate = true }, repeat);
        Assert.Equal(2, next.Offset);
        await observer.WaitForDeltasAsync(2);
        Assert.Equal([1L, 2], observer.Deltas.Select(d => d.Offset));
        JsonEqual("""{"v":1,"w":1}""", (await engine.GetSnapshotAsync(channel)).State);
    }

    [Fact]
    public async Task SameKey_InDifferentScopes_IsAppliedForEach()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();

        var a = await PublishAsync(engine, channel, """{"a":1}""", "user:a", "k");
        var b = await PublishAsync(engine, channel, """{"b":1}""", "user:b", "k");
        var anonymous = await PublishAsync(engine, channel, """{"c":1}""", "session:s1", "k");

        Assert.Equal([1L, 2, 3], new[] { a.Offset, b.Offset, anonymous.Offset });
        Assert.All(new[] { a, b, anonymous }, r => Assert.False(r.Duplicate));
        JsonEqual("""{"a":1,"b":1,"c":1}""", (await engine.GetSnapshotAsync(channel)).State);
    }

    [Fact]
    public async Task PublishWithoutKey_IsNeverDeduplicated()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();

        var first = await PublishAsync(engine, channel, """{"a":1}""", "user:1");
        var second = await PublishAsync(engine, channel, """{"a":1}""", "user:1");

        Assert.Equal(1, first.Offset);
        Assert.Equal(2, second.Offset);
        Assert.False(second.Duplicate);
    }

    [Fact]
    public async Task Key_IsRememberedForTheWindow_ThenForgotten()
    {
        var window = TimeSpan.FromSeconds(30);
        var engine = await NewEngineAsync(EngineTestSettings.Default with { IdempotencyWindow = window });
        var channel = NewChannel();

        var first = await PublishAsync(engine, channel, """{"n":1}""", "user:1", "k");
        Time.Advance(window - TimeSpan.FromSeconds(1));
        var withinWindow = await PublishAsync(engine, channel, """{"n":2}""", "user:1", "k");
        Time.Advance(TimeSpan.FromSeconds(2));
        var afterWindow = await PublishAsync(engine, channel, """{"n":3}""", "user:1", "k");
        var repeatOfNew = await PublishAsync(engine, channel, """{"n":4}""", "user:1", "k");

        Assert.True(withinWindow.Duplicate);
        Assert.Equal(first.Offset, withinWindow.Offset);
        Assert.False(afterWindow.Duplicate);
        Assert.Equal(2, afterWindow.Offset);
        Assert.True(repeatOfNew.Duplicate);
        Assert.Equal(2, repeatOfNew.Offset);
        JsonEqual("""{"n":3}""", (await engine.GetSnapshotAsync(channel)).State);
    }

    [Fact]
    public async Task SameKey_OnAnotherChannel_IsAnotherPublish_AndOnTheSameChannelAppliesOnce()
    {
        var engine = await NewEngineAsync();
        var a = NewChannel();
        var b = NewChannel();

        var onA = await PublishAsync(engine, a, """{"x":1}""", "user:1", "k");
        var onB = await PublishAsync(engine, b, """{"y":1}""", "user:1", "k");
        var againOnA = await PublishAsync(engine, a, """{"x":2}""", "user:1", "k");
        var againOnB = await PublishAsync(engine, b, """{"y":2}""", "user:1", "k");

        Assert.False(onA.Duplicate);
        Assert.False(onB.Duplicate);
        Assert.Equal(1, onB.Offset);
        Assert.Equal(onA with { Duplicate = true }, againOnA);
        Assert.Equal(onB with { Duplicate = true }, againOnB);
        JsonEqual("""{"x":1}""", (await engine.GetSnapshotAsync(a)).State);
        JsonEqual("""{"y":1}""", (await engine.GetSnapshotAsync(b)).State);
        Assert.Equal(1, (await engine.GetSnapshotAsync(a)).Offset);
        Assert.Equal(1, (await engine.GetSnapshotAsync(b)).Offset);
    }

    [Fact]
    public async Task ConcurrentPublishesWithTheSameKey_ApplyOnce()
    {
        const int attempts = 16;
        var engine = await NewEngineAsync();
        var channel = NewChannel();

        using var start = new ManualResetEventSlim();
        var tasks = Enumerable.Range(0, attempts).Select(i => Task.Run(async () =>
        {
            start.Wait(TestTimeouts.Default);
            return await PublishAsync(engine, channel, $$"""{"winner":{{i}}}""", "user:1", "same");
        })).ToArray();
        start.Set();
        var results = await Task.WhenAll(tasks).DefaultTimeout();

        Assert.Single(results, r => !r.Duplicate);
        Assert.All(results, r => Assert.Equal(1, r.Offset));
        Assert.Equal(1, (await engine.GetSnapshotAsync(channel)).Offset);
    }
}
