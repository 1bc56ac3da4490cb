using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Lifeline.Client.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lifeline.Client;

/// <summary>
/// A Lifeline client: one logical connection to a Lifeline server that survives the network. It reconnects with
/// backoff and jitter, detects dead connections with a receive watchdog, resumes its session, re-subscribes its
/// channels from their last position and re-sends unacknowledged publishes with their idempotency keys
/// (PROTOCOL.md "Reconnection").
/// </summary>
/// <remarks>
/// <para>
/// Handlers (<see cref="StateChanged"/>, <see cref="Error"/>, <see cref="MessageReceived"/>, <see cref="ServerMessageReceived"/> and the channel events) are
/// attached to this object and its channels, never to a socket, so each fires once per message whatever the number
/// of reconnects. They run on the client's message loop, in message order, outside any lock: keep them short. A handler
/// that throws is logged and stops neither the loop nor the other handlers.
/// </para>
/// <para>All members are thread-safe.</para>
/// </remarks>
public sealed partial class LifelineClient : IAsyncDisposable
{
    private readonly Uri _url;
    private readonly LifelineClientOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TokenSource _tokens;
    private readonly ConcurrentDictionary<string, LifelineChannel> _channels = new(StringComparer.Ordinal);
    private readonly string _keyPrefix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    private long _keyCounter;
    private long _nextRequestId;
    private long _connectionIds;

    // One lock guards the state machine, the current connection and the publish queue.
    private readonly Lock _lock = new();
    private ClientState _state = ClientState.Closed;
    private RunContext? _run;
    private ClientConnection? _current;
    private readonly LinkedList<PendingPublish> _publishQueue = new();
    private bool _disposed;

    private volatile string? _session;
    private volatile string? _connectionId;
    private volatile string? _userId;
    private volatile bool _resumed;

    /// <summary>Creates a client. It does not connect until <see cref="ConnectAsync"/> is called.</summary>
    /// <param name="url">The server's WebSocket endpoint, for example <c>ws://localhost:8080/ws</c>.</param>
    /// <param name="options">Settings; null for the defaults.</param>
    /// <param name="logger">A logger; null for none.</param>
    public LifelineClient(Uri url, LifelineClientOptions? options = null, ILogger<LifelineClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.Scheme is not ("ws" or "wss"))
        {
            throw new ArgumentException("the URL scheme must be ws or wss", nameof(url));
        }

        _url = url;
        _options = (options ?? new LifelineClientOptions()).Validate();
        _time = _options.TimeProvider;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _tokens = new TokenSource(_options);
    }

    /// <summary>Raised after every move of the state machine, outside the client's lock, in order.</summary>
    public event EventHandler<StateChangedEventArgs>? StateChanged;

    /// <summary>Raised when a malformed message or binary frame was dropped, or the server sent an <c>error</c> answering no request.</summary>
    public event EventHandler<LifelineErrorEventArgs>? Error;

    /// <summary>Raised for every well-formed message from the server, before the client handles it (diagnostics, tests).</summary>
    public event EventHandler<ServerMessageEventArgs>? ServerMessageReceived;

    /// <summary>
    /// Raised for each message the application's server sends to this user (<c>LifelineServer.SendToUserAsync</c>), once,
    /// on the client's message loop. Only messages sent while connected arrive: they are not stored or replayed.
    /// </summary>
    public event EventHandler<UserMessageEventArgs>? MessageReceived;

    /// <summary>The server endpoint.</summary>
    public Uri Url => _url;

    /// <summary>The current state.</summary>
    public ClientState State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    /// <summary>The session token of the last <c>welcome</c>, sent as <c>hello.resume</c> on the next connection; null before the first.</summary>
    public string? Session => _session;

    /// <summary>The server's id of the last connection (from <c>welcome.connection</c>), for logs and support.</summary>
    public string? ConnectionId => _connectionId;

    /// <summary>The authenticated user id from the last <c>welcome</c>; null for anonymous connections.</summary>
    public string? UserId => _userId;

    /// <summary>Whether the last <c>welcome</c> resumed the previous session (the user's presence did not flap).</summary>
    public bool Resumed => _resumed;

    /// <summary>How many publishes are waiting for the server's acknowledgement (queued or in flight).</summary>
    public int PendingPublishCount
    {
        get
        {
            lock (_lock)
            {
                return _publishQueue.Count;
            }
        }
    }

    /// <summary>The supervisor task of the current run, for tests that check nothing is left running.</summary>
    internal Task BackgroundTask
    {
        get
        {
            lock (_lock)
            {
                return _run?.Task ?? Task.CompletedTask;
            }
        }
    }

    /// <summary>
    /// TEST HOOK ONLY (used by the convergence test in Lifeline.Client.Tests): aborts the socket of the current
    /// connection or connection attempt, as a network failure would, without telling the client why. The receive loop
    /// (or the pending connect) sees the failure and the client reconnects as it does after any lost connection.
    /// </summary>
    /// <returns>True when there was a socket to abort.</returns>
    internal bool AbortConnectionForTest()
    {
        ClientConnection? conn;
        lock (_lock)
        {
            conn = _current;
        }

        if (conn is null || conn.IsEnded)
        {
            return false;
        }

        try
        {
            conn.Transport.Abort();
        }
        catch (ObjectDisposedException)
        {
            return false; // torn down meanwhile
        }

        return true;
    }

    internal LifelineClientOptions Options => _options;

    internal TimeProvider Time => _time;

    internal ILogger Logger => _logger;

    /// <summary>
    /// Returns the channel called <paramref name="name"/>; the same object every time for the same name, so handlers
    /// attached to it stay attached across reconnects.
    /// </summary>
    /// <param name="name">The channel name.</param>
    /// <returns>The channel.</returns>
    public LifelineChannel Channel(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _channels.GetOrAdd(name, static (n, client) => new LifelineChannel(client, n), this);
    }

    /// <summary>
    /// Connects and completes once the first connection is open (<c>welcome</c> received). Retryable failures
    /// (connection refused, 1001, 1011, 1013, 4000, 4002, 1006, handshake timeout, a failed
    /// <see cref="LifelineClientOptions.TokenProvider"/>) are retried per
    /// <see cref="LifelineClientOptions.ReconnectPolicy"/> while this call waits; from then on the client keeps itself
    /// connected until <see cref="CloseAsync"/> or <see cref="DisposeAsync"/>.
    /// </summary>
    /// <remarks>
    /// It may be called again once the client is <see cref="ClientState.Closed"/>: after <see cref="CloseAsync"/>, after
    /// the retry policy gave up, or after a non-retryable close. The same client then comes back as it does after any
    /// reconnect: <c>hello</c> carries the last session (resumed when the server still has it), every subscribed channel
    /// is subscribed again from its last position, publishes made since this call are sent once the channels are,
    /// and every handler stays attached. Publishes that were waiting when the client closed have already failed.
    /// </remarks>
    /// <param name="cancellationToken">Cancels the wait; the client is then closed.</param>
    /// <returns>A task that completes when the client is open.</returns>
    /// <exception cref="LifelineException">
    /// The server closed with a non-retryable code (for example 4001 unauthorized; see <see cref="LifelineException.CloseCode"/>),
    /// or the retry policy gave up. The client is <see cref="ClientState.Closed"/>.
    /// </exception>
    /// <exception cref="InvalidOperationException">The client is not <see cref="ClientState.Closed"/>: it is connecting, open or
    /// reconnecting. No second attempt is started.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled or the client was closed first.</exception>
    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var run = new RunContext();

        // Created unstarted so that StopAsync can await run.Task as soon as _run is visible.
        var supervisor = new Task<Task>(() => RunAsync(run));
        run.Task = supervisor.Unwrap();
        if (!TryChangeState(ClientState.Closed, ClientState.Connecting, "connect", null, onChanged: () => _run = run))
        {
            throw new InvalidOperationException($"the client is {State}; ConnectAsync may only be called when it is Closed");
        }

        supervisor.Start(TaskScheduler.Default);
        try
        {
            await run.FirstOpen.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            run.RequestStop(disposing: false);
            await run.Task.ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Closes the connection with a normal close (1000), stops reconnecting and moves to <see cref="ClientState.Closed"/>.
    /// Publishes still waiting for acknowledgement and pending requests fail with <see cref="LifelineDisconnectedException"/>.
    /// The client may be connected again with <see cref="ConnectAsync"/>.
    /// </summary>
    /// <returns>A task that completes when the client is closed and its background work has ended.</returns>
    public Task CloseAsync() => StopAsync(disposing: false);

    /// <summary>
    /// Closes the client like <see cref="CloseAsync"/> and releases it. When the returned task completes no background
    /// task of the client is running. Waiting operations fail with <see cref="ObjectDisposedException"/>.
    /// </summary>
    /// <returns>A task that completes when everything has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        await StopAsync(disposing: true).ConfigureAwait(false);

        // Whatever a closed client still held (publishes queued while Closed cannot exist, but be thorough).
        FailAllWaiting(new ObjectDisposedException(nameof(LifelineClient)));
    }

    private async Task StopAsync(bool disposing)
    {
        RunContext? run;
        lock (_lock)
        {
            run = _run;
        }

        if (run is null)
        {
            return;
        }

        run.RequestStop(disposing);
        await run.Task.ConfigureAwait(false);
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> after <see cref="DisposeAsync"/>.</summary>
    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>The only way the state changes: from an expected state to an allowed next one, under the lock.</summary>
    /// <param name="from">The state the caller expects the client to be in.</param>
    /// <param name="to">The new state.</param>
    /// <param name="reason">Why.</param>
    /// <param name="closeCode">The close code involved, if any.</param>
    /// <param name="exception">The cause, if any.</param>
    /// <param name="onChanged">Runs under the lock when the move happens.</param>
    /// <returns>False when the state was not <paramref name="from"/> (a stale trigger), or the move is not allowed.</returns>
    private bool TryChangeState(ClientState from, ClientState to, string reason, int? closeCode, Exception? exception = null, Action? onChanged = null)
    {
        StateChangedEventArgs args;
        lock (_lock)
        {
            if (_state != from || from == to)
            {
                return false;
            }

            var allowed = (from, to) switch
            {
                (ClientState.Closed, ClientState.Connecting) => true,
                (ClientState.Connecting, ClientState.Open or ClientState.Reconnecting or ClientState.Closed) => true,
                (ClientState.Open, ClientState.Reconnecting or ClientState.Closed) => true,
                (ClientState.Reconnecting, ClientState.Open or ClientState.Closed) => true,
                _ => false,
            };
            Debug.Assert(allowed, $"impossible state move {from} -> {to}");
            if (!allowed)
            {
                Log.ImpossibleStateChange(_logger, from, to);
                return false;
            }

            _state = to;
            onChanged?.Invoke();
            args = new StateChangedEventArgs(from, to, reason, closeCode, _time.GetUtcNow().ToUnixTimeMilliseconds(), exception) { Transport = Transport };
        }

        // Raised outside the lock: a handler may read State or call into the client.
        Log.StateChanged(_logger, from, to, reason, closeCode, args.TimestampMs);
        Raise(StateChanged, args, nameof(StateChanged));
        return true;
    }

    /// <summary>Moves from whatever the state is now (only the supervisor calls this, so it cannot race).</summary>
    private bool ChangeState(ClientState to, string reason, int? closeCode, Exception? exception = null) =>
        TryChangeState(State, to, reason, closeCode, exception);

    /// <summary>Invokes each handler separately: one that throws is logged and does not stop the others.</summary>
    internal void Raise<T>(EventHandler<T>? handlers, T args, string eventName, object? sender = null)
    {
        if (handlers is null)
        {
            return;
        }

        foreach (var handler in handlers.GetInvocationList())
        {
            try
            {
                ((EventHandler<T>)handler)(sender ?? this, args);
            }
            catch (Exception ex)
            {
                Log.HandlerFailed(_logger, eventName, ex);
            }
        }
    }

    internal void ReportError(LifelineErrorEventArgs args) => Raise(Error, args, nameof(Error));

    /// <summary>A fire-and-forget <see cref="LifelineChannel.Emit"/> failed: logged and reported, never thrown.</summary>
    internal void ReportEmitFailure(string channel, string? code, string problem)
    {
        Log.EmitFailed(_logger, channel, code ?? LifelineChannel.EmitFailed, problem);
        ReportError(new LifelineErrorEventArgs(code ?? LifelineChannel.EmitFailed, $"emit on {channel}: {problem}"));
    }

    internal long NextRequestId() => Interlocked.Increment(ref _nextRequestId);

    /// <summary>A key unique to this client instance: a random 64-bit prefix and a counter.</summary>
    private string NextPublishKey() => $"{_keyPrefix}-{Interlocked.Increment(ref _keyCounter):x}";
}
