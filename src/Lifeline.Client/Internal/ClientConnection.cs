using System.Collections.Concurrent;
using Lifeline.Protocol;

namespace Lifeline.Client.Internal;

/// <summary>
/// Everything that belongs to one connection (a WebSocket or the HTTP transport): its cancellation token (cancelled when it ends, which fails the requests
/// waiting on it), its pending requests, its send lock and its receive watchdog. Whatever ends the connection
/// (close frame, receive or send error, watchdog, client close) calls <see cref="Fail"/>; the first call wins, so an
/// error followed by a close still ends the connection once and schedules one reconnect.
/// </summary>
internal sealed class ClientConnection : IDisposable
{
    private readonly TaskCompletionSource<DisconnectInfo> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<WelcomeMessage> _welcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _cts = new();
    private readonly Lock _watchdogLock = new();
    private ITimer? _watchdog;
    private TimeSpan _watchdogTimeout;
    private int _failed;

    public ClientConnection(long id, IClientTransport transport)
    {
        Id = id;
        Transport = transport;

        // Kept as a copy: a cancelled token stays usable (registrations run at once) after the source is disposed.
        Token = _cts.Token;
    }

    /// <summary>A number unique within the client, for logs.</summary>
    public long Id { get; }

    /// <summary>The bytes under this connection: a WebSocket or the HTTP transport.</summary>
    public IClientTransport Transport { get; }

    /// <summary>Cancelled when the connection ends: fails pending requests, stops the loops.</summary>
    public CancellationToken Token { get; }

    public SemaphoreSlim SendLock { get; } = new(1, 1);

    public ConcurrentDictionary<long, PendingRequest> Pending { get; } = new();

    private readonly ConcurrentDictionary<Task, byte> _background = new();

    /// <summary>Tasks started on this connection and still running; awaited by teardown.</summary>
    public ICollection<Task> Background => _background.Keys;

    /// <summary>Remembers a task until it completes, so teardown can wait for it and nothing outlives the connection.</summary>
    public void Track(Task task)
    {
        if (task.IsCompleted)
        {
            return;
        }

        _background.TryAdd(task, 0);
        task.ContinueWith(
            static (t, state) => ((ConcurrentDictionary<Task, byte>)state!).TryRemove(t, out _),
            _background,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Completes once the connection has ended and <see cref="Fail"/> has finished (token cancelled, socket aborted).</summary>
    public Task<DisconnectInfo> Ended => _ended.Task;

    /// <summary>True from the moment the first <see cref="Fail"/> call begins.</summary>
    public bool IsEnded => Volatile.Read(ref _failed) != 0;

    public Task<WelcomeMessage> Welcome => _welcome.Task;

    public Task ReceiveLoop { get; set; } = Task.CompletedTask;

    /// <summary>Set (under the client lock) once welcome arrived: requests may be sent on this connection.</summary>
    public bool Ready { get; set; }

    /// <summary>Set (under the client lock) once the queued publishes were sent: new publishes go out at once.</summary>
    public bool Flushed { get; set; }

    /// <summary>When the welcome arrived (a <see cref="TimeProvider.GetTimestamp"/> value): the start of the token's lifetime.</summary>
    public long WelcomeTimestamp { get; private set; }

    public bool TrySetWelcome(WelcomeMessage welcome, long timestamp)
    {
        if (_welcome.Task.IsCompleted)
        {
            return false;
        }

        WelcomeTimestamp = timestamp;
        return _welcome.TrySetResult(welcome);
    }

    /// <summary>Ends the connection once. Later calls (an error after a close, a watchdog after an error) do nothing.</summary>
    /// <remarks>
    /// <see cref="Ended"/> completes last, after the token is cancelled: the supervisor tears the connection down (and
    /// disposes the token source) once <see cref="Ended"/> completes, so the first caller must be done with the source
    /// by then. Completing it first let a teardown dispose the source under a caller still about to cancel it, and the
    /// <see cref="ObjectDisposedException"/> escaped from a publish that was in fact still queued.
    /// </remarks>
    public bool Fail(DisconnectInfo info, bool abort)
    {
        if (Interlocked.Exchange(ref _failed, 1) != 0)
        {
            return false;
        }

        try
        {
            DisposeWatchdog();
            _cts.Cancel();
            if (abort)
            {
                Transport.Abort();
            }
        }
        finally
        {
            _ended.TrySetResult(info);
        }

        return true;
    }

    public void ArmWatchdog(TimeProvider time, TimeSpan timeout, TimerCallback onExpired)
    {
        lock (_watchdogLock)
        {
            if (IsEnded)
            {
                return;
            }

            _watchdogTimeout = timeout;
            _watchdog?.Dispose();
            _watchdog = time.CreateTimer(onExpired, this, timeout, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Every received frame proves the peer alive: push the watchdog's deadline out again.</summary>
    public void RearmWatchdog()
    {
        lock (_watchdogLock)
        {
            _watchdog?.Change(_watchdogTimeout, Timeout.InfiniteTimeSpan);
        }
    }

    public TimeSpan WatchdogTimeout
    {
        get
        {
            lock (_watchdogLock)
            {
                return _watchdogTimeout;
            }
        }
    }

    private void DisposeWatchdog()
    {
        lock (_watchdogLock)
        {
            _watchdog?.Dispose();
            _watchdog = null;
        }
    }

    /// <summary>Releases the socket and the token source; called by teardown after <see cref="Fail"/> and <see cref="Ended"/>.</summary>
    public void Dispose()
    {
        DisposeWatchdog();
        Transport.Dispose();
        _cts.Dispose();
    }
}
