using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Lifeline.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using static Lifeline.Engine.Tests.TestSupport;

namespace Lifeline.Engine.Tests;

/// <summary>What <see cref="MemoryEngine"/> does beyond the shared contract: options, epochs, memory bounds.</summary>
public sealed partial class MemoryEngineTests
{
    private readonly FakeTimeProvider _time = new(StartTime);

    [Fact]
    public void Options_DefaultsAreTheDocumentedValues()
    {
        var options = new MemoryEngineOptions();

        Assert.Equal(1000, MemoryEngineOptions.DefaultHistorySize);
        Assert.Equal(5 * 60, MemoryEngineOptions.DefaultHistoryAgeSeconds);
        Assert.Equal(120, MemoryEngineOptions.DefaultIdempotencyWindowSeconds);
        Assert.Equal(MemoryEngineOptions.DefaultHistorySize, options.HistorySize);
        Assert.Equal(TimeSpan.FromSeconds(MemoryEngineOptions.DefaultHistoryAgeSeconds), options.HistoryAge);
        Assert.Equal(TimeSpan.FromSeconds(MemoryEngineOptions.DefaultIdempotencyWindowSeconds), options.IdempotencyWindow);

        var engine = new MemoryEngine();
        Assert.Equal(options.HistorySize, engine.HistorySize);
        Assert.Equal(options.HistoryAge, engine.HistoryAge);
        Assert.Equal(options.IdempotencyWindow, engine.IdempotencyWindow);
    }

    [Fact]
    public void Options_EverySummaryEndsWithItsActualDefault()
    {
        var docs = XDocument.Load(Path.ChangeExtension(typeof(MemoryEngineOptions).Assembly.Location, ".xml"));
        var defaults = new MemoryEngineOptions();
        var properties = typeof(MemoryEngineOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance);
        Assert.NotEmpty(properties);

        foreach (var property in properties)
        {
            var summary = docs.Descendants("member")
                .Single(m => (string?)m.Attribute("name") == $"P:{typeof(MemoryEngineOptions).FullName}.{property.Name}")
                .Element("summary")!.Value;
            var match = DefaultSentence().Match(summary.Trim());
            Assert.True(match.Success, $"{property.Name}: summary must end with 'The default is N.': {summary}");
            var number = double.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture);
            object documented = match.Groups["unit"].Value switch
            {
                "" => (int)number,
                "milliseconds" => TimeSpan.FromMilliseconds(number),
                "seconds" => TimeSpan.FromSeconds(number),
                "minutes" => TimeSpan.FromMinutes(number),
                var unit => throw new InvalidOperationException($"unknown unit {unit}"),
            };
            Assert.Equal(documented, property.GetValue(defaults));
        }
    }

    [GeneratedRegex(@"The default is (?<n>[0-9.]+)(?: (?<unit>[a-z]+))?\.$")]
    private static partial Regex DefaultSentence();

    [Theory]
    [InlineData(0, 60, 60)]
    [InlineData(-1, 60, 60)]
    [InlineData(10, 0, 60)]
    [InlineData(10, -5, 60)]
    [InlineData(10, 60, 0)]
    [InlineData(10, 60, -1)]
    public void Options_ImpossibleValues_AreRejected(int historySize, int historyAgeSeconds, int windowSeconds)
    {
        var options = new MemoryEngineOptions
        {
            HistorySize = historySize,
            HistoryAge = TimeSpan.FromSeconds(historyAgeSeconds),
            IdempotencyWindow = TimeSpan.FromSeconds(windowSeconds),
        };

        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryEngine(options));
    }

    [Fact]
    public void Options_AreCopiedWhenTheEngineIsCreated()
    {
        var options = new MemoryEngineOptions { HistorySize = 7 };
        var engine = new MemoryEngine(options);
        options.HistorySize = 8;

        Assert.Equal(7, engine.HistorySize);
    }

    [Fact]
    public async Task ANewInstance_StartsNewEpochs_SoOldPositionsGetASnapshot()
    {
        await using var before = new MemoryEngine(timeProvider: _time);
        await using var after = new MemoryEngine(timeProvider: _time);
        var old = await before.PublishAsync(new PublishRequest("room", J("""{"a":1}""")));
        var fresh = await after.PublishAsync(new PublishRequest("room", J("""{"b":1}""")));

        Assert.NotEqual(old.Epoch, fresh.Epoch);
        Assert.Equal(old.Offset, fresh.Offset);
        Assert.Matches("^[A-Za-z0-9_-]{11}$", old.Epoch);
        var recovery = await after.RecoverAsync("room", new Position(old.Epoch, old.Offset));
        Assert.False(recovery.Recovered);
        JsonEqual("""{"b":1}""", recovery.State);
    }

    [Fact]
    public async Task Channels_ShareTheInstanceEpoch_AndAnEmptyChannelRecoversWithoutASnapshot()
    {
        await using var engine = new MemoryEngine(timeProvider: _time);

        var a = await engine.PublishAsync(new PublishRequest("a", J("{}")));
        var b = await engine.PublishAsync(new PublishRequest("b", J("{}")));
        Assert.Equal(engine.Epoch, a.Epoch);
        Assert.Equal(engine.Epoch, b.Epoch);

        // An empty channel nobody observes is read twice: same epoch, and a subscriber at (epoch, 0) has nothing to catch up.
        var first = await engine.RecoverAsync("empty", null);
        var again = await engine.RecoverAsync("empty", new Position(first.Epoch, 0));
        Assert.Equal(first.Epoch, again.Epoch);
        Assert.True(again.Recovered);
        Assert.Empty(again.Deltas);
        var stale = await engine.RecoverAsync("empty", new Position("another-epoch", 0));
        Assert.False(stale.Recovered);
    }

    [Fact]
    public async Task AnEmptyChannel_IsDroppedWhenItsLastObserverGoes_AChannelWithState_IsKept()
    {
        await using var engine = new MemoryEngine(timeProvider: _time);
        var r1 = await engine.ObserveAsync("empty", new RecordingObserver());
        var r2 = await engine.ObserveAsync("empty", new RecordingObserver());
        var r3 = await engine.ObserveAsync("stateful", new RecordingObserver());
        var stateful = await engine.PublishAsync(new PublishRequest("stateful", J("""{"a":1}""")));
        Assert.Equal(2, engine.ChannelCount);

        await r1.DisposeAsync();
        Assert.Equal(2, engine.ChannelCount);
        await r2.DisposeAsync();
        await r3.DisposeAsync();

        Assert.Equal(1, engine.ChannelCount);
        var snapshot = await engine.GetSnapshotAsync("stateful");
        Assert.Equal(stateful.Epoch, snapshot.Epoch);
        JsonEqual("""{"a":1}""", snapshot.State);
    }

    [Fact]
    public async Task AnObservedChannel_BeforeItsFirstPublish_RecoversAsEmpty_ThenKeepsItsHistory()
    {
        // An observed channel holds no state, history or presence until it needs them (issue 20): reads, presence and
        // the first publishes behave exactly as before.
        await using var engine = new MemoryEngine(timeProvider: _time);
        var observer = new RecordingObserver();
        await using var registration = await engine.ObserveAsync("room", observer);

        var fresh = await engine.RecoverAsync("room", null);
        Assert.False(fresh.Recovered);
        Assert.Equal(0, fresh.Offset);
        JsonEqual("{}", fresh.State);
        var atZero = await engine.RecoverAsync("room", new Position(engine.Epoch, 0));
        Assert.True(atZero.Recovered);
        Assert.Empty(atZero.Deltas);
        var ahead = await engine.RecoverAsync("room", new Position(engine.Epoch, 3));
        Assert.False(ahead.Recovered);
        JsonEqual("{}", ahead.State);
        JsonEqual("{}", (await engine.GetSnapshotAsync("room")).State);

        Assert.True(await engine.AddPresenceAsync("room", "u1", "s1"));
        Assert.Equal(["u1"], await engine.GetPresenceAsync("room"));
        Assert.False(await engine.RemovePresenceAsync("room", "u1", "other-session", "disconnect"));
        Assert.True(await engine.RemovePresenceAsync("room", "u1", "s1", "disconnect"));
        Assert.Empty(await engine.GetPresenceAsync("room"));
        Assert.False(await engine.RemovePresenceAsync("room", "u1", "s1", "disconnect"));

        await engine.PublishAsync(new PublishRequest("room", J("""{"a":1}""")));
        await engine.PublishAsync(new PublishRequest("room", J("""{"b":2}""")));
        var recovered = await engine.RecoverAsync("room", new Position(engine.Epoch, 0));
        Assert.True(recovered.Recovered);
        Assert.Equal([1L, 2L], recovered.Deltas.Select(d => d.Offset));
        JsonEqual("""{"a":1,"b":2}""", (await engine.GetSnapshotAsync("room")).State);
        Assert.Equal(2, observer.Deltas.Count);
    }

    [Fact]
    public async Task AnEmptyChannel_WithPresence_IsKeptUntilTheLastLeave()
    {
        await using var engine = new MemoryEngine(timeProvider: _time);
        await engine.AddPresenceAsync("room", "u1", "s1");
        await engine.AddPresenceAsync("room", "u2", "s2");

        await engine.RemovePresenceAsync("room", "u1", "s1", "disconnect");
        Assert.Equal(1, engine.ChannelCount);
        await engine.RemovePresenceAsync("room", "u2", "s2", "disconnect");

        Assert.Equal(0, engine.ChannelCount);
    }

    [Fact]
    public async Task Reads_DoNotCreateChannels()
    {
        await using var engine = new MemoryEngine(timeProvider: _time);

        var snapshot = await engine.GetSnapshotAsync("nobody");
        var recovery = await engine.RecoverAsync("nobody", new Position("e", 0));
        await engine.GetPresenceAsync("nobody");
        await engine.RemovePresenceAsync("nobody", "u", "s", "disconnect");

        Assert.Equal(0, engine.ChannelCount);
        Assert.Equal(0, snapshot.Offset);
        JsonEqual("{}", snapshot.State);
        Assert.False(recovery.Recovered);
        JsonEqual("{}", recovery.State);
    }

    [Fact]
    public async Task ObservingAndLeavingWhilePublishing_NeverLosesState()
    {
        const int rounds = 300;
        await using var engine = new MemoryEngine(timeProvider: _time);
        using var start = new ManualResetEventSlim();

        var churn = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            start.Wait(TestTimeouts.Default);
            for (var i = 0; i < rounds; i++)
            {
                var registration = await engine.ObserveAsync("busy", new RecordingObserver());
                await engine.AddPresenceAsync("busy", "u", "s" + i);
                await engine.RemovePresenceAsync("busy", "u", "s" + i, "disconnect");
                await registration.DisposeAsync();
            }
        }));
        var publisher = Task.Run(async () =>
        {
            start.Wait(TestTimeouts.Default);
            var results = new List<PublishResult>();
            for (var i = 1; i <= rounds; i++)
            {
                results.Add(await engine.PublishAsync(new PublishRequest("busy", J($$"""{"n":{{i}}}"""))));
            }

            return results;
        });
        start.Set();
        await Task.WhenAll(churn).DefaultTimeout();
        var published = await publisher.DefaultTimeout();

        Assert.Single(published.Select(r => r.Epoch).Distinct());
        Assert.Equal(Enumerable.Range(1, rounds).Select(i => (long)i), published.Select(r => r.Offset));
        var snapshot = await engine.GetSnapshotAsync("busy");
        Assert.Equal(published[0].Epoch, snapshot.Epoch);
        JsonEqual($$"""{"n":{{rounds}}}""", snapshot.State);
    }

    [Fact]
    public async Task AConflict_KeepsNeitherAChannelNorAKeyInMemory()
    {
        await using var engine = new MemoryEngine(timeProvider: _time);

        var result = await engine.PublishAsync(new PublishRequest("room", J("{}"), "user:1", "k", new Position("other", 0)));

        Assert.True(result.Conflict);
        Assert.Equal(new Position(engine.Epoch, 0), result.Position);
        Assert.Equal(0, engine.ChannelCount);
        Assert.Equal(0, engine.IdempotencyKeyCount);
    }

    [Fact]
    public async Task IdempotencyKeys_AreForgottenAfterTheWindow_SoMemoryStaysBounded()
    {
        var window = TimeSpan.FromSeconds(10);
        await using var engine = new MemoryEngine(new MemoryEngineOptions { IdempotencyWindow = window }, _time);
        for (var i = 0; i < 50; i++)
        {
            await engine.PublishAsync(new PublishRequest("room", J("{}"), "user:1", "k" + i));
        }

        Assert.Equal(50, engine.IdempotencyKeyCount);
        _time.Advance(window);
        await engine.PublishAsync(new PublishRequest("room", J("{}"), "user:1", "last"));

        Assert.Equal(1, engine.IdempotencyKeyCount);
    }

    [Fact]
    public async Task ExpiredSessions_AreSwept_SoMemoryStaysBounded()
    {
        await using var engine = new MemoryEngine(timeProvider: _time);
        for (var i = 0; i < 20; i++)
        {
            await engine.StoreSessionAsync(new SessionRecord("t" + i, null, _time.GetUtcNow()), _time.GetUtcNow().AddMinutes(1));
        }

        Assert.Equal(20, engine.SessionCount);
        _time.Advance(TimeSpan.FromMinutes(2));
        await engine.StoreSessionAsync(new SessionRecord("new", null, _time.GetUtcNow()), _time.GetUtcNow().AddMinutes(1));

        Assert.Equal(1, engine.SessionCount);
        Assert.Null(await engine.FindSessionAsync("t0"));
    }

    [Fact]
    public async Task AThrowingObserver_DoesNotStopTheOthersOrThePublish_AndIsLogged()
    {
        var logger = new ListLogger();
        await using var engine = new MemoryEngine(timeProvider: _time, logger: logger);
        var before = new RecordingObserver();
        var after = new RecordingObserver();
        await using var r1 = await engine.ObserveAsync("room", before);
        await using var r2 = await engine.ObserveAsync("room", new ThrowingObserver());
        await using var r3 = await engine.ObserveAsync("room", after);

        var result = await engine.PublishAsync(new PublishRequest("room", J("""{"a":1}""")));
        await engine.AddPresenceAsync("room", "u1", "s1");

        Assert.Equal(1, result.Offset);
        Assert.Single(before.Deltas);
        Assert.Single(after.Deltas);
        Assert.Single(after.Presence);
        Assert.Equal(["ObserverFailed", "ObserverFailed"], logger.Events.Select(e => e.EventId.Name));
        Assert.All(logger.Events, e => Assert.IsType<InvalidOperationException>(e.Exception));
    }

    [Fact]
    public async Task APatchThatIsNotAnObject_IsRejected_AndNothingIsApplied()
    {
        await using var engine = new MemoryEngine(timeProvider: _time);

        await Assert.ThrowsAsync<ArgumentException>(async () => await engine.PublishAsync(new PublishRequest("room", J("[1]"))));
        await Assert.ThrowsAsync<ArgumentException>(async () => await engine.PublishAsync(new PublishRequest("room", J("null"), "u", "k")));

        Assert.Equal(0, (await engine.GetSnapshotAsync("room")).Offset);
        Assert.Equal(0, engine.IdempotencyKeyCount);
    }

    [Fact]
    public async Task ADisposedEngine_RefusesCalls()
    {
        var engine = new MemoryEngine(timeProvider: _time);
        var registration = await engine.ObserveAsync("room", new RecordingObserver());
        await engine.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await engine.PublishAsync(new PublishRequest("room", J("{}"))));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await engine.GetSnapshotAsync("room"));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await engine.FindSessionAsync("t"));
        await registration.DisposeAsync();
    }

    private sealed class ListLogger : ILogger<MemoryEngine>
    {
        private readonly Lock _lock = new();
        private readonly List<(LogLevel Level, EventId EventId, Exception? Exception)> _events = [];

        public IReadOnlyList<(LogLevel Level, EventId EventId, Exception? Exception)> Events
        {
            get
            {
                lock (_lock)
                {
                    return [.. _events];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                lock (_lock)
                {
                    _events.Add((logLevel, eventId, exception));
                }
            }
        }
    }
}
