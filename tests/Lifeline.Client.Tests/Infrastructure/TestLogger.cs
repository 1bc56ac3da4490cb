using Microsoft.Extensions.Logging;

namespace Lifeline.Client.Tests.Infrastructure;

/// <summary>An ILogger that records entries by event name and lets a test await them.</summary>
internal sealed class TestLogger : ILogger<LifelineClient>
{
    private readonly Lock _gate = new();
    private readonly List<LogEntry> _entries = [];
    private readonly List<(string Name, int Occurrence, TaskCompletionSource<LogEntry> Tcs)> _waits = [];

    public IReadOnlyList<LogEntry> Entries
    {
        get
        {
            lock (_gate)
            {
                return [.. _entries];
            }
        }
    }

    public int CountOf(string eventName)
    {
        lock (_gate)
        {
            return _entries.Count(e => e.EventName == eventName);
        }
    }

    /// <summary>Waits for the <paramref name="occurrence"/>-th (1-based) entry named <paramref name="eventName"/>.</summary>
    public Task<LogEntry> WaitForAsync(string eventName, int occurrence = 1)
    {
        lock (_gate)
        {
            var existing = _entries.Where(e => e.EventName == eventName).Skip(occurrence - 1).FirstOrDefault();
            if (existing is not null)
            {
                return Task.FromResult(existing);
            }

            var tcs = new TaskCompletionSource<LogEntry>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waits.Add((eventName, occurrence, tcs));
            return tcs.Task.WaitAsync(TestTimeouts.Default);
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var values = state as IReadOnlyList<KeyValuePair<string, object?>> ?? [];
        var entry = new LogEntry(logLevel, eventId.Name ?? string.Empty, formatter(state, exception), exception, values.ToDictionary(kv => kv.Key, kv => kv.Value));
        lock (_gate)
        {
            _entries.Add(entry);
            var count = _entries.Count(e => e.EventName == entry.EventName);
            for (var i = _waits.Count - 1; i >= 0; i--)
            {
                if (_waits[i].Name == entry.EventName && _waits[i].Occurrence == count)
                {
                    _waits[i].Tcs.TrySetResult(entry);
                    _waits.RemoveAt(i);
                }
            }
        }
    }
}

internal sealed record LogEntry(LogLevel Level, string EventName, string Message, Exception? Exception, IReadOnlyDictionary<string, object?> Values);
