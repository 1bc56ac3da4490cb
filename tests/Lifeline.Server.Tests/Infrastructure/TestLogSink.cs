using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Lifeline.Server.Tests.Infrastructure;

/// <summary>Captures log events (name, level, message, structured state) for assertions.</summary>
public sealed class TestLogSink : ILoggerProvider
{
    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new SinkLogger(this, categoryName);

    public void Dispose()
    {
    }

    /// <summary>Lifeline's own events of that name (Kestrel reuses some names, e.g. ConnectionAccepted).</summary>
    public IEnumerable<LogEntry> Named(string eventName) => Entries.Where(e => e.EventName == eventName && e.Category.StartsWith("Lifeline", StringComparison.Ordinal));

    public sealed record LogEntry(string Category, LogLevel Level, string? EventName, string Message, IReadOnlyDictionary<string, object?> State, Exception? Exception);

    private sealed class SinkLogger(TestLogSink sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> kv
                ? kv.ToDictionary(p => p.Key, p => p.Value)
                : new Dictionary<string, object?>();
            sink.Entries.Enqueue(new LogEntry(category, logLevel, eventId.Name, formatter(state, exception), values, exception));
        }
    }
}
