using System.Text.Json;
using Lifeline.Protocol;

namespace Lifeline.Engine;

/// <summary>
/// Everything that is shared between server nodes: channel state and history, fan-out, presence,
/// sessions and publish idempotency. <c>MemoryEngine</c> is the embedded single-node default; the
/// Redis engine runs the same contract across nodes. Both pass the same contract test suite.
/// </summary>
/// <remarks>
/// Guarantees every implementation gives:
/// <list type="bullet">
/// <item>Per channel, offsets are assigned consecutively (1, 2, 3, ...) within an epoch, and every
/// <see cref="IChannelObserver"/> receives the deltas of that channel in offset order, each once.</item>
/// <item>A publish whose (channel, scope, key) was already applied within the idempotency window is not
/// applied again; the first result is returned with <see cref="PublishResult.Duplicate"/> set. Keys are per
/// channel: the same key of the same scope on another channel is another publish. Concurrent publishes with the
/// same (channel, scope, key) apply once.</item>
/// <item>A conditional publish (<see cref="PublishRequest.Expected"/>) applies only when the channel is at exactly
/// that epoch and offset, checked atomically with the offset assignment; otherwise nothing changes (no offset is
/// used, no observer is called) and the result has <see cref="PublishResult.Conflict"/> set with the channel's
/// current position. A key already applied repeats its first result whatever the position; a publish that
/// conflicted is not remembered under its key, so a retry with the same key may apply.</item>
/// <item>Presence join/leave events are emitted once per transition (first member in, last member out).</item>
/// <item>A channel's epoch stays the same while the channel has state (offset above 0) or observers. An empty
/// channel that nothing observes may be forgotten and show a new epoch on the next read.</item>
/// <item>Recovery returns deltas only when every delta after the position is still in the history of the same
/// epoch (bounded by count and by age); a position of another epoch, past the current offset or older than
/// the history gets a snapshot. Time (timestamps, history age, key and session expiry) comes from the
/// engine's <see cref="TimeProvider"/>.</item>
/// </list>
/// <para>The contract test suite <c>EngineContractTests</c> checks each of these.</para>
/// </remarks>
public partial interface ILifelineEngine : IAsyncDisposable
{
    /// <summary>Registers a node-local observer of a channel's deltas and presence events.</summary>
    /// <param name="channel">The channel name.</param>
    /// <param name="observer">Called for every delta (in offset order) and presence event of the channel.</param>
    /// <param name="cancellationToken">Cancels the registration attempt.</param>
    /// <returns>A handle; once its disposal completes no further calls are made. Disposing twice is harmless.</returns>
    ValueTask<IAsyncDisposable> ObserveAsync(string channel, IChannelObserver observer, CancellationToken cancellationToken = default);

    /// <summary>Assigns the next offset, applies the patch to the state, appends it to the history and fans it out.</summary>
    /// <param name="request">What to publish. The patch must already be validated (a JSON object within limits).</param>
    /// <param name="cancellationToken">Cancels the operation before it is applied.</param>
    /// <returns>The assigned offset, the first result for a repeated idempotency key, or (for a conditional publish
    /// at another position) a conflict with the current position.</returns>
    /// <exception cref="EngineUnavailableException">The engine cannot serve now.</exception>
    ValueTask<PublishResult> PublishAsync(PublishRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads what a subscriber needs to catch up from <paramref name="since"/>: the deltas after it when they are
    /// all still in the history of the same epoch (<see cref="RecoveryResult.Recovered"/> true), otherwise a snapshot.
    /// </summary>
    /// <param name="channel">The channel name.</param>
    /// <param name="since">The subscriber's last position, or null for a snapshot.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>Deltas or a snapshot, with the channel's epoch and offset at the time of reading.</returns>
    ValueTask<RecoveryResult> RecoverAsync(string channel, Position? since, CancellationToken cancellationToken = default);

    /// <summary>Reads a channel's current state, epoch and offset (an empty object at offset 0 for a new channel).</summary>
    /// <param name="channel">The channel name.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The snapshot.</returns>
    ValueTask<ChannelSnapshot> GetSnapshotAsync(string channel, CancellationToken cancellationToken = default);

    /// <summary>Adds a presence member (one per user session) and emits a join when it is the user's first.</summary>
    /// <param name="channel">The channel name.</param>
    /// <param name="user">The user id.</param>
    /// <param name="memberKey">What holds the membership (the session id), so several tabs of one user count once.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>True when this made the user join (a join event was emitted).</returns>
    ValueTask<bool> AddPresenceAsync(string channel, string user, string memberKey, CancellationToken cancellationToken = default);

    /// <summary>Removes a presence member and emits a leave when it was the user's last.</summary>
    /// <param name="channel">The channel name.</param>
    /// <param name="user">The user id.</param>
    /// <param name="memberKey">The member key given to <see cref="AddPresenceAsync"/>.</param>
    /// <param name="reason"><c>unsubscribe</c> or <c>disconnect</c>.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>True when this made the user leave (a leave event was emitted); false for a member that is not present.</returns>
    ValueTask<bool> RemovePresenceAsync(string channel, string user, string memberKey, string reason, CancellationToken cancellationToken = default);

    /// <summary>Lists the users present in a channel, sorted ordinally.</summary>
    /// <param name="channel">The channel name.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The user ids.</returns>
    ValueTask<IReadOnlyList<string>> GetPresenceAsync(string channel, CancellationToken cancellationToken = default);

    /// <summary>Stores (or refreshes) a session so that it can be resumed until <paramref name="expiresAt"/>.</summary>
    /// <param name="session">The session.</param>
    /// <param name="expiresAt">When it can no longer be resumed.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when stored.</returns>
    ValueTask StoreSessionAsync(SessionRecord session, DateTimeOffset expiresAt, CancellationToken cancellationToken = default);

    /// <summary>Looks a session up by its token; null when unknown or expired (from its <c>expiresAt</c> on).</summary>
    /// <param name="token">The session token.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The session, or null.</returns>
    ValueTask<SessionRecord?> FindSessionAsync(string token, CancellationToken cancellationToken = default);
}

/// <summary>
/// Node-local receiver of one channel's events. Calls for one channel never overlap. Engines may call it while
/// holding the channel's lock (that is how <c>MemoryEngine</c> orders deliveries): return quickly, and do not
/// call back into the engine from a callback; hand the event to a queue instead. An exception thrown by one
/// observer is logged and does not stop the other observers or the publish.
/// </summary>
public interface IChannelObserver
{
    /// <summary>A delta was applied. Called in offset order; must not block.</summary>
    /// <param name="delta">The delta.</param>
    void OnDelta(ChannelDelta delta);

    /// <summary>A user joined or left. Must not block.</summary>
    /// <param name="presence">The event.</param>
    void OnPresence(PresenceEvent presence);

    /// <summary>The channel's epoch changed (history could not be continued): subscribers must take a snapshot.</summary>
    /// <param name="channel">The channel name.</param>
    /// <param name="epoch">The new epoch.</param>
    void OnEpochChanged(string channel, string epoch);

    /// <summary>An ephemeral event was emitted on the channel (not stored, no offset). Must not block.</summary>
    /// <param name="channelEvent">The event.</param>
    void OnEvent(ChannelEvent channelEvent);
}

/// <summary>One applied merge patch.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="Epoch">The epoch it belongs to.</param>
/// <param name="Offset">Its offset within the epoch.</param>
/// <param name="Patch">The merge patch (a JSON object).</param>
/// <param name="Ts">When it was applied, Unix milliseconds.</param>
public sealed record ChannelDelta(string Channel, string Epoch, long Offset, JsonElement Patch, long Ts);

/// <summary>A presence transition.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="Event"><c>join</c> or <c>leave</c>.</param>
/// <param name="User">The user id.</param>
/// <param name="Reason">For leaves: <c>unsubscribe</c> or <c>disconnect</c>; null for joins.</param>
/// <param name="Ts">When it happened, Unix milliseconds.</param>
public sealed record PresenceEvent(string Channel, string Event, string User, string? Reason, long Ts);

/// <summary>What to publish.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="Patch">The merge patch (validated: a JSON object within limits).</param>
/// <param name="IdempotencyScope">Whose keys these are: the user id, or <c>session:{id}</c> for anonymous users; null with no key
/// (a key with a null scope belongs to one shared empty scope).</param>
/// <param name="Key">The idempotency key, or null. Remembered per channel: (channel, scope, key).</param>
/// <param name="Expected">For a conditional publish (compare-and-set): the position the channel must be at, exactly
/// (same epoch, same offset); null for an unconditional publish.</param>
public sealed record PublishRequest(string Channel, JsonElement Patch, string? IdempotencyScope = null, string? Key = null, Position? Expected = null);

/// <summary>The outcome of a publish.</summary>
/// <remarks>
/// Only a conditional publish (<see cref="PublishRequest.Expected"/> set) can have <see cref="Conflict"/> set, so a
/// caller that never sets it can ignore that flag.
/// </remarks>
/// <param name="Epoch">The channel's epoch.</param>
/// <param name="Offset">The offset assigned to the patch; for a conflict, the channel's current offset.</param>
/// <param name="Ts">When it was applied, Unix milliseconds; for a conflict, when the position was checked.</param>
/// <param name="Duplicate">True when the key had been applied before and this result repeats the first one.</param>
/// <param name="Conflict">True when the publish was conditional and the channel was at another position: nothing was
/// applied, and <see cref="Epoch"/> and <see cref="Offset"/> are the channel's current position.</param>
public sealed record PublishResult(string Epoch, long Offset, long Ts, bool Duplicate, bool Conflict = false)
{
    /// <summary>The channel's position after this publish (for a conflict: its current position).</summary>
    public Position Position => new(Epoch, Offset);
}

/// <summary>What a subscriber needs to catch up.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="Epoch">The channel's epoch.</param>
/// <param name="Offset">The channel's offset at the time of reading.</param>
/// <param name="Recovered">True: <see cref="Deltas"/> holds every delta after the requested position; false: <see cref="State"/> is a snapshot at <see cref="Offset"/>.</param>
/// <param name="Deltas">The deltas after the requested position, in order (empty when not recovered).</param>
/// <param name="State">The snapshot state when not recovered; default otherwise.</param>
public sealed record RecoveryResult(string Channel, string Epoch, long Offset, bool Recovered, IReadOnlyList<ChannelDelta> Deltas, JsonElement State);

/// <summary>A channel's state at an offset.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="Epoch">The channel's epoch.</param>
/// <param name="Offset">The offset the state includes.</param>
/// <param name="State">The state document (a JSON object).</param>
public sealed record ChannelSnapshot(string Channel, string Epoch, long Offset, JsonElement State);

/// <summary>A resumable session.</summary>
/// <param name="Token">The session token (>= 128 random bits, base64url).</param>
/// <param name="User">The user it is bound to; null for anonymous sessions.</param>
/// <param name="CreatedAt">When the session started.</param>
public sealed record SessionRecord(string Token, string? User, DateTimeOffset CreatedAt);

/// <summary>The engine cannot serve now (for example Redis is down). Maps to the <c>unavailable</c> error code.</summary>
public sealed class EngineUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public EngineUnavailableException() : base("the engine is unavailable")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is unavailable.</param>
    public EngineUnavailableException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What is unavailable.</param>
    /// <param name="innerException">The cause.</param>
    public EngineUnavailableException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
