// The public face of one channel: its events, name, state accessors, and the subscribe, unsubscribe, publish and
// presence calls, plus the handlers the client's message loop calls for this channel's messages. It owns the channel's
// lock (_sync) and the two parts that lock guards: ChannelReplica (Internal/ChannelReplica.cs: the local state and its
// position, how deltas apply) and ChannelSubscription (Internal/ChannelSubscription.cs: which connection the channel
// is subscribed and synchronized on, and who waits for that). Each handler takes the lock, asks both parts, and
// raises events and settles waiters after releasing it. Publishing is the client's (its offline queue).
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
public sealed partial class LifelineChannel
{
    private readonly LifelineClient _client;
    private readonly Lock _sync = new();
    private readonly ChannelReplica _replica = new();
    private readonly ChannelSubscription _subscription = new();

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
                return _subscription.IsDesired;
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
                return _replica.Position;
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
            VisibleState().WriteTo(writer);
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
            return VisibleState().Deserialize(typeInfo);
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

        Task? synced;
        lock (_sync)
        {
            synced = _subscription.Want();
        }

        if (synced is null)
        {
            return;
        }

        if (_client.ReadyConnection is { } conn && TryBeginSubscribe(conn))
        {
            _client.StartSubscribe(conn, this, resync: false);
        }

        await synced.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Unsubscribes: the client stops applying deltas and no longer re-subscribes. The local state and position are kept.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for the server's reply.</param>
    /// <returns>A task that completes when the server confirmed, or at once when disconnected.</returns>
    public async Task UnsubscribeAsync(CancellationToken cancellationToken = default)
    {
        _client.ThrowIfDisposed();
        ChannelSubscription.WaiterBatch cancelled;
        lock (_sync)
        {
            cancelled = _subscription.Drop();
        }

        cancelled.Cancel();
        FailPositionWaiters(new OperationCanceledException("the channel was unsubscribed"));

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
            return _subscription.TryBegin(conn);
        }
    }

    internal void OnSubscribed(ClientConnection conn, SubscribedMessage subscribed)
    {
        ChannelSubscription.WaiterBatch done;
        lock (_sync)
        {
            if (!_subscription.IsDesired)
            {
                return;
            }

            _subscription.OnSubscribed(conn, subscribed.Offset);
            _replica.OnSubscribed(subscribed);
            done = _subscription.TakeWaitersIfSynced(_replica);
        }

        done.Complete();
    }

    internal void OnSnapshot(SnapshotMessage snapshot)
    {
        ChannelChangedEventArgs args;
        bool visibleChanged;
        ChannelSubscription.WaiterBatch done;
        lock (_sync)
        {
            if (!_subscription.IsDesired)
            {
                return;
            }

            var visibleBefore = VisibleBeforeRebase();
            _replica.ReplaceWith(snapshot);
            visibleChanged = Rebase(visibleBefore, snapshot: true);
            args = new ChannelChangedEventArgs(Name, snapshot.Epoch, snapshot.Offset, isSnapshot: true, null, null);
            done = _subscription.TakeWaitersIfSynced(_replica);
        }

        if (visibleChanged)
        {
            _client.Raise(Changed, args, nameof(Changed), this);
        }

        done.Complete();
        NotifyPositionWaiters();
    }

    /// <summary>Applies a delta in order.</summary>
    /// <returns>True when a gap was found and the channel should be re-subscribed from its position.</returns>
    internal bool OnDelta(ClientConnection conn, DeltaMessage delta)
    {
        ChannelChangedEventArgs args;
        bool visibleChanged;
        Position position;
        ChannelSubscription.WaiterBatch done;
        lock (_sync)
        {
            if (!_subscription.IsDesired)
            {
                return false;
            }

            var visibleBefore = VisibleBeforeRebase();
            switch (_replica.Apply(delta))
            {
                case DeltaOutcome.Applied:
                    break;
                case DeltaOutcome.Gap:
                    // A gap while our subscribe is still in flight on this connection is not real yet: its reply is not in.
                    if (_subscription.IsInFlightOn(conn))
                    {
                        return false;
                    }

                    LifelineClient.Log.ChannelGap(_client.Logger, Name, _replica.Position!.Offset + 1, delta.Offset);
                    return true;
                default:
                    return false;
            }

            visibleChanged = Rebase(visibleBefore, snapshot: false);
            position = _replica.Position!;
            args = new ChannelChangedEventArgs(Name, position.Epoch, delta.Offset, isSnapshot: false, delta.Patch, delta.Ts);
            done = _subscription.TakeWaitersIfSynced(_replica);
        }

        // First, so a losing update retries at once (issue 15 fairness); outside the channel lock (client lock first).
        if (HasActiveUpdates)
        {
            _client.SupersedeStaleUpdates(conn, Name, position);
        }

        if (visibleChanged)
        {
            _client.Raise(Changed, args, nameof(Changed), this);
        }

        done.Complete();
        NotifyPositionWaiters();
        return false;
    }

    internal void OnPresence(PresenceMessage presence)
    {
        lock (_sync)
        {
            if (!_subscription.IsDesired)
            {
                return;
            }
        }

        _client.Raise(Presence, new PresenceEventArgs(Name, presence.Event, presence.User, presence.Reason, presence.Ts), nameof(Presence), this);
    }

    /// <summary>The subscribe request sent on <paramref name="conn"/> got its reply (or failed to be sent).</summary>
    internal void OnSubscribeEnded(ClientConnection conn, Exception? error, bool refused)
    {
        ChannelSubscription.WaiterBatch failed;
        lock (_sync)
        {
            failed = _subscription.OnSubscribeEnded(conn, refused);
        }

        failed.Fail(error);
    }

    /// <summary>The connection ended: subscribes waiting on it fail; the channel itself stays subscribed.</summary>
    internal void OnConnectionEnded(ClientConnection conn)
    {
        ChannelSubscription.WaiterBatch failed;
        lock (_sync)
        {
            failed = _subscription.OnConnectionEnded(conn);
        }

        failed.Fail(new LifelineDisconnectedException("the connection was lost before the subscription completed; the channel stays subscribed and is subscribed again on reconnect"));
    }

    internal void FailWaiters(Exception error)
    {
        ChannelSubscription.WaiterBatch failed;
        lock (_sync)
        {
            failed = _subscription.Reset();
        }

        failed.Fail(error);
        FailPositionWaiters(error);
    }
}
