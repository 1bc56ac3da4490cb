using System.Net;
using Lifeline.Engine;
using Lifeline.Protocol;
using Lifeline.Server.Channels;
using Lifeline.Server.Transport;
using Microsoft.AspNetCore.Http;

namespace Lifeline.Server.Connections;

/// <summary>The lifecycle states of a connection; they only move forward.</summary>
internal enum ConnectionState
{
    /// <summary>Accepted; waiting for a valid hello.</summary>
    Handshaking,

    /// <summary>Welcomed: heartbeats run, requests are served.</summary>
    Open,

    /// <summary>Teardown began (it runs exactly once).</summary>
    Closing,

    /// <summary>Teardown finished: transport released, hooks run.</summary>
    Closed,
}

/// <summary>
/// One client connection over one <see cref="IConnectionTransport"/>, and its one state machine
/// <c>Handshaking -> Open -> Closing -> Closed</c>. It owns the receive loop, the welcome-then-open step and the one
/// teardown path (<c>Connection.Teardown.cs</c>); what the messages mean is <see cref="MessageDispatcher"/>'s, the
/// send queue is <see cref="SendQueue"/>'s, the deadlines <see cref="ConnectionHeartbeat"/>'s, the channels
/// <see cref="ConnectionSubscriptions"/>'. Every field is declared and written in this file.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Teardown, which runs exactly once on every path, disposes the token source.")]
internal sealed partial class Connection : ISubscriber, ISendFailureHandler, IUserObserver
{
    /// <summary>The close reason of a connection refused because the engine could not count its connection slot (1013).</summary>
    public const string EngineUnavailableReason = "engine_unavailable";

    private static readonly object ClosedMark = new();

    private readonly IConnectionTransport _transport;
    private readonly LifelineRuntime _runtime;
    private readonly SendQueue _queue;
    private ConnectionHeartbeat _heartbeat; // a mutable struct: never copied, only used in place
    private readonly CancellationTokenSource _cts = new();
    private readonly long _startedAt;
    private readonly long _handshakeDeadline;
    private readonly string _address;
    private int _state; // a ConnectionState, changed only by TryChangeState, TryBeginClosing and MarkClosed
    private IAsyncDisposable? _userObservation; // the engine registration of a user's connection (anonymous: never set)
    private ConnectionCredentials? _credentials; // null: the token does not expire and has no claims (nothing held)
    private RateLimiter? _rate; // created with the first message after the hello that is not a pong
    private object? _closedSignal; // null until someone waits for Closed (nothing held while idle), then its source; ClosedMark once closed

    public Connection(IConnectionTransport transport, LifelineRuntime runtime)
    {
        _transport = transport;
        _runtime = runtime;
        Id = Ids.NewConnectionId();
        _address = transport.RemoteEndPoint?.Address.ToString() ?? string.Empty;
        _startedAt = runtime.Time.GetTimestamp();
        _handshakeDeadline = _startedAt + runtime.ToTimestampTicks(runtime.Options.HandshakeTimeout);
        _queue = new SendQueue(transport, runtime.Options, runtime.Metrics, runtime.Time, this);
        Counts = new ConnectionCounts(runtime.Limits);
        Subscriptions = new ConnectionSubscriptions(this, runtime.Hub, runtime.Presence);
    }

    public string Id { get; }

    /// <summary>This connection's place in <see cref="HeartbeatScheduler"/> (-1: not registered); the scheduler's, under its lock.</summary>
    public int SchedulerSlot { get; set; } = -1;

    public IPEndPoint? RemoteEndPoint => _transport.RemoteEndPoint;

    /// <summary>How the connection's bytes travel: the metrics' <c>transport</c> label.</summary>
    public string TransportName => _transport.Name;

    /// <summary>
    /// The request the message being handled came with, for the authenticator (<see cref="IConnectionTransport.Request"/>).
    /// </summary>
    public HttpContext Http => _transport.Request;

    /// <summary>The authenticated user, known once the hello was accepted.</summary>
    public string? UserId { get; private set; }

    /// <summary>The session token, known once the hello was accepted. Never logged.</summary>
    public string? SessionToken { get; private set; }

    /// <summary>The session's public id (a hash of the token), known once the hello was accepted.</summary>
    public string? SessionId { get; private set; }

    /// <summary>When the hello was received: the start of <c>state_sync_latency_seconds{phase="resync"}</c>.</summary>
    public long HelloAt { get; private set; }

    /// <summary>This connection's share of the connection limits (node-local handshakes, cluster-wide address and user slots).</summary>
    public ConnectionCounts Counts { get; }

    /// <summary>The channels this connection is subscribed to, and its presence memberships.</summary>
    public ConnectionSubscriptions Subscriptions { get; }

    /// <summary>The token's expiry and claims: set by the hello, moved by each successful refresh (<see cref="AcceptCredentials"/>), checked by the sweep.</summary>
    public ConnectionCredentials Credentials => Volatile.Read(ref _credentials) ?? ConnectionCredentials.None;

    /// <summary>This connection's token bucket, created on first use (<see cref="MessageDispatcher"/> only: the receive loop).</summary>
    public RateLimiter RateLimiter => _rate ??= new RateLimiter(_runtime.Options, _runtime.Time);

    /// <summary>The token bucket if a message other than a pong created it, else null.</summary>
    public RateLimiter? ExistingRateLimiter => _rate;

    public ConnectionState State => (ConnectionState)Volatile.Read(ref _state);

    /// <summary>Signalled when teardown begins: stops loops and fails the connection's pending operations.</summary>
    public CancellationToken Aborted => _cts.Token;

    /// <summary>Completes when teardown has finished (transport released, hooks run). Its task is created when first asked for.</summary>
    public Task Closed
    {
        get
        {
            var signal = Volatile.Read(ref _closedSignal);
            if (signal is null)
            {
                var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                signal = Interlocked.CompareExchange(ref _closedSignal, created, null) ?? created;
            }

            return signal is TaskCompletionSource source ? source.Task : Task.CompletedTask;
        }
    }

    /// <summary>Messages waiting to be written.</summary>
    public int SendQueueDepth => _queue.Depth;

    /// <summary>
    /// Runs the connection until it is torn down; the HTTP request ends when this returns. After taking the address
    /// slot it is the receive loop, the only reader of the transport for the connection's whole life (one async
    /// method, not two: an idle connection is suspended in here, and each suspended level holds a state-machine box).
    /// The loop never awaits teardown, so after the server starts a close it keeps reading (and discarding data) until
    /// the peer's close arrives or the transport fails, which is what lets teardown complete the close handshake.
    /// </summary>
    public async Task RunAsync()
    {
        _runtime.Registry.Add(this);
        _runtime.Scheduler.Register(this);
        ConnectionLog.Accepted(_runtime.Logger, Now(), Id, RemoteEndPoint);
        try
        {
            var outcome = await Counts.TryAcquireAsync(_runtime.Engine, ConnectionSlotKind.Address, _address, _runtime.Options.MaxConnectionsPerAddress);
            RefuseUnlessAcquired(outcome, "address", _runtime.Options.MaxConnectionsPerAddress);
        }
        catch (Exception ex)
        {
            // An engine bug must not leave the connection registered with no teardown: 1011 through the one path.
            ConnectionLog.HandlerFailed(_runtime.Logger, ex, Id);
            StartTeardown(CloseCode.InternalError, DisconnectInitiator.Server, ex);
        }

        var options = _runtime.Options;
        var receiving = true;
        while (receiving)
        {
            using var message = await _transport.ReceiveAsync(options.MaxMessageSize);
            if (EndsReceiving(message))
            {
                break;
            }

            if (State >= ConnectionState.Closing)
            {
                continue; // closing: discard data until the peer's close
            }

            switch (message.Kind)
            {
                case TransportMessageKind.Binary:
                    ConnectionLog.BadInput(_runtime.Logger, Now(), Id, RemoteEndPoint, CloseCode.UnsupportedData.Code, "binary frame");
                    StartTeardown(CloseCode.UnsupportedData, DisconnectInitiator.Server);
                    break;
                case TransportMessageKind.TooBig:
                    ConnectionLog.BadInput(_runtime.Logger, Now(), Id, RemoteEndPoint, CloseCode.MessageTooBig.Code, $"message over {options.MaxMessageSize} bytes");
                    StartTeardown(CloseCode.MessageTooBig, DisconnectInitiator.Server);
                    break;
                default:
                    try
                    {
                        await MessageDispatcher.HandleAsync(this, _runtime, message.Payload);
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
                    {
                        StartTeardown(CloseCode.Abnormal, DisconnectInitiator.Network, ex);
                        receiving = false;
                    }
                    catch (Exception ex)
                    {
                        // A bug must not leave the connection half torn down: close 1011 through the one teardown path.
                        ConnectionLog.HandlerFailed(_runtime.Logger, ex, Id);
                        StartTeardown(CloseCode.InternalError, DisconnectInitiator.Server, ex);
                    }

                    break;
            }
        }

        await Closed;
    }

    /// <summary>The peer closed, the transport ended or refused the peer's framing: teardown starts and the receive loop ends.</summary>
    private bool EndsReceiving(in TransportMessage message)
    {
        switch (message.Kind)
        {
            case TransportMessageKind.Close:
                StartTeardown(message.Close ?? CloseCode.Abnormal, DisconnectInitiator.Client);
                return true;
            case TransportMessageKind.Ended:
                StartTeardown(CloseCode.Abnormal, DisconnectInitiator.Network, message.Error);
                return true;
            case TransportMessageKind.Rejected:
                ConnectionLog.BadInput(_runtime.Logger, Now(), Id, RemoteEndPoint, CloseCode.InvalidPayload.Code, "rejected by the transport (malformed framing or invalid UTF-8)");
                StartTeardown(CloseCode.InvalidPayload, DisconnectInitiator.Server, message.Error);
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// Closes the connection when its per-address or per-user slot was not taken: 1008 <c>too_many_connections</c> at
    /// the limit, 1013 <c>engine_unavailable</c> when the engine could not count (the client retries with backoff).
    /// </summary>
    /// <returns>True when the slot was taken.</returns>
    public bool RefuseUnlessAcquired(SlotOutcome outcome, string scope, int limit)
    {
        switch (outcome)
        {
            case SlotOutcome.AtLimit:
                ConnectionLog.TooManyConnections(_runtime.Logger, Now(), Id, RemoteEndPoint, scope, limit);
                StartTeardown(CloseCode.PolicyViolation.WithReason("too_many_connections"), DisconnectInitiator.Server);
                return false;
            case SlotOutcome.Unavailable:
                Messaging.MessagingLog.EngineUnavailableAtConnect(_runtime.Logger, Now(), Id, RemoteEndPoint, scope);
                StartTeardown(CloseCode.TryAgainLater.WithReason(EngineUnavailableReason), DisconnectInitiator.Server);
                return false;
            default:
                return true;
        }
    }

    /// <summary>
    /// Registers this connection with the engine as an observer of its user's messages and disconnect orders (only a
    /// connection with a user: an anonymous one registers nothing and holds nothing). Teardown disposes the registration;
    /// one that completes after teardown began is disposed here.
    /// </summary>
    /// <returns>False when the engine could not register it (the connection is then closed with 1013).</returns>
    public async Task<bool> ObserveUserAsync(string user)
    {
        try
        {
            Interlocked.Exchange(ref _userObservation, await _runtime.Engine.ObserveUserAsync(user, this, CancellationToken.None));
        }
        catch (Exception ex) when (ex is EngineUnavailableException or ObjectDisposedException)
        {
            Messaging.MessagingLog.EngineUnavailableAtConnect(_runtime.Logger, Now(), Id, RemoteEndPoint, "user observer");
            StartTeardown(CloseCode.TryAgainLater.WithReason(EngineUnavailableReason), DisconnectInitiator.Server);
            return false;
        }

        if (State >= ConnectionState.Closing)
        {
            await StopObservingUserAsync();
            return false;
        }

        return true;
    }

    /// <summary>Disposes the user registration (once, whoever comes last: the teardown or a late <see cref="ObserveUserAsync"/>).</summary>
    private async ValueTask StopObservingUserAsync()
    {
        if (Interlocked.Exchange(ref _userObservation, null) is { } registration)
        {
            try
            {
                await registration.DisposeAsync();
            }
            catch (Exception ex) when (ex is EngineUnavailableException or ObjectDisposedException or OperationCanceledException)
            {
                // the engine is down or gone: it drops this node's registrations on its own
            }
        }
    }

    /// <summary>
    /// A message for this connection's user (PROTOCOL.md "message"): queued while the send queue is less than three
    /// quarters full (<see cref="LifelineOptions.SendQueueLimit"/> * 3 / 4), otherwise dropped and counted
    /// (<c>ws_messages_dropped_total</c>), never a reason to close the connection: the last quarter stays free for
    /// deltas and replies, so a flood of messages alone never makes a slow consumer (events stop once it is over half full). Sent only
    /// to an open connection (not before its welcome). Called by the engine; never blocks.
    /// </summary>
    void IUserObserver.OnMessage(UserMessage message)
    {
        if (State != ConnectionState.Open)
        {
            return;
        }

        var bytes = ProtocolSerializer.Serialize(new DirectMessage(message.Data, message.Ts));
        if (_queue.Offer(bytes, MessageBound(_runtime.Options.SendQueueLimit)) == EnqueueResult.Dropped)
        {
            _runtime.Metrics.MessageDropped();
        }
    }

    /// <summary>
    /// How many queued messages stop an event: PROTOCOL.md drops events for "a connection whose send queue is over half
    /// full", so an event is still queued while at most half of <paramref name="sendQueueLimit"/> messages wait (exactly
    /// half full is not over half) and dropped from the first message beyond half: limit / 2 + 1 (8192: queued while at
    /// most 4096 wait; 5: while at most 2 wait, as 3 of 5 is over half).
    /// </summary>
    internal static int EventBound(int sendQueueLimit) => sendQueueLimit / 2 + 1;

    /// <summary>How many queued messages stop a user message: three quarters of the send queue's limit.</summary>
    internal static int MessageBound(int sendQueueLimit) => (int)(sendQueueLimit * 3L / 4);

    /// <summary>The application disconnects this connection's user (on any node): teardown starts off the engine's thread.</summary>
    void IUserObserver.OnDisconnect(UserDisconnect disconnect)
    {
        var code = CloseCode.FromCode(disconnect.Code);
        if (disconnect.Reason is { } reason)
        {
            code = code.WithReason(reason);
        }

        ThreadPool.UnsafeQueueUserWorkItem(static s => s.Connection.StartTeardown(s.Code, DisconnectInitiator.Application), (Connection: this, Code: code), preferLocal: false);
    }

    /// <summary>The authenticator accepted the hello for <paramref name="auth"/>'s user, valid until <paramref name="expiresAt"/> (a timestamp, 0: no expiry).</summary>
    public void Authenticated(AuthenticationResult auth, long expiresAt)
    {
        UserId = auth.UserId;
        AcceptCredentials(expiresAt, auth.Claims);
    }

    /// <summary>Takes an accepted token's expiry (a timestamp, 0: none) and claims; the old ones no longer count.</summary>
    public void AcceptCredentials(long expiresAt, IReadOnlyDictionary<string, System.Text.Json.JsonElement>? claims)
    {
        Volatile.Write(ref _credentials, expiresAt == 0 && claims is null ? null : new ConnectionCredentials(expiresAt, claims));
        _runtime.Scheduler.Reschedule(this); // the expiry may be sooner than the next tick planned
    }

    /// <summary>The session this connection continues (resumed) or starts.</summary>
    public void AssignSession(string token)
    {
        SessionToken = token;
        SessionId = Ids.SessionId(token);
    }

    /// <summary>
    /// Counts the connection as open, queues the welcome, arms the first ping, then moves <c>Handshaking -> Open</c>.
    /// In this order the heartbeat sweep (which acts on Open connections only) cannot queue a ping ahead of the
    /// welcome, so the client's first message is always the welcome; and a client that has its welcome finds the
    /// connection counted in <c>ws_connections_active</c>.
    /// </summary>
    /// <param name="welcome">The welcome.</param>
    /// <param name="helloAt">When the hello was received (timestamp).</param>
    /// <returns>False when teardown began meanwhile.</returns>
    public bool TryOpen(WelcomeMessage welcome, long helloAt)
    {
        HelloAt = helloAt;
        Counts.LeaveHandshakeSlot();
        _runtime.Metrics.ConnectionOpened(_transport.Name);
        if (welcome.Resumed)
        {
            _runtime.Metrics.SessionResumed();
        }

        if (Enqueue(_transport.Announce(welcome)))
        {
            _heartbeat.Arm(_runtime.Time.GetTimestamp(), _runtime.Scheduler.Interval);
            if (TryChangeState(ConnectionState.Handshaking, ConnectionState.Open))
            {
                _runtime.Scheduler.Reschedule(this); // its next tick is the first ping now, not the hello deadline
                _runtime.TestHooks.Opened?.Invoke(this);
                return true;
            }
        }

        _runtime.Metrics.ConnectionOpenAborted(_transport.Name); // teardown, which began meanwhile, does not count an Open connection down
        return false;
    }

    /// <summary>
    /// Called by the scheduler's sweep: the hello deadline, the token's expiry (4002, checked even while pings are
    /// paused), then pings and the pong deadline. Never blocks: sends are queued (or written at once when nothing
    /// waits), teardown is started, not awaited.
    /// </summary>
    /// <returns>When this connection next needs a tick (a timestamp; <see cref="long.MaxValue"/>: never again).</returns>
    public long OnHeartbeatTick(long now, bool pingsPaused)
    {
        switch (State)
        {
            case ConnectionState.Handshaking when now >= _handshakeDeadline:
                ConnectionLog.HelloTimeout(_runtime.Logger, Now(), Id, RemoteEndPoint);
                StartTeardown(CloseCode.ProtocolError.WithReason("hello_timeout"), DisconnectInitiator.Server);
                return long.MaxValue;
            case ConnectionState.Handshaking:
                return _handshakeDeadline;
            case ConnectionState.Open when Credentials.IsExpired(now):
                ConnectionLog.TokenExpired(_runtime.Logger, Now(), Id, UserId, RemoteEndPoint);
                StartTeardown(CloseCode.TokenExpired, DisconnectInitiator.Server);
                return long.MaxValue;
            case ConnectionState.Open when !pingsPaused:
                break;
            case ConnectionState.Open:
                return now; // paused (tests): the sweep ticks every connection on every pass anyway
            default:
                return long.MaxValue;
        }

        var scheduler = _runtime.Scheduler;
        switch (_heartbeat.Tick(now, scheduler.Interval, scheduler.Timeout, out var ping))
        {
            case HeartbeatAction.Timeout:
                ConnectionLog.HeartbeatTimeout(_runtime.Logger, Now(), Id, UserId, RemoteEndPoint, _heartbeat.PingCounter);
                StartTeardown(CloseCode.HeartbeatTimeout, DisconnectInitiator.Server);
                return long.MaxValue;
            case HeartbeatAction.Ping:
                // Written by the sweep itself when nothing is queued (no task woken per ping); the bytes are shared.
                Accepted(_queue.EnqueueOrWrite(HeartbeatFrames.Ping(ping)));
                break;
        }

        var next = _heartbeat.NextDue;
        var expiresAt = Credentials.ExpiresAt;
        return expiresAt != 0 && expiresAt < next ? expiresAt : next;
    }

    /// <summary>A pong from the client.</summary>
    public void OnPong(long n) => _heartbeat.OnPong(n);

    /// <inheritdoc/>
    public bool Enqueue(ReadOnlyMemory<byte> utf8, long publishedAt = 0) => Accepted(_queue.Enqueue(utf8, publishedAt));

    /// <inheritdoc/>
    public bool Enqueue(ServerMessage message) => Enqueue(ProtocolSerializer.Serialize(message));

    /// <inheritdoc/>
    public void EnqueueEvent(ReadOnlyMemory<byte> utf8)
    {
        if (_queue.Offer(utf8, EventBound(_runtime.Options.SendQueueLimit)) == EnqueueResult.Dropped)
        {
            _runtime.Metrics.EventDropped();
        }
    }

    /// <inheritdoc/>
    public bool EnqueuePacked(IEnumerable<ServerMessage> messages) => Accepted(_queue.EnqueuePacked(messages));

    /// <summary>
    /// Holds the place of a reply whose content is not known yet (a publish's, while the engine applies it): whatever
    /// is queued meanwhile, the delta that publish causes included, goes out after the reply.
    /// </summary>
    /// <returns>The place, for <see cref="FillReply"/>; null when the connection is closing.</returns>
    public ReservedSlot? ReserveReply()
    {
        Accepted(_queue.Reserve(out var slot));
        return slot;
    }

    /// <summary>Gives a reserved place its reply (null: nothing; the place is skipped).</summary>
    public void FillReply(ReservedSlot? slot, ServerMessage? reply)
    {
        if (slot is not null)
        {
            _queue.Fill(slot, reply is null ? ReadOnlyMemory<byte>.Empty : ProtocolSerializer.Serialize(reply));
        }
    }

    /// <inheritdoc/>
    public SendBacklog Backlog => _queue.Backlog;

    /// <inheritdoc/>
    public Task? WhenDrained() => _queue.WhenDrained();

    /// <summary>Counts <c>state_sync_latency_seconds{phase="resync"}</c> once everything queued so far is written.</summary>
    public void MarkResyncWhenWritten() => _queue.MarkResyncWhenWritten(HelloAt);

    /// <inheritdoc/>
    public void Abort(CloseCode code, Exception? error) =>
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.Connection.StartTeardown(s.Code, DisconnectInitiator.Server, s.Error), (Connection: this, Code: code, Error: error), preferLocal: false);

    /// <summary>
    /// Resets the transport the way a network failure would, without starting teardown: the receive loop sees the
    /// failure and tears down through the one teardown path (1006, <see cref="DisconnectInitiator.Network"/>).
    /// The drain's fallback uses it for connections whose teardown is stuck; tests use it to simulate a network cut.
    /// </summary>
    public void AbortTransport() => _transport.Abort();

    /// <summary>A queue overflow is a slow consumer: closed with 1013, off the caller's thread (it may hold a channel lock).</summary>
    private bool Accepted(EnqueueResult result)
    {
        if (result == EnqueueResult.Overflow)
        {
            ConnectionLog.SlowConsumer(_runtime.Logger, Now(), Id, UserId, RemoteEndPoint, _runtime.Options.SendQueueLimit);
            Abort(CloseCode.TryAgainLater.WithReason("slow_consumer"), null);
        }

        return result == EnqueueResult.Queued;
    }

    /// <inheritdoc/>
    public void OnSendFailed(Exception error) => StartTeardown(CloseCode.Abnormal, DisconnectInitiator.Network, error);

    private bool TryChangeState(ConnectionState from, ConnectionState to) =>
        Interlocked.CompareExchange(ref _state, (int)to, (int)from) == (int)from;

    /// <summary>Moves Handshaking or Open to Closing; only the first caller succeeds: that is the teardown's guard.</summary>
    private bool TryBeginClosing(out bool wasOpen)
    {
        wasOpen = false;
        if (TryChangeState(ConnectionState.Handshaking, ConnectionState.Closing))
        {
            return true;
        }

        wasOpen = TryChangeState(ConnectionState.Open, ConnectionState.Closing);
        return wasOpen;
    }

    private void MarkClosed() => Volatile.Write(ref _state, (int)ConnectionState.Closed);

    /// <summary>Completes <see cref="Closed"/> (its task, if anyone asked for it; later askers get a completed task).</summary>
    private void SignalClosed() => (Interlocked.Exchange(ref _closedSignal, ClosedMark) as TaskCompletionSource)?.TrySetResult();

    private LogTime Now() => LogTime.Now(_runtime.Time);

    private TimeSpan Elapsed => _runtime.Time.GetElapsedTime(_startedAt);
}
