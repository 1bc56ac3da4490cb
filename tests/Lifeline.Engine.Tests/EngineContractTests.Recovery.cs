using Lifeline.Protocol;
using static Lifeline.Engine.Tests.TestSupport;

namespace Lifeline.Engine.Tests;

public abstract partial class EngineContractTests
{
    private async Task<(string Channel, string Epoch)> PublishNumbersAsync(ILifelineEngine engine, int count)
    {
        var channel = NewChannel();
        var epoch = "";
        for (var i = 1; i <= count; i++)
        {
            epoch = (await PublishAsync(engine, channel, $$"""{"n":{{i}},"k{{i}}":true}""")).Epoch;
        }

        return (channel, epoch);
    }

    private static void AssertSnapshot(RecoveryResult recovery, string epoch, long offset)
    {
        Assert.False(recovery.Recovered);
        Assert.Empty(recovery.Deltas);
        Assert.Equal(epoch, recovery.Epoch);
        Assert.Equal(offset, recovery.Offset);
        Assert.Equal(System.Text.Json.JsonValueKind.Object, recovery.State.ValueKind);
    }

    private static void AssertRecovered(RecoveryResult recovery, string epoch, long from, long to)
    {
        Assert.True(recovery.Recovered);
        Assert.Equal(epoch, recovery.Epoch);
        Assert.Equal(to, recovery.Offset);
        Assert.Equal(LongRange(from, to), recovery.Deltas.Select(d => d.Offset));
        Assert.All(recovery.Deltas, d => Assert.Equal(epoch, d.Epoch));
    }

    private static IEnumerable<long> LongRange(long from, long to)
    {
        for (var i = from; i <= to; i++)
        {
            yield return i;
        }
    }

    [Fact]
    public async Task Recover_WithoutPosition_GivesTheSnapshot()
    {
        var engine = await NewEngineAsync();
        var (channel, epoch) = await PublishNumbersAsync(engine, 3);

        var recovery = await engine.RecoverAsync(channel, null);

        AssertSnapshot(recovery, epoch, 3);
        Assert.Equal(channel, recovery.Channel);
        JsonEqual("""{"n":3,"k1":true,"k2":true,"k3":true}""", recovery.State);
        JsonEqual((await engine.GetSnapshotAsync(channel)).State, recovery.State);
    }

    [Fact]
    public async Task Recover_FromACoveredPosition_GivesTheDeltasAfterIt()
    {
        var engine = await NewEngineAsync();
        var (channel, epoch) = await PublishNumbersAsync(engine, 5);

        var recovery = await engine.RecoverAsync(channel, new Position(epoch, 2));

        AssertRecovered(recovery, epoch, 3, 5);
        JsonEqual("""{"n":3,"k3":true}""", recovery.Deltas[0].Patch);
        JsonEqual("""{"n":5,"k5":true}""", recovery.Deltas[2].Patch);
        Assert.All(recovery.Deltas, d => Assert.Equal(channel, d.Channel));
    }

    [Fact]
    public async Task Recover_FromOffsetZero_GivesTheWholeHistory()
    {
        var engine = await NewEngineAsync();
        var (channel, epoch) = await PublishNumbersAsync(engine, 4);

        AssertRecovered(await engine.RecoverAsync(channel, new Position(epoch, 0)), epoch, 1, 4);
    }

    [Fact]
    public async Task Recover_FromTheCurrentOffset_IsRecoveredWithNoDeltas()
    {
        var engine = await NewEngineAsync();
        var (channel, epoch) = await PublishNumbersAsync(engine, 3);

        AssertRecovered(await engine.RecoverAsync(channel, new Position(epoch, 3)), epoch, 4, 3);
    }

    [Fact]
    public async Task Recover_FromBeyondTheCurrentOffset_GivesTheSnapshot()
    {
        var engine = await NewEngineAsync();
        var (channel, epoch) = await PublishNumbersAsync(engine, 3);

        AssertSnapshot(await engine.RecoverAsync(channel, new Position(epoch, 7)), epoch, 3);
    }

    [Fact]
    public async Task Recover_FromAnotherEpoch_GivesTheSnapshot()
    {
        var engine = await NewEngineAsync();
        var (channel, epoch) = await PublishNumbersAsync(engine, 3);

        AssertSnapshot(await engine.RecoverAsync(channel, new Position("not-" + epoch, 1)), epoch, 3);
        AssertSnapshot(await engine.RecoverAsync(channel, new Position("not-" + epoch, 3)), epoch, 3);
    }

    [Fact]
    public async Task Recover_BeyondTheHistoryCount_GivesTheSnapshot()
    {
        var engine = await NewEngineAsync(EngineTestSettings.Default with { HistorySize = 10 });
        var (channel, epoch) = await PublishNumbersAsync(engine, 25);

        // The history holds offsets 16..25: a subscriber at 15 needs 16.. (covered), one at 14 needs 15 (gone).
        AssertRecovered(await engine.RecoverAsync(channel, new Position(epoch, 15)), epoch, 16, 25);
        AssertSnapshot(await engine.RecoverAsync(channel, new Position(epoch, 14)), epoch, 25);
        AssertSnapshot(await engine.RecoverAsync(channel, new Position(epoch, 0)), epoch, 25);
    }

    [Fact]
    public async Task Recover_BeyondTheHistoryAge_GivesTheSnapshot()
    {
        var engine = await NewEngineAsync(EngineTestSettings.Default with { HistoryAge = TimeSpan.FromMinutes(1) });
        var (channel, epoch) = await PublishNumbersAsync(engine, 2);
        Time.Advance(TimeSpan.FromSeconds(30));
        await PublishAsync(engine, channel, """{"n":3}""");

        AssertRecovered(await engine.RecoverAsync(channel, new Position(epoch, 0)), epoch, 1, 3);

        // Offsets 1 and 2 are now 70 s old, offset 3 is 40 s old.
        Time.Advance(TimeSpan.FromSeconds(40));
        AssertSnapshot(await engine.RecoverAsync(channel, new Position(epoch, 1)), epoch, 3);
        AssertRecovered(await engine.RecoverAsync(channel, new Position(epoch, 2)), epoch, 3, 3);

        // Nothing published since: the history ages on reads too.
        Time.Advance(TimeSpan.FromSeconds(30));
        AssertSnapshot(await engine.RecoverAsync(channel, new Position(epoch, 2)), epoch, 3);
        AssertRecovered(await engine.RecoverAsync(channel, new Position(epoch, 3)), epoch, 4, 3);
    }

    [Fact]
    public async Task Recover_WhileSubscribed_OnAnEmptyChannel_IsRecoveredAtOffsetZero()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        await using var registration = await engine.ObserveAsync(channel, new RecordingObserver());
        var snapshot = await engine.GetSnapshotAsync(channel);

        var recovery = await engine.RecoverAsync(channel, new Position(snapshot.Epoch, 0));

        AssertRecovered(recovery, snapshot.Epoch, 1, 0);
    }
}
