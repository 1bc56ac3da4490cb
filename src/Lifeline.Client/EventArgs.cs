using System.Text.Json;
using Lifeline.Protocol;

namespace Lifeline.Client;

/// <summary>A channel's local state changed: a snapshot replaced it or a delta was applied.</summary>
public sealed class ChannelChangedEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="channel">The channel name.</param>
    /// <param name="epoch">The channel's epoch.</param>
    /// <param name="offset">The offset the state now includes.</param>
    /// <param name="isSnapshot">True when a snapshot replaced the whole state.</param>
    /// <param name="patch">The merge patch applied, for deltas.</param>
    /// <param name="timestampMs">When the server applied the delta (Unix ms), for deltas.</param>
    public ChannelChangedEventArgs(string channel, string epoch, long offset, bool isSnapshot, JsonElement? patch, long? timestampMs)
    {
        Channel = channel;
        Epoch = epoch;
        Offset = offset;
        IsSnapshot = isSnapshot;
        Patch = patch;
        TimestampMs = timestampMs;
    }

    /// <summary>The channel name.</summary>
    public string Channel { get; }

    /// <summary>The channel's epoch.</summary>
    public string Epoch { get; }

    /// <summary>The offset the local state now includes.</summary>
    public long Offset { get; }

    /// <summary>True when a snapshot replaced the whole state; false for a delta.</summary>
    public bool IsSnapshot { get; }

    /// <summary>The merge patch that was applied (deltas only).</summary>
    public JsonElement? Patch { get; }

    /// <summary>When the server applied the delta, in Unix milliseconds (deltas only).</summary>
    public long? TimestampMs { get; }

    /// <summary>The position after the change.</summary>
    public Position Position => new(Epoch, Offset);

    /// <summary>
    /// What changed the state: a server <see cref="ChannelChangeKind.Snapshot"/> or <see cref="ChannelChangeKind.Delta"/>,
    /// or (with <see cref="LifelineClientOptions.Optimistic"/>) a publish of this client shown before the server confirmed
    /// it (<see cref="ChannelChangeKind.Optimistic"/>) or a refused one taken back (<see cref="ChannelChangeKind.Rollback"/>).
    /// For the last two, <see cref="Epoch"/> and <see cref="Offset"/> are the confirmed position (empty and 0 before the
    /// first snapshot), and <see cref="Patch"/> is the local patch (none for a rollback).
    /// </summary>
    public ChannelChangeKind Kind
    {
        get => _kind ?? (IsSnapshot ? ChannelChangeKind.Snapshot : ChannelChangeKind.Delta);
        init => _kind = value;
    }

    private readonly ChannelChangeKind? _kind;
}

/// <summary>What changed a channel's visible state (<see cref="ChannelChangedEventArgs.Kind"/>).</summary>
public enum ChannelChangeKind
{
    /// <summary>A server delta was applied.</summary>
    Delta,

    /// <summary>A server snapshot replaced the state.</summary>
    Snapshot,

    /// <summary>A publish of this client shows before the server confirmed it (<see cref="LifelineClientOptions.Optimistic"/>).</summary>
    Optimistic,

    /// <summary>A publish of this client that was shown optimistically was refused, cancelled or failed, and is taken back.</summary>
    Rollback,
}

/// <summary>A user joined or left a channel.</summary>
public sealed class PresenceEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="channel">The channel name.</param>
    /// <param name="kind"><c>join</c> or <c>leave</c>.</param>
    /// <param name="user">The user id.</param>
    /// <param name="reason">For leaves: <c>unsubscribe</c> or <c>disconnect</c>.</param>
    /// <param name="timestampMs">When it happened, Unix milliseconds.</param>
    public PresenceEventArgs(string channel, string kind, string user, string? reason, long timestampMs)
    {
        Channel = channel;
        Kind = kind;
        User = user;
        Reason = reason;
        TimestampMs = timestampMs;
    }

    /// <summary>The channel name.</summary>
    public string Channel { get; }

    /// <summary><c>join</c> or <c>leave</c>.</summary>
    public string Kind { get; }

    /// <summary>True for a join.</summary>
    public bool IsJoin => Kind == "join";

    /// <summary>The user id.</summary>
    public string User { get; }

    /// <summary>For leaves: <c>unsubscribe</c> or <c>disconnect</c>.</summary>
    public string? Reason { get; }

    /// <summary>When it happened, Unix milliseconds.</summary>
    public long TimestampMs { get; }
}

/// <summary>
/// Something went wrong that did not end the client: a malformed message was dropped, a binary frame was ignored,
/// the server sent an <c>error</c> that answers no pending request, the token provider failed before a connection
/// attempt (the attempt counts as failed and is retried), or a token refresh failed (it is retried until the token expires).
/// </summary>
public sealed class LifelineErrorEventArgs : EventArgs
{
    /// <summary>The <see cref="Code"/> of a message that could not be parsed and was dropped.</summary>
    public const string MalformedMessage = "malformed_message";

    /// <summary>The <see cref="Code"/> of a binary frame, which the protocol does not use; it was dropped.</summary>
    public const string BinaryFrame = "binary_frame";

    /// <summary>
    /// The <see cref="Code"/> when <see cref="LifelineClientOptions.TokenProvider"/> threw, returned null or did not return
    /// in time before a connection attempt. The attempt counts as failed: the retry policy decides when to try again.
    /// <see cref="Exception"/> holds the cause.
    /// </summary>
    public const string TokenProviderFailed = "token_provider_failed";

    /// <summary>
    /// The <see cref="Code"/> when refreshing the token on a live connection failed: the provider failed (see
    /// <see cref="Exception"/>) or the server refused the new token. The refresh is retried with backoff until the token
    /// expires; after that the server closes with 4002 and the client reconnects at once with a fresh token.
    /// </summary>
    public const string TokenRefreshFailed = "token_refresh_failed";

    /// <summary>Creates the event data.</summary>
    /// <param name="code">An error code: <see cref="MalformedMessage"/>, <see cref="BinaryFrame"/>, or the server's <c>error.code</c>.</param>
    /// <param name="message">A description.</param>
    /// <param name="requestId">The request id the server's error refers to, if any.</param>
    public LifelineErrorEventArgs(string code, string message, long? requestId = null)
    {
        Code = code;
        Message = message;
        RequestId = requestId;
    }

    /// <summary>An error code: <see cref="MalformedMessage"/>, <see cref="BinaryFrame"/>, or the server's <c>error.code</c>.</summary>
    public string Code { get; }

    /// <summary>A description.</summary>
    public string Message { get; }

    /// <summary>The request id the server's error refers to, if any.</summary>
    public long? RequestId { get; }

    /// <summary>The exception behind the error (for example the one the token provider threw), if any.</summary>
    public Exception? Exception { get; init; }
}

/// <summary>A well-formed message arrived from the server (raised before the client handles it).</summary>
public sealed class ServerMessageEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="message">The message.</param>
    public ServerMessageEventArgs(ServerMessage message) => Message = message;

    /// <summary>The message.</summary>
    public ServerMessage Message { get; }
}

/// <summary>
/// A message from the application's server to this user (<c>LifelineServer.SendToUserAsync</c>; the wire's
/// <c>message</c>). Not stored, not replayed: only connections open at that moment get it.
/// </summary>
public sealed class UserMessageEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="data">What the server sent.</param>
    /// <param name="timestampMs">When it was sent, Unix milliseconds.</param>
    public UserMessageEventArgs(JsonElement data, long timestampMs)
    {
        Data = data;
        TimestampMs = timestampMs;
    }

    /// <summary>What the server sent (any JSON value; a private copy).</summary>
    public JsonElement Data { get; }

    /// <summary>When it was sent, Unix milliseconds.</summary>
    public long TimestampMs { get; }
}

/// <summary>An ephemeral event of a channel (the wire's <c>event</c>): sent by another connection, never stored or replayed.</summary>
public sealed class ChannelEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="channel">The channel name.</param>
    /// <param name="user">The user who emitted it; null for an anonymous connection or the application's server.</param>
    /// <param name="data">What was emitted.</param>
    /// <param name="timestampMs">When it was emitted, Unix milliseconds.</param>
    public ChannelEventArgs(string channel, string? user, JsonElement data, long timestampMs)
    {
        Channel = channel;
        User = user;
        Data = data;
        TimestampMs = timestampMs;
    }

    /// <summary>The channel name.</summary>
    public string Channel { get; }

    /// <summary>The user who emitted it; null for an anonymous connection or the application's server.</summary>
    public string? User { get; }

    /// <summary>What was emitted (any JSON value; a private copy).</summary>
    public JsonElement Data { get; }

    /// <summary>When it was emitted, Unix milliseconds.</summary>
    public long TimestampMs { get; }
}
