using System.Text.Json.Nodes;
using static Lifeline.Engine.Tests.TestSupport;

namespace Lifeline.Engine.Tests;

public abstract partial class EngineContractTests
{
    [Fact]
    public async Task Observer_ReceivesEachDeltaWithItsFields()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var observer = new RecordingObserver();
        await using var registration = await engine.ObserveAsync(channel, observer);

        var result = await PublishAsync(engine, channel, """{"a":{"b":1}}""");

        await observer.WaitForDeltasAsync(1);
        var delta = Assert.Single(observer.Deltas);
        Assert.Equal(channel, delta.Channel);
        Assert.Equal(result.Epoch, delta.Epoch);
        Assert.Equal(1, delta.Offset);
        Assert.Equal(result.Ts, delta.Ts);
        Assert.Equal(NowMs, delta.Ts);
        JsonEqual("""{"a":{"b":1}}""", delta.Patch);
    }

    [Fact]
    public async Task Observers_ReceiveDeltasInOrderExactlyOnce_UnderConcurrentPublishers()
    {
        const int publishers = 4;
        const int perPublisher = 500;
        const int total = publishers * perPublisher;
        var engine = await NewEngineAsync(EngineTestSettings.Default with { HistorySize = total });
        var channel = NewChannel();
        var first = new RecordingObserver();
        var second = new RecordingObserver();
        await using var r1 = await engine.ObserveAsync(channel, first);
        await using var r2 = await engine.ObserveAsync(channel, second);

        using var start = new ManualResetEventSlim();
        var tasks = Enumerable.Range(0, publishers).Select(p => Task.Run(async () =>
        {
            start.Wait(TestTimeouts.Default);
            var offsets = new List<long>(perPublisher);
            for (var i = 1; i <= perPublisher; i++)
            {
                offsets.Add((await PublishAsync(engine, channel, $$"""{"p{{p}}":{{i}}}""")).Offset);
            }

            return offsets;
        })).ToArray();
        start.Set();
        var results = await Task.WhenAll(tasks).DefaultTimeout();

        // Every publish got its own offset, 1..total, and each publisher saw its own offsets increase.
        Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), results.SelectMany(r => r).Order());
        Assert.All(results, offsets => Assert.Equal(offsets.Order(), offsets));

        foreach (var observer in new[] { first, second })
        {
            await observer.WaitForDeltasAsync(total);
            Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), observer.Deltas.Select(d => d.Offset));
            Assert.Equal(0, observer.Overlaps);
        }

        // The state holds each publisher's last value: patches were applied in offset order, none lost.
        var state = JsonNode.Parse((await engine.GetSnapshotAsync(channel)).State.GetRawText())!.AsObject();
        for (var p = 0; p < publishers; p++)
        {
            Assert.Equal(perPublisher, state[$"p{p}"]!.GetValue<int>());
        }

        // The recovered history is the same sequence the observers saw.
        var recovery = await engine.RecoverAsync(channel, new Lifeline.Protocol.Position(first.Deltas[0].Epoch, 0));
        Assert.True(recovery.Recovered);
        Assert.Equal(first.Deltas.Select(d => d.Patch.GetRawText()), recovery.Deltas.Select(d => d.Patch.GetRawText()));
    }

    [Fact]
    public async Task Observer_OfAnotherChannel_ReceivesNothing()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var other = NewChannel();
        var watching = new RecordingObserver();
        var bystander = new RecordingObserver();
        await using var r1 = await engine.ObserveAsync(channel, watching);
        await using var r2 = await engine.ObserveAsync(other, bystander);

        await PublishAsync(engine, channel, """{"a":1}""");
        await engine.AddPresenceAsync(channel, "u1", "s1");

        await watching.WaitForDeltasAsync(1);
        await watching.WaitForPresenceAsync(1);
        Assert.Empty(bystander.Deltas);
        Assert.Empty(bystander.Presence);
    }

    [Fact]
    public async Task DisposingTheRegistration_StopsDeliveries_AndIsIdempotent()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var stopped = new RecordingObserver();
        var barrier = new RecordingObserver();
        var registration = await engine.ObserveAsync(channel, stopped);
        await using var barrierRegistration = await engine.ObserveAsync(channel, barrier);

        await PublishAsync(engine, channel, """{"a":1}""");
        await stopped.WaitForDeltasAsync(1);
        await registration.DisposeAsync();
        await registration.DisposeAsync();
        await PublishAsync(engine, channel, """{"a":2}""");
        await engine.AddPresenceAsync(channel, "u1", "s1");

        // The barrier observer got everything, in order; the disposed one nothing after its disposal.
        await barrier.WaitForDeltasAsync(2);
        await barrier.WaitForPresenceAsync(1);
        Assert.Equal([1L], stopped.Deltas.Select(d => d.Offset));
        Assert.Empty(stopped.Presence);
    }

    [Fact]
    public async Task SameObserverOnTwoChannels_DisposingOneKeepsTheOther()
    {
        var engine = await NewEngineAsync();
        var a = NewChannel();
        var b = NewChannel();
        var observer = new RecordingObserver();
        var ra = await engine.ObserveAsync(a, observer);
        await using var rb = await engine.ObserveAsync(b, observer);

        await ra.DisposeAsync();
        await PublishAsync(engine, a, """{"x":1}""");
        await PublishAsync(engine, b, """{"y":1}""");

        await observer.WaitForDeltasAsync(1);
        Assert.Equal(b, Assert.Single(observer.Deltas).Channel);
    }

    [Fact]
    public async Task AThrowingObserver_DoesNotStopTheOtherObserversOrThePublish()
    {
        var engine = await NewEngineAsync();
        var channel = NewChannel();
        var before = new RecordingObserver();
        var after = new RecordingObserver();
        await using var r1 = await engine.ObserveAsync(channel, before);
        await using var r2 = await engine.ObserveAsync(channel, new ThrowingObserver());
        await using var r3 = await engine.ObserveAsync(channel, after);

        var first = await PublishAsync(engine, channel, """{"a":1}""");
        var second = await PublishAsync(engine, channel, """{"a":2}""");
        await engine.AddPresenceAsync(channel, "u1", "s1");

        Assert.Equal([1L, 2], new[] { first.Offset, second.Offset });
        foreach (var observer in new[] { before, after })
        {
            await observer.WaitForDeltasAsync(2);
            await observer.WaitForPresenceAsync(1);
            Assert.Equal([1L, 2], observer.Deltas.Select(d => d.Offset));
        }
    }
}
