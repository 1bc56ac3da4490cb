// Conditional publish and read-modify-write (issue 15; PROTOCOL.md publish "if" and the error "conflict"). A merge
// patch replaces arrays whole, so two clients appending to one list at once would lose an item: UpdateAsync computes
// the new document from the confirmed state, publishes the diff on the condition that the channel is still at the
// position it read, and on a conflict waits until the channel caught up with the server's position and tries again.
// Fairness under contention (two writers hammering one channel must not starve one of them past the retry limit):
// - early retry: a delta past the update's "if" settles it as a conflict at once (LifelineClient.Updates.cs), so the
//   loser sends its retry as soon as it sees the winner's delta, not one server round later;
// - yield: a new update of a channel where one of this client's updates conflicted within ContentionWindow first waits
//   for the next delta of that channel, at most ContentionYield, so a retrying writer goes before a fresh one. An
//   uncontended writer never waits.
using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Client.Internal;
using Lifeline.Protocol;

namespace Lifeline.Client;

public sealed partial class LifelineChannel
{
    /// <summary>How long after a conflict of one of its updates a channel counts as contended.</summary>
    internal static readonly TimeSpan ContentionWindow = TimeSpan.FromSeconds(1);

    /// <summary>The longest a new update of a contended channel waits for another writer's delta before it starts.</summary>
    internal static readonly TimeSpan ContentionYield = TimeSpan.FromMilliseconds(20);

    private readonly PositionWaiters _positionWaiters = new();

    /// <summary>The client's timestamp of the last conflict of an update of this channel; 0 for never.</summary>
    private long _lastConflictTimestamp;

    /// <summary>How many UpdateAsync calls of this channel are running.</summary>
    private int _activeUpdates;

    /// <summary>
    /// Publishes a JSON Merge Patch (RFC 7396) on a condition: it applies only if the channel is at exactly
    /// <paramref name="expected"/> (compare-and-set, PROTOCOL.md publish <c>if</c>); see
    /// <see cref="PublishAsync(JsonElement, CancellationToken)"/> for the queue and the idempotency key.
    /// </summary>
    /// <param name="patch">The merge patch; must be a JSON object.</param>
    /// <param name="expected">The epoch and offset the channel must be at, usually <see cref="Position"/>; null publishes unconditionally.</param>
    /// <param name="cancellationToken">Stops waiting and removes the publish from the queue (one already sent may still be applied).</param>
    /// <returns>The offset the server assigned to the patch.</returns>
    /// <exception cref="LifelineConflictException">The channel was at another position (<see cref="LifelineConflictException.CurrentPosition"/>); nothing was applied.</exception>
    /// <exception cref="LifelinePublishException">The server refused the publish for another reason.</exception>
    public Task<long> PublishAsync(JsonElement patch, Position? expected, CancellationToken cancellationToken = default) =>
        _client.PublishAsync(Name, patch, cancellationToken, expected);

    /// <summary>Publishes a merge patch given as a <see cref="JsonObject"/> on a condition; see <see cref="PublishAsync(JsonElement, Position?, CancellationToken)"/>.</summary>
    /// <param name="patch">The merge patch.</param>
    /// <param name="expected">The epoch and offset the channel must be at; null publishes unconditionally.</param>
    /// <param name="cancellationToken">Stops waiting and removes the publish from the queue.</param>
    /// <returns>The offset the server assigned to the patch.</returns>
    /// <exception cref="LifelineConflictException">The channel was at another position; nothing was applied.</exception>
    public Task<long> PublishAsync(JsonObject patch, Position? expected, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(patch);
        return _client.PublishAsync(Name, ToElement(patch), cancellationToken, expected);
    }

    /// <summary>
    /// Read-modify-write without losing a concurrent change: reads the confirmed state (the server's state at
    /// <see cref="Position"/>, without optimistic changes), calls <paramref name="update"/> with a copy of it, and
    /// publishes the merge patch between the two (<see cref="JsonMergePatch.Create"/>) on the condition that the channel
    /// is still at that position. On a conflict it waits until the channel has caught up with the server's position and
    /// starts over, calling <paramref name="update"/> again, up to <see cref="LifelineClientOptions.UpdateRetryLimit"/>
    /// times. Completes once the confirmed state includes the update.
    /// </summary>
    /// <remarks>
    /// <para>
    /// The channel must be subscribed; before its first snapshot this waits for it. <paramref name="update"/> may modify
    /// the object it is given and return it, or return a new one; it may be called several times, so it should only
    /// compute. When it returns a document equal to the state, nothing is published.
    /// </para>
    /// <para>
    /// Contention: a delta past the position the update expected, arriving before the server's reply, proves the
    /// update lost (the server replies to a publish before it sends its delta), so the update retries at once from the
    /// new state, without waiting for the conflict reply (which is then ignored); that counts as one retry. And for
    /// one second after an update of this channel conflicted, a new update first waits for the next delta of the
    /// channel (at most 20 ms), so a retrying writer goes before a fresh one and no writer starves. An uncontended
    /// writer never waits.
    /// </para>
    /// </remarks>
    /// <param name="update">Computes the new state from the current one (for example appends an item to a list).</param>
    /// <param name="cancellationToken">Stops waiting; a publish already sent may still be applied.</param>
    /// <returns>The offset of the published patch (the current offset when nothing needed publishing).</returns>
    /// <exception cref="LifelineConflictException">Still a conflict after <see cref="LifelineClientOptions.UpdateRetryLimit"/> retries.</exception>
    /// <exception cref="LifelinePublishException">The server refused the publish for another reason (for example <c>forbidden</c>).</exception>
    /// <exception cref="InvalidOperationException">The channel is not subscribed, the client is closed, or <paramref name="update"/> returned null.</exception>
    /// <exception cref="Exception">Whatever <paramref name="update"/> threw: that update fails and nothing is sent.</exception>
    public async Task<long> UpdateAsync(Func<JsonObject, JsonObject> update, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        _client.ThrowIfDisposed();
        Interlocked.Increment(ref _activeUpdates);
        try
        {
            return await UpdateCoreAsync(update, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _activeUpdates);
        }
    }

    /// <summary>True while an <see cref="UpdateAsync"/> of this channel runs: only then can a delta supersede a publish.</summary>
    internal bool HasActiveUpdates => Volatile.Read(ref _activeUpdates) > 0;

    private async Task<long> UpdateCoreAsync(Func<JsonObject, JsonObject> update, CancellationToken cancellationToken)
    {
        var retries = _client.Options.UpdateRetryLimit;
        for (var attempt = 0; ; attempt++)
        {
            if (!IsSubscribed)
            {
                throw new InvalidOperationException($"subscribe to {Name} before updating it: UpdateAsync reads the channel's confirmed state");
            }

            if (Position is null)
            {
                await SubscribeAsync(cancellationToken).ConfigureAwait(false);
            }

            if (attempt == 0)
            {
                await YieldIfContendedAsync(cancellationToken).ConfigureAwait(false);
            }

            var (before, position) = ReadConfirmed();
            var after = update(before.DeepClone().AsObject())
                ?? throw new InvalidOperationException("the update function returned null; return the new state (an object)");
            var patch = (JsonObject)JsonMergePatch.Create(before, after)!;
            if (patch.Count == 0)
            {
                return position.Offset;
            }

            long offset;
            try
            {
                offset = await _client.PublishAsync(Name, ToElement(patch), cancellationToken, position, supersedeEarly: true).ConfigureAwait(false);
            }
            catch (LifelineConflictException conflict)
            {
                Volatile.Write(ref _lastConflictTimestamp, _client.Time.GetTimestamp());
                if (attempt >= retries)
                {
                    throw;
                }

                LifelineClient.Log.UpdateConflict(_client.Logger, Name, attempt + 1, position.Epoch, position.Offset, conflict.CurrentPosition?.Epoch, conflict.CurrentPosition?.Offset);
                await WaitUntilAsync(CaughtUpWith(conflict.CurrentPosition, position), cancellationToken).ConfigureAwait(false);
                continue;
            }

            try
            {
                // The reply comes before the delta: wait for it, so the next read (the next UpdateAsync) starts from a
                // state that includes this update instead of a certain conflict.
                await WaitUntilAsync(p => p is not null && p.Epoch == position.Epoch && p.Offset >= offset, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The update was applied: a client closed or a wait cancelled meanwhile does not make it fail.
            }

            return offset;
        }
    }

    /// <summary>
    /// Before a new update's first attempt: when an update of this channel conflicted within
    /// <see cref="ContentionWindow"/>, another writer is likely retrying right now; wait for its delta (the next change
    /// of position), at most <see cref="ContentionYield"/>, so its retry is not beaten by this fresh update.
    /// </summary>
    private async Task YieldIfContendedAsync(CancellationToken cancellationToken)
    {
        var last = Volatile.Read(ref _lastConflictTimestamp);
        if (last == 0)
        {
            return;
        }

        var since = _client.Time.GetElapsedTime(last);
        if (since >= ContentionWindow)
        {
            return;
        }

        var read = Position;
        LifelineClient.Log.UpdateYielding(_client.Logger, Name, (long)ContentionYield.TotalMilliseconds, (long)since.TotalMilliseconds);
        using var timeout = new CancellationTokenSource(ContentionYield, _client.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await WaitUntilAsync(p => p != read, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The yield is over (or the channel was unsubscribed: the update's loop reports that).
        }
    }

    /// <summary>Completes once the channel's position meets <paramref name="reached"/>; fails when the client closes or the channel is unsubscribed.</summary>
    internal async Task WaitUntilAsync(Func<Position?, bool> reached, CancellationToken cancellationToken)
    {
        PositionWaiters.Waiter waiter;
        lock (_sync)
        {
            if (reached(_replica.Position))
            {
                return;
            }

            if (!_subscription.IsDesired)
            {
                throw new OperationCanceledException("the channel was unsubscribed");
            }

            waiter = _positionWaiters.Add(reached);
        }

        using var registration = cancellationToken.Register(
            static state =>
            {
                var (channel, w) = ((LifelineChannel, PositionWaiters.Waiter))state!;
                lock (channel._sync)
                {
                    channel._positionWaiters.Remove(w);
                }

                w.Completion.TrySetCanceled();
            },
            (this, waiter));
        await waiter.Completion.Task.ConfigureAwait(false);
    }

    /// <summary>After the local position moved (a snapshot or a delta): completes the waiters it satisfies.</summary>
    private void NotifyPositionWaiters()
    {
        List<PositionWaiters.Waiter>? reached;
        lock (_sync)
        {
            reached = _positionWaiters.TakeReached(_replica.Position);
        }

        if (reached is not null)
        {
            foreach (var w in reached)
            {
                w.Completion.TrySetResult();
            }
        }
    }

    /// <summary>The client stopped or the channel was unsubscribed: every position waiter fails.</summary>
    private void FailPositionWaiters(Exception error)
    {
        List<PositionWaiters.Waiter>? all;
        lock (_sync)
        {
            all = _positionWaiters.TakeAll();
        }

        if (all is not null)
        {
            foreach (var w in all)
            {
                w.Completion.TrySetException(error);
            }
        }
    }

    /// <summary>
    /// The position to wait for after a conflict: the server's position in its epoch, or any position of an epoch other
    /// than the one the publish was made in (the channel's history restarted). Without a position from the server: any
    /// position other than the one the publish expected.
    /// </summary>
    private static Func<Position?, bool> CaughtUpWith(Position? current, Position expected) => current is null
        ? p => p is not null && p != expected
        : p => p is not null && (p.Epoch == current.Epoch ? p.Offset >= current.Offset : p.Epoch != expected.Epoch);

    /// <summary>A copy of the confirmed state and its position, read together under the lock.</summary>
    private (JsonObject State, Position Position) ReadConfirmed()
    {
        var buffer = new ArrayBufferWriter<byte>();
        Position? position;
        lock (_sync)
        {
            using var writer = new Utf8JsonWriter(buffer);
            _replica.WriteTo(writer);
            position = _replica.Position;
        }

        var state = JsonNode.Parse(buffer.WrittenSpan) as JsonObject ?? [];
        return (state, position ?? throw new InvalidOperationException($"{Name} has no state yet"));
    }

    private static JsonElement ToElement(JsonObject patch)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            patch.WriteTo(writer);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }
}
