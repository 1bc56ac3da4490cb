using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Lifeline.Testing;

/// <summary>
/// Captures the server's log events (category, level, event name, message, structured state) for assertions, and fails
/// the test on an Error (or Critical) event it did not expect, as SignalR's <c>VerifiableLoggedTest</c> does: such a line
/// is often the only trace of a leak or a swallowed exception. A test whose point is an error names it by
/// <see cref="EventId.Name"/> in <see cref="ExpectError"/> (or the server's <c>expectedErrors</c>).
/// </summary>
public sealed class TestLogSink : ILoggerProvider
{
    private readonly ConcurrentDictionary<string, byte> _expected = new(StringComparer.Ordinal);

    /// <summary>Everything logged so far, in order.</summary>
    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    /// <summary>The lowest level recorded (Debug by default; a load test lowers its cost with Warning).</summary>
    public LogLevel MinimumLevel { get; init; } = LogLevel.Debug;

    /// <summary>Error event names this test expects.</summary>
    public IReadOnlyCollection<string> ExpectedErrors => [.. _expected.Keys];

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new SinkLogger(this, categoryName);

    /// <inheritdoc />
    public void Dispose()
    {
    }

    /// <summary>Declares Error events (by <see cref="EventId.Name"/>) that are the point of the test.</summary>
    public void ExpectError(params string[] eventNames)
    {
        foreach (var name in eventNames)
        {
            _expected[name] = 0;
        }
    }

    /// <summary>Lifeline's own events of that name (Kestrel reuses some names, e.g. ConnectionAccepted).</summary>
    public IEnumerable<LogEntry> Named(string eventName) => Entries.Where(e => e.EventName == eventName && e.Category.StartsWith("Lifeline", StringComparison.Ordinal));

    /// <summary>How many events of each name were logged at <paramref name="level"/> or above.</summary>
    public IReadOnlyDictionary<string, int> CountsAtOrAbove(LogLevel level) =>
        Entries.Where(e => e.Level >= level)
            .GroupBy(e => e.EventName ?? e.EventId.ToString(CultureInfo.InvariantCulture), StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    /// <summary>The Error and Critical events not declared with <see cref="ExpectError"/>.</summary>
    public IReadOnlyList<LogEntry> UnexpectedErrors() =>
        [.. Entries.Where(e => e.Level >= LogLevel.Error && (e.EventName is null || !_expected.ContainsKey(e.EventName)))];

    /// <summary>Throws when an Error or Critical event was logged that the test did not expect.</summary>
    public void AssertNoUnexpectedErrors()
    {
        var unexpected = UnexpectedErrors();
        if (unexpected.Count > 0)
        {
            throw new UnexpectedErrorLogException(unexpected);
        }
    }

    /// <summary>One log event.</summary>
    public sealed record LogEntry(string Category, LogLevel Level, string? EventName, string Message, IReadOnlyDictionary<string, object?> State, Exception? Exception)
    {
        /// <summary>The numeric event id.</summary>
        public int EventId { get; init; }

        /// <inheritdoc />
        public override string ToString() => $"{Level} {Category}[{EventId}] {EventName}: {Message}{(Exception is null ? "" : Environment.NewLine + Exception)}";
    }

    private sealed class SinkLogger(TestLogSink sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= sink.MinimumLevel;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var values = state is IEnumerable<KeyValuePair<string, object?>> kv
                ? kv.ToDictionary(p => p.Key, p => p.Value)
                : new Dictionary<string, object?>();
            sink.Entries.Enqueue(new LogEntry(category, logLevel, eventId.Name, formatter(state, exception), values, exception) { EventId = eventId.Id });
        }
    }
}

/// <summary>The server logged Error events the test did not declare.</summary>
public sealed class UnexpectedErrorLogException(IReadOnlyList<TestLogSink.LogEntry> entries)
    : Exception($"the server logged {entries.Count} unexpected Error event(s) (declare the ones that are the point of the test by EventId.Name):{Environment.NewLine}{string.Join(Environment.NewLine, entries)}")
{
    /// <summary>The events.</summary>
    public IReadOnlyList<TestLogSink.LogEntry> Entries { get; } = entries;
}
