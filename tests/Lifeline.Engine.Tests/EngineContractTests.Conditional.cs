using System.Text.Json.Nodes;
using Lifeline.Protocol;
using static Lifeline.Engine.Tests.TestSupport;

namespace Lifeline.Engine.Tests;

/// <summary>Conditional publish (compare-and-set on the channel's position, issue 15) and its idempotency keys.</summary>
public abstract partial class EngineContractTests
{
    [Fact]
    public async Task If_AtTheCurrentPosition_Applies_OnANewChannelToo()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var empty = await engine.GetSnapshotAsync(channel);

        var first = await PublishIfAsync(engine, channel, """{"a":1}""", new Position(empty.Epoch, 0));
        var second = await PublishIfAsync(engine, channel, """{"b":2}""", first.Position);

        Assert.False(first.Conflict);
        Assert.False(second.Conflict);
        Assert.Equal([1L, 2], new[] { first.Offset, second.Offset });
        Assert.Equal(empty.Epoch, second.Epoch);
        JsonEqual("""{"a":1,"b":2}""", (await engine.GetSnapshotAsync(channel)).State);
    }

    [Fact]
    public async Task If_AtAStalePosition_Conflicts_WithTheCurrentPosition_AndChangesNothing()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var observer = new RecordingObserver();
        await using var registration = await engine.ObserveAsync(channel, observer);
        var first = await PublishAsync(engine, channel, """{"v":1}""");
        var second = await PublishAsync(engine, channel, """{"v":2}""");
        Time.Advance(TimeSpan.FromSeconds(1));

        var stale = await PublishIfAsync(engine, channel, """{"v":"stale"}""", first.Position);
        var ahead = await PublishIfAsync(engine, channel, """{"v":"ahead"}""", new Position(first.Epoch, 7));
        var next = await PublishAsync(engine, channel, """{"w":1}""");

        Assert.True(stale.Conflict);
        Assert.False(stale.Duplicate);
        Assert.Equal(second.Position, stale.Position);
        Assert.Equal(NowMs, stale.Ts);
        Assert.True(ahead.Conflict);
        Assert.Equal(second.Position, ahead.Position);
        Assert.Equal(3, next.Offset); // no offset was used by the conflicts
        await observer.WaitForDeltasAsync(3);
        Assert.Equal([1L, 2, 3], observer.Deltas.Select(d => d.Offset));
        Assert.DoesNotContain(observer.Deltas, d => d.Patch.GetRawText().Contains("stale", StringComparison.Ordinal) || d.Patch.GetRawText().Contains("ahead", StringComparison.Ordinal));
        JsonEqual("""{"v":2,"w":1}""", (await engine.GetSnapshotAsync(channel)).State);
        var recovery = await engine.RecoverAsync(channel, first.Position);
        Assert.True(recovery.Recovered);
        Assert.Equal([2L, 3], recovery.Deltas.Select(d => d.Offset));
    }

    [Fact]
    public async Task If_WithAnotherEpoch_Conflicts_EvenAtTheSameOffset()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var first = await PublishAsync(engine, channel, """{"v":1}""");

        var other = await PublishIfAsync(engine, channel, """{"v":2}""", new Position(first.Epoch + "x", 1));
        var onNewChannel = await PublishIfAsync(engine, NewChannel(), """{"v":2}""", new Position(first.Epoch + "x", 0));

        Assert.True(other.Conflict);
        Assert.Equal(first.Position, other.Position);
        Assert.True(onNewChannel.Conflict);
        Assert.Equal(0, onNewChannel.Offset);
        Assert.NotEqual(first.Epoch + "x", onNewChannel.Epoch);
        Assert.Equal(1, (await engine.GetSnapshotAsync(channel)).Offset);
    }

    [Fact]
    public async Task ConcurrentConditionalPublishes_AtTheSamePosition_ExactlyOneApplies()
    {
        const int attempts = 16;
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var start0 = await PublishAsync(engine, channel, """{"n":0}""");

        using var start = new ManualResetEventSlim();
        var tasks = Enumerable.Range(0, attempts).Select(i => Task.Run(async () =>
        {
            start.Wait(TestTimeouts.Default);
            return await PublishIfAsync(engine, channel, $$"""{"n":{{i + 1}}}""", start0.Position);
        })).ToArray();
        start.Set();
        var results = await Task.WhenAll(tasks).DefaultTimeout();

        var winner = Assert.Single(results, r => !r.Conflict);
        Assert.Equal(2, winner.Offset);
        Assert.All(results.Where(r => r.Conflict), r => Assert.Equal(winner.Position, r.Position));
        Assert.Equal(2, (await engine.GetSnapshotAsync(channel)).Offset);
    }

    [Fact]
    public async Task ReadModifyWrite_WithRetriesOnConflict_LosesNoUpdate()
    {
        const int workers = 4;
        const int perWorker = 10;
        const int maxAttempts = 1000; // bounds the loop; contention needs far fewer
        var engine = await NewEngineAsync();
        var channel = NewChannel();

        using var start = new ManualResetEventSlim();
        var tasks = Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            start.Wait(TestTimeouts.Default);
            var conflicts = 0;
            for (var i = 0; i < perWorker; i++)
            {
                for (var attempt = 0; ; attempt++)
                {
                    Assert.True(attempt < maxAttempts, "too many conflicts");
                    var read = await engine.GetSnapshotAsync(channel);
                    var items = read.State.TryGetProperty("items", out var list) ? JsonNode.Parse(list.GetRawText())!.AsArray() : [];
                    items.Add($"w{w}-{i}");
                    var result = await PublishIfAsync(engine, channel, new JsonObject { ["items"] = items }.ToJsonString(), new Position(read.Epoch, read.Offset));
                    if (!result.Conflict)
                    {
                        break;
                    }

                    conflicts++;
                }
            }

            return conflicts;
        })).ToArray();
        start.Set();
        await Task.WhenAll(tasks).DefaultTimeout();

        var final = await engine.GetSnapshotAsync(channel);
        var all = final.State.GetProperty("items").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(workers * perWorker, all.Count);
        Assert.Equal(workers * perWorker, all.Distinct().Count());
        Assert.Equal(workers * perWorker, final.Offset);
    }

    [Fact]
    public async Task KeyAndIf_ARepeatGivesTheFirstResult_EvenAfterThePositionMoved()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var empty = await engine.GetSnapshotAsync(channel);

        var first = await PublishIfAsync(engine, channel, """{"a":1}""", new Position(empty.Epoch, 0), "user:1", "k");
        await PublishAsync(engine, channel, """{"b":1}""");
        var repeat = await PublishIfAsync(engine, channel, """{"a":2}""", new Position(empty.Epoch, 0), "user:1", "k");

        Assert.False(first.Conflict);
        Assert.True(repeat.Duplicate);
        Assert.False(repeat.Conflict);
        Assert.Equal(first with { Duplicate = true }, repeat);
        JsonEqual("""{"a":1,"b":1}""", (await engine.GetSnapshotAsync(channel)).State);
    }

    [Fact]
    public async Task KeyAndIf_AConflictIsNotRemembered_SoARetryWithTheSameKeyApplies()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var first = await PublishAsync(engine, channel, """{"v":1}""");
        var second = await PublishAsync(engine, channel, """{"v":2}""");

        var conflict = await PublishIfAsync(engine, channel, """{"v":3}""", first.Position, "user:1", "k");
        var retry = await PublishIfAsync(engine, channel, """{"v":3}""", conflict.Position, "user:1", "k");
        var repeat = await PublishIfAsync(engine, channel, """{"v":4}""", conflict.Position, "user:1", "k");

        Assert.True(conflict.Conflict);
        Assert.Equal(second.Position, conflict.Position);
        Assert.False(retry.Conflict);
        Assert.False(retry.Duplicate);
        Assert.Equal(3, retry.Offset);
        Assert.Equal(retry with { Duplicate = true }, repeat);
        JsonEqual("""{"v":3}""", (await engine.GetSnapshotAsync(channel)).State);
    }
}
