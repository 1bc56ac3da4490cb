using System.Text.Json;

namespace Lifeline.Engine;

/// <summary>
/// What is sent and never stored: channel events (<c>emit</c> / <c>event</c>), messages to one user, orders to
/// disconnect a user, and the cluster-wide connection counts behind the per-address and per-user limits.
/// </summary>
/// <remarks>
/// Guarantees every implementation gives (checked by the contract suite, <c>EngineContractTests.Messaging</c>):
/// <list type="bullet">
/// <item>An event reaches every observer of its channel on every node, at most once, and changes nothing: no offset,
/// no history, no state. Calls of one channel never overlap (deltas, presence and events share the rule).</item>
/// <item>A user message or disconnect order reaches every observer registered for that user on every node, at most once.
/// The count returned is the number of user observers registered for that user in the cluster at that moment (exact on
/// one node; on several nodes, the sum of what each node registered), 0 when there is none: never an error.</item>
/// <item>Connection slots are counted across every node; a node that dies gives its slots back (on Redis: when its
/// liveness key expires). An acquire that succeeded is released exactly once by its holder.</item>
/// </list>
/// </remarks>
public partial interface ILifelineEngine
{
    /// <summary>Fans an event out to every observer of its channel, on every node. Nothing is stored.</summary>
    /// <param name="channelEvent">The event; <see cref="ChannelEvent.Data"/> is already validated (size, depth).</param>
    /// <param name="cancellationToken">Cancels the send before it happens.</param>
    /// <returns>When the event was handed to the observers (one node) or to the backplane (several).</returns>
    /// <exception cref="EngineUnavailableException">The engine cannot serve now.</exception>
    ValueTask EmitAsync(ChannelEvent channelEvent, CancellationToken cancellationToken = default);

    /// <summary>Registers a node-local observer of the messages and disconnect orders addressed to one user.</summary>
    /// <param name="user">The user id.</param>
    /// <param name="observer">Called for every message and disconnect order of that user.</param>
    /// <param name="cancellationToken">Cancels the registration attempt.</param>
    /// <returns>A handle; once its disposal completes no further calls are made. Disposing twice is harmless.</returns>
    ValueTask<IAsyncDisposable> ObserveUserAsync(string user, IUserObserver observer, CancellationToken cancellationToken = default);

    /// <summary>Sends a message to every observer of its user, on every node. Nothing is stored.</summary>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancels the send before it happens.</param>
    /// <returns>The number of observers of that user in the cluster (0: the user has none; not an error).</returns>
    /// <exception cref="EngineUnavailableException">The engine cannot serve now.</exception>
    ValueTask<int> SendToUserAsync(UserMessage message, CancellationToken cancellationToken = default);

    /// <summary>Tells every observer of the user, on every node, to disconnect it.</summary>
    /// <param name="disconnect">The order: user, close code and reason.</param>
    /// <param name="cancellationToken">Cancels the send before it happens.</param>
    /// <returns>The number of observers of that user in the cluster (0: the user has none; not an error).</returns>
    /// <exception cref="EngineUnavailableException">The engine cannot serve now.</exception>
    ValueTask<int> DisconnectUserAsync(UserDisconnect disconnect, CancellationToken cancellationToken = default);

    /// <summary>Takes one connection slot for an address or a user, across every node, unless <paramref name="max"/> are taken.</summary>
    /// <param name="slot">Whose slot.</param>
    /// <param name="max">The most slots that name may hold across the cluster.</param>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    /// <returns>True when taken (release it once with <see cref="ReleaseConnectionSlotAsync"/>); false at the limit.</returns>
    /// <exception cref="EngineUnavailableException">The engine cannot serve now.</exception>
    ValueTask<bool> TryAcquireConnectionSlotAsync(ConnectionSlot slot, int max, CancellationToken cancellationToken = default);

    /// <summary>Gives back a slot taken by <see cref="TryAcquireConnectionSlotAsync"/>.</summary>
    /// <param name="slot">The slot.</param>
    /// <param name="cancellationToken">Cancels the release (the slot is then given back when the node's registrations expire).</param>
    /// <returns>When released.</returns>
    ValueTask ReleaseConnectionSlotAsync(ConnectionSlot slot, CancellationToken cancellationToken = default);
}

/// <summary>Node-local receiver of the messages and disconnect orders addressed to one user. Must not block.</summary>
public interface IUserObserver
{
    /// <summary>A message for the user.</summary>
    /// <param name="message">The message.</param>
    void OnMessage(UserMessage message);

    /// <summary>An order to disconnect the user.</summary>
    /// <param name="disconnect">The order.</param>
    void OnDisconnect(UserDisconnect disconnect);
}

/// <summary>An ephemeral event on a channel (the wire's <c>event</c>).</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="User">The sending user, or null for the application's server.</param>
/// <param name="Data">Any JSON value.</param>
/// <param name="Ts">When it was emitted, Unix milliseconds.</param>
/// <param name="SenderConnectionId">The connection that emitted it (never sent the event back), or null.</param>
public sealed record ChannelEvent(string Channel, string? User, JsonElement Data, long Ts, string? SenderConnectionId = null);

/// <summary>A message to every open connection of one user (the wire's <c>message</c>).</summary>
/// <param name="User">The user id.</param>
/// <param name="Data">Any JSON value.</param>
/// <param name="Ts">When it was sent, Unix milliseconds.</param>
public sealed record UserMessage(string User, JsonElement Data, long Ts);

/// <summary>An order to close every connection of one user.</summary>
/// <param name="User">The user id.</param>
/// <param name="Code">The WebSocket close code.</param>
/// <param name="Reason">The close reason, or null.</param>
public sealed record UserDisconnect(string User, int Code, string? Reason);

/// <summary>What a connection slot is counted against.</summary>
public enum ConnectionSlotKind
{
    /// <summary>A remote address (the per-address limit).</summary>
    Address,

    /// <summary>A user id (the per-user limit).</summary>
    User,
}

/// <summary>One connection's place in a cluster-wide limit.</summary>
/// <param name="Kind">Address or user.</param>
/// <param name="Name">The address or the user id.</param>
public sealed record ConnectionSlot(ConnectionSlotKind Kind, string Name);
