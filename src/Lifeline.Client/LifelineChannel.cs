using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Lifeline.Client.Internal;
using Lifeline.Protocol;

namespace Lifeline.Client;

/// <summary>
/// One channel of a <see cref="LifelineClient"/>: its local state (the last snapshot with every later delta applied
/// in offset order), its position <c>{epoch, offset}</c>, and its events. Obtain it with
/// <see cref="LifelineClient.Channel"/>; the same object serves the channel across every reconnect.
/// </summary>
/// <remarks>
/// Deltas are applied only in order: a duplicate (offset at or below the last applied one) is ignored, and a gap
/// makes the client subscribe again from the last applied position. After a reconnect the client re-subscribes
/// with that position, so the server sends only what was missed (or a snapshot when it cannot).
/// </remarks>
public sealed class LifelineChannel
{
    private readonly LifelineClient _client;
    private readonly Lock _sync = new();
    private readonly List<Waiter> _waiters = [];
    private JsonObject _state = [];
    private Position? _position;
    private bool _desired;
    private bool _awaitingSnapshot;
    private long _syncTarget = -1;
    private ClientConnection? _subscribeInFlight;
    private ClientConnection? _subscribedOn;
    private ClientConnection? _syncedOn;

    internal LifelineChannel(LifelineClient client, string name)
    {
        _client = client;
        Name = name;
    }

    /// <summary>Raised after a snapshot replaced the state or a delta was applied, in offset order, on the client's message loop.</summary>
    public event EventHandler<ChannelChangedEventArgs>? Changed;

    /// <summary>Raised when a user joins or leaves the channel.</summary>
    public event EventHandler<PresenceEventArgs>? Presence;

    /// <summary>The channel name.</summary>
    public string Name { get; }

    /// <summary>The client this channel belongs to.</summary>
    public LifelineClient Client => _client;

    /// <summary>Whether the application subscribed (and has not unsubscribed): the client keeps it subscribed across reconnects.</summary>
    public bool IsSubscribed
    {
        get
        {
            lock (_sync)
            {
                return _desired;
            }
        }
    }

    /// <summary>The position of the local state: the epoch and the offset of the last applied snapshot or delta; null before the first.</summary>
    public Position? Position
    {
        get
        {
            lock (_sync)
            {
                return _position;
            }
        }
    }

    /// <summary>Returns a snapshot of the local state (a JSON object; empty before the first snapshot).</summary>
    /// <returns>An immutable copy, safe to keep and read from any thread.</returns>
    public JsonElement GetState()
    {
        var buffer = new ArrayBufferWriter<byte>();
        lock (_sync)
        {
            using var writer = new Utf8JsonWriter(buffer);
            _state.WriteTo(writer);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }

    /// <summary>Returns the local state deserialized to <typeparamref name="T"/> with source-generated metadata.</summary>
    /// <typeparam name="T">The type of the state document.</typeparam>
    /// <param name="typeInfo">The metadata, for example <c>MyJsonContext.Default.Room</c>.</param>
    /// <returns>The state as <typeparamref name="T"/>.</returns>
    public T? GetState<T>(JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        lock (_sync)
        {
            return _state.Deserialize(typeInfo);
        }
    }

    /// <summary>
    /// Subscribes: the client receives the channel's state and deltas, and re-subscribes after every reconnect until
    /// <see cref="UnsubscribeAsync"/>. Completes when the server confirmed the subscription and the local state is up to
    /// date as of that moment. While the client is reconnecting, waits for the next connection.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting (the channel stays subscribed).</param>
    /// <returns>A task that completes when the channel is subscribed and synchronized.</returns>
    /// <exception cref="LifelineRequestException">The server refused (for example <c>forbidden</c>); the channel is not subscribed.</exception>
    /// <exception cref="LifelineDisconnectedException">
    /// The connection was lost while subscribing. The channel stays subscribed: the client subscribes again on reconnect.
    /// </exception>
    /// <exception cref="InvalidOperationException">The client is closed.</exception>
    public async Task SubscribeAsync(CancellationToken cancellationToken = default)
    {
        _client.ThrowIfDisposed();
        if (_client.State == ClientState.Closed)
        {
            throw new InvalidOperationException("the client is closed; call ConnectAsync first");
        }

        Waiter waiter;
        lock (_sync)
        {
            _desired = true;
            if (_syncedOn is { IsEnded: false })
            {
                return;
            }

            waiter = new Waiter(_subscribeInFlight);
            _waiters.Add(waiter);
        }

        if (_client.ReadyConnection is { } conn && TryBeginSubscribe(conn))
        {
            _client.StartSubscribe(conn, this, resync: false);
        }

        await waiter.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Unsubscribes: the client stops applying deltas and no longer re-subscribes. The local state and position are kept.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for the server's reply.</param>
    /// <returns>A task that completes when the server confirmed, or at once when disconnected.</returns>
    public async Task UnsubscribeAsync(CancellationToken cancellationToken = default)
    {
        _client.ThrowIfDisposed();
        List<Waiter> cancelled;
        lock (_sync)
        {
            _desired = false;
            _syncedOn = null;
            _subscribedOn = null;
            cancelled = [.. _waiters];
            _waiters.Clear();
        }

        foreach (var w in cancelled)
        {
            w.Completion.TrySetException(new OperationCanceledException("the channel was unsubscribed"));
        }

        if (_client.ReadyConnection is not { } conn)
        {
            return;
        }

        var reply = await (await _client.SendRequestAsync(conn, id => new UnsubscribeMessage(Name) { Id = id }).ConfigureAwait(false))
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        var notSubscribed = reply is ReplyMessage { Ok: false, Error.Code: ErrorCodes.NotSubscribed } or ErrorMessage { Code: ErrorCodes.NotSubscribed };
        if (!notSubscribed)
        {
            LifelineClient.EnsureOk<ReplyMessage>(reply);
        }
    }

    /// <summary>
    /// Publishes a JSON Merge Patch (RFC 7396) to the channel. Made while disconnected, it is queued and sent, in order
    /// and with its idempotency key, after the next reconnect; in flight when the connection drops, it is re-sent with
    /// the same key, so the server applies it exactly once.
    /// </summary>
    /// <param name="patch">The merge patch; must be a JSON object.</param>
    /// <param name="cancellationToken">Stops waiting and removes the publish from the queue (one already sent may still be applied).</param>
    /// <returns>The offset the server assigned to the patch.</returns>
    /// <exception cref="LifelinePublishException">The server refused the publish (see <see cref="LifelineRequestException.ErrorCode"/>).</exception>
    /// <exception cref="LifelineQueueFullException"><see cref="LifelineClientOptions.OfflineQueueLimit"/> publishes are already waiting.</exception>
    /// <exception cref="LifelineDisconnectedException">The client was closed before the server acknowledged the publish.</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    /// <exception cref="InvalidOperationException">The client is closed.</exception>
    public Task<long> PublishAsync(JsonElement patch, CancellationToken cancellationToken = default) =>
        _client.PublishAsync(Name, patch, cancellationToken);

    /// <summary>Publishes a JSON Merge Patch (RFC 7396) given as a <see cref="JsonObject"/>; see <see cref="PublishAsync(JsonElement, CancellationToken)"/>.</summary>
    /// <param name="patch">The merge patch.</param>
    /// <param name="cancellationToken">Stops waiting and removes the publish from the queue.</param>
    /// <returns>The offset the server assigned to the patch.</returns>
    public Task<long> PublishAsync(JsonObject patch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(patch);
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            patch.WriteTo(writer);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return _client.PublishAsync(Name, document.RootElement.Clone(), cancellationToken);
    }

    /// <summary>Publishes a merge patch serialized from <paramref name="patch"/>; see <see cref="PublishAsync(JsonElement, CancellationToken)"/>.</summary>
    /// <typeparam name="T">The patch type; it must serialize to a JSON object.</typeparam>
    /// <param name="patch">The patch.</param>
    /// <param name="typeInfo">Source-generated metadata for <typeparamref name="T"/>.</param>
    /// <param name="cancellationToken">Stops waiting and removes the publish from the queue.</param>
    /// <returns>The offset the server assigned to the patch.</returns>
    public Task<long> PublishAsync<T>(T patch, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken = default) =>
        _client.PublishAsync(Name, JsonSerializer.SerializeToElement(patch, typeInfo), cancellationToken);

    /// <summary>Asks the server for the channel's members.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The user ids present in the channel.</returns>
    /// <exception cref="LifelineDisconnectedException">Not connected, or the connection was lost before the reply.</exception>
    /// <exception cref="LifelineRequestException">The server refused.</exception>
    public async Task<IReadOnlyList<string>> GetPresenceAsync(CancellationToken cancellationToken = default)
    {
        _client.ThrowIfDisposed();
        var conn = _client.ReadyConnection ?? throw new LifelineDisconnectedException("the client is not connected");
        var reply = await (await _client.SendRequestAsync(conn, id => new PresenceRequestMessage(Name) { Id = id }).ConfigureAwait(false))
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        return LifelineClient.EnsureOk<ReplyMessage>(reply).Members ?? [];
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} @ {Position?.Epoch ?? "-"}:{Position?.Offset.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"}";

    /// <summary>Marks a subscribe as in flight on <paramref name="conn"/>; false when not wanted or already in flight there.</summary>
    internal bool TryBeginSubscribe(ClientConnection conn)
    {
        lock (_sync)
        {
            if (!_desired || _subscribeInFlight == conn || conn.IsEnded)
            {
                return false;
            }

            _subscribeInFlight = conn;
            _syncedOn = null;
            foreach (var w in _waiters)
            {
                if (w.Connection is null || w.Connection.IsEnded)
                {
                    w.Connection = conn;
                }
            }

            return true;
        }
    }

    internal void OnSubscribed(ClientConnection conn, SubscribedMessage subscribed)
    {
        List<Waiter>? done;
        lock (_sync)
        {
            if (!_desired)
            {
                return;
            }

            _subscribedOn = conn;
            _syncTarget = subscribed.Offset;

            // The reply is in: from here deltas arrive in order, so a gap found now is a real one to recover from.
            if (_subscribeInFlight == conn)
            {
                _subscribeInFlight = null;
            }

            // Not recovered (or another epoch): a snapshot follows; deltas until then belong to nothing we hold.
            _awaitingSnapshot = !subscribed.Recovered || _position is null || _position.Epoch != subscribed.Epoch;
            done = TakeWaitersIfCaughtUp();
        }

        Complete(done);
    }

    internal void OnSnapshot(SnapshotMessage snapshot)
    {
        ChannelChangedEventArgs args;
        List<Waiter>? done;
        lock (_sync)
        {
            if (!_desired)
            {
                return;
            }

            _state = JsonNode.Parse(snapshot.State.GetRawText()) as JsonObject ?? [];
            _position = new Position(snapshot.Epoch, snapshot.Offset);
            _awaitingSnapshot = false;
            args = new ChannelChangedEventArgs(Name, snapshot.Epoch, snapshot.Offset, isSnapshot: true, null, null);
            done = TakeWaitersIfCaughtUp();
        }

        _client.Raise(Changed, args, nameof(Changed), this);
        Complete(done);
    }

    /// <summary>Applies a delta in order.</summary>
    /// <returns>True when a gap was found and the channel should be re-subscribed from its position.</returns>
    internal bool OnDelta(ClientConnection conn, DeltaMessage delta)
    {
        ChannelChangedEventArgs args;
        List<Waiter>? done;
        lock (_sync)
        {
            if (!_desired || _awaitingSnapshot || _position is not { } position)
            {
                return false;
            }

            if (delta.Offset <= position.Offset)
            {
                // Duplicate (for example live delivery overlapping recovery): already applied.
                return false;
            }

            if (delta.Offset != position.Offset + 1)
            {
                if (_subscribeInFlight == conn)
                {
                    return false;
                }

                LifelineClient.Log.ChannelGap(_client.Logger, Name, position.Offset + 1, delta.Offset);
                return true;
            }

            JsonMergePatch.ApplyToObject(_state, delta.Patch);
            _position = position with { Offset = delta.Offset };
            args = new ChannelChangedEventArgs(Name, position.Epoch, delta.Offset, isSnapshot: false, delta.Patch, delta.Ts);
            done = TakeWaitersIfCaughtUp();
        }

        _client.Raise(Changed, args, nameof(Changed), this);
        Complete(done);
        return false;
    }

    internal void OnPresence(PresenceMessage presence)
    {
        lock (_sync)
        {
            if (!_desired)
            {
                return;
            }
        }

        _client.Raise(Presence, new PresenceEventArgs(Name, presence.Event, presence.User, presence.Reason, presence.Ts), nameof(Presence), this);
    }

    /// <summary>The subscribe request sent on <paramref name="conn"/> got its reply (or failed to be sent).</summary>
    internal void OnSubscribeEnded(ClientConnection conn, Exception? error, bool refused)
    {
        List<Waiter>? failed = null;
        lock (_sync)
        {
            if (_subscribeInFlight == conn)
            {
                _subscribeInFlight = null;
            }

            if (refused)
            {
                _desired = false;
                failed = [.. _waiters];
                _waiters.Clear();
            }
        }

        Fail(failed, error);
    }

    /// <summary>The connection ended: subscribes waiting on it fail; the channel itself stays subscribed.</summary>
    internal void OnConnectionEnded(ClientConnection conn)
    {
        List<Waiter> failed = [];
        lock (_sync)
        {
            if (_subscribeInFlight == conn)
            {
                _subscribeInFlight = null;
            }

            if (_subscribedOn == conn)
            {
                _subscribedOn = null;
            }

            if (_syncedOn == conn)
            {
                _syncedOn = null;
            }

            _waiters.RemoveAll(w =>
            {
                if (w.Connection != conn)
                {
                    return false;
                }

                failed.Add(w);
                return true;
            });
        }

        Fail(failed, new LifelineDisconnectedException("the connection was lost before the subscription completed; the channel stays subscribed and is subscribed again on reconnect"));
    }

    internal void FailWaiters(Exception error)
    {
        List<Waiter> failed;
        lock (_sync)
        {
            failed = [.. _waiters];
            _waiters.Clear();
            _subscribeInFlight = null;
            _subscribedOn = null;
            _syncedOn = null;
        }

        Fail(failed, error);
    }

    private List<Waiter>? TakeWaitersIfCaughtUp()
    {
        if (_subscribedOn is not { } conn || _awaitingSnapshot || _position is null || _position.Offset < _syncTarget)
        {
            return null;
        }

        _syncedOn = conn;
        if (_waiters.Count == 0)
        {
            return null;
        }

        List<Waiter> done = [.. _waiters];
        _waiters.Clear();
        return done;
    }

    private static void Complete(List<Waiter>? waiters)
    {
        if (waiters is null)
        {
            return;
        }

        foreach (var w in waiters)
        {
            w.Completion.TrySetResult();
        }
    }

    private static void Fail(List<Waiter>? waiters, Exception? error)
    {
        if (waiters is null)
        {
            return;
        }

        foreach (var w in waiters)
        {
            w.Completion.TrySetException(error ?? new LifelineDisconnectedException());
        }
    }

    /// <summary>A caller of SubscribeAsync, bound to the connection its subscribe went out on (null while offline).</summary>
    private sealed class Waiter(ClientConnection? connection)
    {
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ClientConnection? Connection { get; set; } = connection;
    }
}
