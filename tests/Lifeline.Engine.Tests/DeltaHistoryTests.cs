using Lifeline.Engine.Internal;
using static Lifeline.Engine.Tests.TestSupport;

namespace Lifeline.Engine.Tests;

/// <summary>The bounded ring buffer behind each channel's history.</summary>
public sealed class DeltaHistoryTests
{
    private static ChannelDelta D(long offset, long ts = 0) => new("room", "e1", offset, J("{}"), ts);

    [Fact]
    public void KeepsTheNewestDeltas_ThroughGrowthAndWrapAround()
    {
        var history = new DeltaHistory(40, TimeSpan.FromDays(1));
        for (var i = 1; i <= 100; i++)
        {
            history.Append(D(i));
            if (i is 20 or 33 or 77)
            {
                var expectedFirst = Math.Max(1, i - 39);
                Assert.True(history.TryGetAfter(expectedFirst - 1, i, out var all));
                Assert.Equal(Enumerable.Range(expectedFirst, i - expectedFirst + 1).Select(o => (long)o), all.Select(d => d.Offset));
                if (expectedFirst > 1)
                {
                    Assert.False(history.TryGetAfter(expectedFirst - 2, i, out _));
                }
            }
        }

        Assert.Equal(40, history.Count);
        Assert.True(history.TryGetAfter(60, 100, out var tail));
        Assert.Equal(61, tail[0].Offset);
        Assert.Equal(100, tail[^1].Offset);
        Assert.False(history.TryGetAfter(59, 100, out _));
        Assert.True(history.TryGetAfter(99, 100, out var last));
        Assert.Equal(100, Assert.Single(last).Offset);
    }

    [Fact]
    public void TrimExpired_DropsDeltasAsOldAsTheAgeOrOlder()
    {
        var history = new DeltaHistory(10, TimeSpan.FromMilliseconds(100));
        history.Append(D(1, ts: 1000));
        history.Append(D(2, ts: 1050));
        history.Append(D(3, ts: 1100));

        history.TrimExpired(1099);
        Assert.Equal(3, history.Count);
        history.TrimExpired(1100);
        Assert.Equal(2, history.Count);
        history.TrimExpired(1200);

        Assert.Equal(0, history.Count);
        Assert.False(history.TryGetAfter(2, 3, out _));
        Assert.True(history.TryGetAfter(3, 3, out var none));
        Assert.Empty(none);
    }

    [Fact]
    public void TryGetAfter_RejectsPositionsOutsideTheHistory()
    {
        var history = new DeltaHistory(10, TimeSpan.FromDays(1));
        history.Append(D(1));
        history.Append(D(2));

        Assert.False(history.TryGetAfter(3, 2, out _));
        Assert.False(history.TryGetAfter(-1, 2, out _));
        Assert.True(history.TryGetAfter(0, 2, out var all));
        Assert.Equal(2, all.Length);
    }
}
