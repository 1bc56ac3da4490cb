using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Protocol;
using Microsoft.Extensions.Time.Testing;
using static Lifeline.Engine.Tests.TestSupport;

namespace Lifeline.Engine.Tests;

/// <summary>The limits an engine under test is created with (small, so bounds are cheap to reach).</summary>
/// <param name="HistorySize">The most deltas kept per channel.</param>
/// <param name="HistoryAge">How long deltas are kept.</param>
/// <param name="IdempotencyWindow">How long idempotency keys are remembered.</param>
public sealed record EngineTestSettings(int HistorySize, TimeSpan HistoryAge, TimeSpan IdempotencyWindow)
{
    /// <summary>History 100 deltas and 5 minutes, keys remembered 120 s.</summary>
    public static EngineTestSettings Default { get; } = new(100, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(120));
}

/// <summary>
/// Every guarantee documented on <see cref="ILifelineEngine"/>, run against one implementation. Subclass it once
/// per engine and implement <see cref="CreateEngineAsync"/>; each test uses fresh channel names, so engines that
/// share a backing store (Redis) can run it too. Time is a <see cref="FakeTimeProvider"/> that only tests move.
/// </summary>
public abstract partial class EngineContractTests : IAsyncLifetime
{
    private readonly List<ILifelineEngine> _engines = [];

    /// <summary>The clock given to every engine of the test.</summary>
    protected FakeTimeProvider Time { get; } = new(StartTime);

    /// <summary>Creates the engine under test.</summary>
    /// <param name="time">The clock the engine must use for timestamps and every expiry.</param>
    /// <param name="settings">The history and idempotency limits to configure.</param>
    /// <returns>A ready engine; the test base disposes it.</returns>
    protected abstract ValueTask<ILifelineEngine> CreateEngineAsync(TimeProvider time, EngineTestSettings settings);

    /// <inheritdoc />
    public Task InitializeAsync() => Task.CompletedTask;

    /// <inheritdoc />
    public virtual async Task DisposeAsync()
    {
        foreach (var engine in _engines)
        {
            await engine.DisposeAsync();
        }
    }

    private async Task<ILifelineEngine> NewEngineAsync(EngineTestSettings? settings = null)
    {
        var engine = await CreateEngineAsync(Time, settings ?? EngineTestSettings.Default);
        _engines.Add(engine);
        return engine;
    }

    private static async Task<PublishResult> PublishAsync(ILifelineEngine engine, string channel, string patch, string? scope = null, string? key = null) =>
        await engine.PublishAsync(new PublishRequest(channel, J(patch), scope, key));

    private static async Task<PublishResult> PublishIfAsync(ILifelineEngine engine, string channel, string patch, Position expected, string? scope = null, string? key = null) =>
        await engine.PublishAsync(new PublishRequest(channel, J(patch), scope, key, expected));

    private long NowMs => Time.GetUtcNow().ToUnixTimeMilliseconds();

    [Fact]
    public async Task NewChannel_SnapshotIsAnEmptyObjectAtOffsetZero()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();

        var snapshot = await engine.GetSnapshotAsync(channel);

        Assert.Equal(channel, snapshot.Channel);
        Assert.Equal(0, snapshot.Offset);
        Assert.False(string.IsNullOrEmpty(snapshot.Epoch));
        JsonEqual("{}", snapshot.State);
    }

    [Fact]
    public async Task Publish_AssignsConsecutiveOffsetsFromOne_InOneEpoch()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();

        var results = new List<PublishResult>();
        for (var i = 0; i < 5; i++)
        {
            results.Add(await PublishAsync(engine, channel, $$"""{"n":{{i}}}"""));
            Time.Advance(TimeSpan.FromMilliseconds(10));
        }

        Assert.Equal([1L, 2, 3, 4, 5], results.Select(r => r.Offset));
        Assert.Single(results.Select(r => r.Epoch).Distinct());
        Assert.All(results, r => Assert.False(r.Duplicate));
        Assert.Equal(StartTime.ToUnixTimeMilliseconds(), results[0].Ts);
        Assert.Equal(StartTime.ToUnixTimeMilliseconds() + 40, results[4].Ts);
        var snapshot = await engine.GetSnapshotAsync(channel);
        Assert.Equal(results[0].Epoch, snapshot.Epoch);
        Assert.Equal(5, snapshot.Offset);
    }

    [Fact]
    public async Task Channels_HaveIndependentOffsetsAndStates()
    {
        var engine = await NewEngineAsync();
        var a = NewChannel();
        var b = NewChannel();

        await PublishAsync(engine, a, """{"x":1}""");
        await PublishAsync(engine, a, """{"x":2}""");
        var first = await PublishAsync(engine, b, """{"y":1}""");

        Assert.Equal(1, first.Offset);
        JsonEqual("""{"x":2}""", (await engine.GetSnapshotAsync(a)).State);
        JsonEqual("""{"y":1}""", (await engine.GetSnapshotAsync(b)).State);
    }

    [Fact]
    public async Task Snapshot_EqualsApplyingEveryPatchInOrder()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        string[] patches =
        [
            """{"title":"a","items":{"1":{"done":false,"text":"x"}}}""",
            """{"items":{"2":{"done":false}}}""",
            """{"items":{"1":{"done":true}},"tags":["a","b"]}""",
            """{"title":null,"tags":["c"],"count":3}""",
            """{"items":{"2":null},"nested":{"deep":{"deeper":{"v":1}}}}""",
            """{"nested":{"deep":{"deeper":{"v":null,"w":[1,{"k":null}]}}}}""",
        ];

        var expected = new JsonObject();
        foreach (var patch in patches)
        {
            await PublishAsync(engine, channel, patch);
            JsonMergePatch.ApplyToObject(expected, J(patch));
        }

        var snapshot = await engine.GetSnapshotAsync(channel);
        Assert.Equal(patches.Length, snapshot.Offset);
        JsonEqual(expected.ToJsonString(), snapshot.State);
    }

    [Fact]
    public async Task Publish_FollowsMergePatchSemantics_NullDeletes_ObjectsMerge_ArraysReplace()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();

        await PublishAsync(engine, channel, """{"a":1,"b":{"c":1,"d":2},"list":[1,2,3],"gone":"x"}""");
        await PublishAsync(engine, channel, """{"gone":null,"b":{"c":null,"e":{"f":null,"g":1}},"list":[4],"missing":null}""");

        JsonEqual("""{"a":1,"b":{"d":2,"e":{"g":1}},"list":[4]}""", (await engine.GetSnapshotAsync(channel)).State);
    }

    [Fact]
    public async Task Publish_KeepsItsOwnCopyOfThePatch()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var observer = new RecordingObserver();
        await using var registration = await engine.ObserveAsync(channel, observer);

        using (var document = JsonDocument.Parse("""{"kept":true}"""))
        {
            await engine.PublishAsync(new PublishRequest(channel, document.RootElement));
        }

        await observer.WaitForDeltasAsync(1);
        JsonEqual("""{"kept":true}""", observer.Deltas[0].Patch);
        var recovery = await engine.RecoverAsync(channel, new Position(observer.Deltas[0].Epoch, 0));
        JsonEqual("""{"kept":true}""", Assert.Single(recovery.Deltas).Patch);
    }

    [Fact]
    public async Task Publish_WithCancelledToken_IsNotApplied()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            async () => await engine.PublishAsync(new PublishRequest(channel, J("""{"a":1}""")), cts.Token));

        Assert.Equal(0, (await engine.GetSnapshotAsync(channel)).Offset);
    }

    [Fact]
    public async Task Epoch_IsStableWhileTheChannelHasState()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();

        var first = await PublishAsync(engine, channel, """{"a":1}""");
        Time.Advance(TimeSpan.FromHours(1));
        var second = await PublishAsync(engine, channel, """{"a":2}""");

        Assert.Equal(first.Epoch, second.Epoch);
        Assert.Equal(first.Epoch, (await engine.GetSnapshotAsync(channel)).Epoch);
        Assert.Equal(first.Epoch, (await engine.RecoverAsync(channel, null)).Epoch);
    }
}
