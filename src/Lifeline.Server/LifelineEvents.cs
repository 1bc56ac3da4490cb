using System.Net;
using Lifeline.Protocol;

namespace Lifeline.Server;

/// <summary>Who ended a connection.</summary>
public enum DisconnectInitiator
{
    /// <summary>The client sent a close frame.</summary>
    Client,

    /// <summary>The server decided (heartbeat timeout, bad input, slow consumer, shutdown).</summary>
    Server,

    /// <summary>The application asked for it (for example <see cref="LifelineServer.DisconnectUserAsync"/>).</summary>
    Application,

    /// <summary>The connection was lost without a close frame (reset, end of stream, send or receive error).</summary>
    Network,
}

/// <summary>What the application learns when a connection is open.</summary>
/// <param name="ConnectionId">The connection id (also sent in <c>welcome.connection</c>).</param>
/// <param name="UserId">The authenticated user, or null for anonymous connections.</param>
/// <param name="SessionId">The session token's public id (not the token itself).</param>
/// <param name="Resumed">Whether the client resumed an earlier session.</param>
/// <param name="RemoteEndPoint">The peer's address and port.</param>
public sealed record ConnectedContext(string ConnectionId, string? UserId, string SessionId, bool Resumed, IPEndPoint? RemoteEndPoint);

/// <summary>What the application learns when a connection has been torn down. Delivered exactly once per connection.</summary>
/// <param name="ConnectionId">The connection id.</param>
/// <param name="UserId">The authenticated user, or null (also null when the connection never completed its hello).</param>
/// <param name="RemoteEndPoint">The peer's address and port.</param>
/// <param name="CloseCode">The close code of the connection (1006 when it was lost without a close frame).</param>
/// <param name="Reason">The close reason.</param>
/// <param name="Initiator">Who ended the connection.</param>
/// <param name="Duration">How long the connection lived.</param>
/// <param name="Error">The exception that ended it, if any.</param>
/// <param name="CancellationToken">Signalled when the hook exceeds <see cref="LifelineOptions.DisconnectedHookTimeout"/>.</param>
public sealed record DisconnectedContext(
    string ConnectionId,
    string? UserId,
    IPEndPoint? RemoteEndPoint,
    CloseCode CloseCode,
    string Reason,
    DisconnectInitiator Initiator,
    TimeSpan Duration,
    Exception? Error,
    CancellationToken CancellationToken);

/// <summary>
/// The application's hooks into the connection lifecycle. Set the delegates, or derive and override the methods.
/// Exceptions thrown by a hook are logged and never stop the lifecycle.
/// </summary>
public class LifelineEvents
{
    /// <summary>Called once when a connection has completed its hello. The default does nothing.</summary>
    public Func<ConnectedContext, ValueTask> OnConnected { get; set; } = static _ => ValueTask.CompletedTask;

    /// <summary>
    /// Called exactly once per connection at the end of teardown: the place for the application's own session
    /// clean-up. Bounded by <see cref="LifelineOptions.DisconnectedHookTimeout"/>. The default does nothing.
    /// </summary>
    public Func<DisconnectedContext, ValueTask> OnDisconnected { get; set; } = static _ => ValueTask.CompletedTask;

    /// <summary>Invokes <see cref="OnConnected"/>.</summary>
    /// <param name="context">The connection.</param>
    /// <returns>When the hook has run.</returns>
    public virtual ValueTask ConnectedAsync(ConnectedContext context) => OnConnected(context);

    /// <summary>Invokes <see cref="OnDisconnected"/>.</summary>
    /// <param name="context">The ended connection.</param>
    /// <returns>When the hook has run.</returns>
    public virtual ValueTask DisconnectedAsync(DisconnectedContext context) => OnDisconnected(context);
}
