using System.Text.Json;
using Lifeline.Engine;
using Lifeline.Server.Channels;

namespace Lifeline.Server.Tests;

/// <summary>The merge of a recovery read with the live deltas buffered while it ran.</summary>
public sealed class ChannelRecoveryTests
{
    private static JsonElement J(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static void JsonEqual(string expected, JsonElement actual) =>
        Assert.True(
            System.Text.Json.Nodes.JsonNode.DeepEquals(System.Text.Json.Nodes.JsonNode.Parse(expected), System.Text.Json.Nodes.JsonNode.Parse(actual.GetRawText())),
            $"expected {expected}, got {actual.GetRawText()}");

    private const string Channel = "room";
    private const string Epoch = "e1";

    private static ChannelDelta D(long offset, string epoch = Epoch) => new(Channel, epoch, offset, J($$"""{"o":{{offset}}}"""), 1000 + offset);

    private static ChannelDelta[] Ds(params long[] offsets) => [.. offsets.Select(o => D(o))];

    private static RecoveryResult Recovered(long offset, params long[] deltas) => new(Channel, Epoch, offset, true, Ds(deltas), default);

    private static RecoveryResult Snapshot(long offset) => new(Channel, Epoch, offset, false, [], J($$"""{"at":{{offset}}}"""));

    private static void AssertPlan(RecoveryPlan plan, IEnumerable<long> toSend, long lastOffset, bool gap = false, bool epochMismatch = false)
    {
        Assert.Equal(toSend, plan.ToSend.Select(d => d.Offset));
        Assert.Equal(lastOffset, plan.LastOffset);
        Assert.Equal(gap, plan.GapDetected);
        Assert.Equal(epochMismatch, plan.EpochMismatch);
        Assert.Equal(gap || epochMismatch, plan.ResyncRequired);
        Assert.Equal(new Lifeline.Protocol.Position(Epoch, lastOffset), plan.LastPosition);
    }

    [Fact]
    public void Recovered_NoBuffered_SendsTheRecoveredDeltas()
    {
        var plan = ChannelRecovery.Merge(Recovered(5, 3, 4, 5), []);

        Assert.True(plan.Recovered);
        Assert.Null(plan.Snapshot);
        Assert.Equal(Epoch, plan.Epoch);
        Assert.Equal(5, plan.Offset);
        Assert.Equal(Channel, plan.Channel);
        AssertPlan(plan, [3, 4, 5], 5);
    }

    [Fact]
    public void Recovered_UpToDate_NoBuffered_SendsNothing()
    {
        var plan = ChannelRecovery.Merge(Recovered(5), []);

        Assert.True(plan.Recovered);
        AssertPlan(plan, [], 5);
    }

    [Fact]
    public void Snapshot_NoBuffered_SendsTheSnapshotOnly()
    {
        var plan = ChannelRecovery.Merge(Snapshot(7), []);

        Assert.False(plan.Recovered);
        Assert.NotNull(plan.Snapshot);
        JsonEqual("""{"at":7}""", plan.Snapshot!.Value);
        Assert.Equal(7, plan.Offset);
        AssertPlan(plan, [], 7);
    }

    [Fact]
    public void Recovered_OverlappingBuffered_AppendsOnlyWhatFollows()
    {
        // Live deltas 4 and 5 arrived before the read, 6 and 7 after it.
        var plan = ChannelRecovery.Merge(Recovered(5, 3, 4, 5), Ds(4, 5, 6, 7));

        AssertPlan(plan, [3, 4, 5, 6, 7], 7);
        Assert.Equal(5, plan.Offset);
    }

    [Fact]
    public void Snapshot_OverlappingBuffered_DropsWhatTheSnapshotIncludes()
    {
        var plan = ChannelRecovery.Merge(Snapshot(10), Ds(8, 9, 10, 11, 12));

        Assert.False(plan.Recovered);
        AssertPlan(plan, [11, 12], 12);
    }

    [Fact]
    public void DuplicateBufferedDeltas_AreSentOnce()
    {
        var plan = ChannelRecovery.Merge(Recovered(2, 1, 2), Ds(2, 3, 3, 4, 4, 4));

        AssertPlan(plan, [1, 2, 3, 4], 4);
    }

    [Fact]
    public void OutOfOrderBufferedDeltas_AreSorted()
    {
        var plan = ChannelRecovery.Merge(Snapshot(3), Ds(6, 4, 7, 5));

        AssertPlan(plan, [4, 5, 6, 7], 7);
        JsonEqual("""{"o":4}""", plan.ToSend[0].Patch);
    }

    [Fact]
    public void AGapInTheBufferedDeltas_StopsBeforeIt_AndAsksForAResync()
    {
        var plan = ChannelRecovery.Merge(Recovered(5, 4, 5), Ds(6, 8, 9));

        AssertPlan(plan, [4, 5, 6], 6, gap: true);
    }

    [Fact]
    public void AGapRightAfterTheSnapshot_SendsNoDelta()
    {
        var plan = ChannelRecovery.Merge(Snapshot(5), Ds(7));

        AssertPlan(plan, [], 5, gap: true);
    }

    [Fact]
    public void RecoveredDeltasWithAHole_AreAGap()
    {
        var plan = ChannelRecovery.Merge(Recovered(6, 3, 4, 6), []);

        AssertPlan(plan, [3, 4], 4, gap: true);
    }

    [Fact]
    public void RecoveredDeltasEndingBeforeTheReadOffset_AreAGap_UnlessBufferedOnesFillIt()
    {
        AssertPlan(ChannelRecovery.Merge(Recovered(6, 3, 4), []), [3, 4], 4, gap: true);
        AssertPlan(ChannelRecovery.Merge(Recovered(6, 3, 4), Ds(5, 6)), [3, 4, 5, 6], 6);
    }

    [Fact]
    public void BufferedDeltasOfAnotherEpoch_AreDropped_AndAskForAResync()
    {
        var buffered = new[] { D(1, "old"), D(2, "old"), D(6), D(1, "new"), D(7) };

        var plan = ChannelRecovery.Merge(Recovered(5, 4, 5), buffered);

        AssertPlan(plan, [4, 5, 6, 7], 7, epochMismatch: true);
        Assert.All(plan.ToSend, d => Assert.Equal(Epoch, d.Epoch));
    }

    [Fact]
    public void AnEpochChangeWithoutOwnEpochDeltas_StillSendsTheSnapshot_AndAsksForAResync()
    {
        var plan = ChannelRecovery.Merge(Snapshot(3), [D(1, "new"), D(2, "new")]);

        Assert.False(plan.Recovered);
        Assert.Equal(JsonValueKind.Object, plan.Snapshot!.Value.ValueKind);
        AssertPlan(plan, [], 3, epochMismatch: true);
    }

    [Fact]
    public void AResyncFromTheLastPosition_ContinuesWithoutDuplicates()
    {
        // First round: a gap after 6. The server sends 4..6, clears its buffer and recovers from LastPosition.
        var first = ChannelRecovery.Merge(Recovered(5, 4, 5), Ds(6, 8));
        AssertPlan(first, [4, 5, 6], 6, gap: true);

        var second = ChannelRecovery.Merge(Recovered(8, 7, 8), Ds(8, 9));

        AssertPlan(second, [7, 8, 9], 9);
    }
}
