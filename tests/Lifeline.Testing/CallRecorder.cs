using System.Collections.Concurrent;
using System.Diagnostics;
using Lifeline.Server;

namespace Lifeline.Testing;

/// <summary>Records every call of a hook (with its <see cref="Stopwatch"/> timestamp) and lets tests await a count.</summary>
/// <typeparam name="T">What the hook receives.</typeparam>
public class CallRecorder<T>
{
    private readonly ConcurrentQueue<(T Context, long At)> _calls = new();
    private readonly Lock _lock = new();
    private readonly List<(int Count, TaskCompletionSource Tcs)> _waiters = [];

    /// <summary>The calls so far, in order.</summary>
    public IReadOnlyCollection<T> Calls => [.. _calls.Select(c => c.Context)];

    /// <summary>The calls so far with the <see cref="Stopwatch.GetTimestamp"/> of each.</summary>
    public IReadOnlyList<(T Context, long At)> Timed => [.. _calls];

    /// <summary>How many calls so far.</summary>
    public int Count => _calls.Count;

    /// <summary>The hook: records <paramref name="context"/>.</summary>
    public ValueTask RecordAsync(T context)
    {
        _calls.Enqueue((context, Stopwatch.GetTimestamp()));
        lock (_lock)
        {
            foreach (var w in _waiters.Where(w => _calls.Count >= w.Count).ToList())
            {
                w.Tcs.TrySetResult();
                _waiters.Remove(w);
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Completes once <paramref name="count"/> calls were recorded; fails after the timeout.</summary>
    public Task WaitForCountAsync(int count, TimeSpan? timeout = null)
    {
        lock (_lock)
        {
            if (_calls.Count >= count)
            {
                return Task.CompletedTask;
            }

            var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, tcs));
            return tcs.Task.WaitAsync(timeout ?? TestTimeouts.Default);
        }
    }

    /// <summary>The first call matching <paramref name="match"/>, waiting for it when it has not come yet.</summary>
    public async Task<T> WaitForAsync(Func<T, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        while (true)
        {
            var seen = _calls.Count;
            var found = _calls.Select(c => c.Context).FirstOrDefault(match);
            if (found is not null)
            {
                return found;
            }

            await WaitForCountAsync(seen + 1, timeout ?? TestTimeouts.Default);
        }
    }
}

/// <summary>Records every <see cref="LifelineEvents.OnDisconnected"/> call.</summary>
public sealed class DisconnectRecorder : CallRecorder<DisconnectedContext>
{
    /// <summary>The disconnect of <paramref name="connectionId"/>, waiting for it when it has not come yet.</summary>
    public Task<DisconnectedContext> WaitForAsync(string connectionId, TimeSpan? timeout = null) => WaitForAsync(c => c.ConnectionId == connectionId, timeout);
}

/// <summary>Records every <see cref="LifelineEvents.OnConnected"/> call.</summary>
public sealed class ConnectRecorder : CallRecorder<ConnectedContext>;
