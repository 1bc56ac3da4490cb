namespace Lifeline.Client.Internal;

/// <summary>One run of the supervisor, from <c>ConnectAsync</c> to <c>Closed</c>.</summary>
internal sealed class RunContext : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _stopRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed when the first connection is open; faulted when the run ends before that.</summary>
    public TaskCompletionSource FirstOpen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RunContext() => StopToken = _stop.Token;

    public CancellationToken StopToken { get; }

    public Task StopRequested => _stopRequested.Task;

    public bool IsStopRequested => _stopRequested.Task.IsCompleted;

    /// <summary>Set when the run was stopped by <c>DisposeAsync</c>: waiting operations fail with ObjectDisposedException.</summary>
    public bool Disposing { get; private set; }

    public Task Task { get; set; } = Task.CompletedTask;

    private readonly Lock _gate = new();
    private bool _disposed;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed by <see cref="Wake"/>: the supervisor's backoff wait ends at once (issue 15, network back).</summary>
    public Task Woken
    {
        get
        {
            lock (_gate)
            {
                return _wake.Task;
            }
        }
    }

    /// <summary>Asks for an attempt now: ends the current backoff wait, or (during an attempt) skips the next one.</summary>
    /// <param name="resetBackoff">Also start the backoff over (the network came back), not only skip this wait.</param>
    public void Wake(bool resetBackoff)
    {
        lock (_gate)
        {
            _resetBackoff |= resetBackoff;
            _wake.TrySetResult();
        }
    }

    private bool _resetBackoff;

    /// <summary>Whether a wake since the last attempt asked for the backoff to start over; reading it clears it.</summary>
    public bool TakeResetBackoff()
    {
        lock (_gate)
        {
            var reset = _resetBackoff;
            _resetBackoff = false;
            return reset;
        }
    }

    /// <summary>Called as an attempt starts: a wake from before it is covered by it.</summary>
    public void ResetWake()
    {
        lock (_gate)
        {
            _resetBackoff = false;
            if (_wake.Task.IsCompleted)
            {
                _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    public void RequestStop(bool disposing)
    {
        if (disposing)
        {
            Disposing = true;
        }

        lock (_gate)
        {
            if (_stopRequested.TrySetResult() && !_disposed)
            {
                _stop.Cancel();
            }
        }
    }

    /// <summary>Called by the supervisor when the run has ended.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _stop.Dispose();
        }
    }
}
