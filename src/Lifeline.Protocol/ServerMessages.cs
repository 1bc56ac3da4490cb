using System.Text.Json;
using System.Text.Json.Serialization;

namespace Lifeline.Protocol;

/// <summary>A message sent by the server to a client. <see cref="Type"/> is written first.</summary>
public abstract record ServerMessage
{
    /// <summary>The message type discriminator, written first.</summary>
    /// <remarks>
    /// System.Text.Json reads <see cref="JsonPropertyOrderAttribute"/> from the overriding property, not from this
    /// declaration, so every override repeats <c>[JsonPropertyOrder(-10)]</c>; a test checks that it comes first.
    /// </remarks>
    [JsonPropertyOrder(-10)]
    public abstract string Type { get; }
}

/// <summary>The heartbeat settings announced in <c>welcome</c>.</summary>
/// <param name="IntervalMs">Milliseconds between server pings.</param>
/// <param name="TimeoutMs">Milliseconds a pong may take before the server closes with 4000.</param>
public sealed record HeartbeatInfo(long IntervalMs, long TimeoutMs);

/// <summary><c>welcome</c>: the server accepted <c>hello</c>.</summary>
/// <param name="Session">Opaque session token (>= 128 bits of randomness) to pass as <c>hello.resume</c>.</param>
/// <param name="Connection">The connection id (for logs and support).</param>
/// <param name="User">The authenticated user id, or null for anonymous connections.</param>
/// <param name="Resumed">Whether <c>hello.resume</c> resumed an earlier session.</param>
/// <param name="Heartbeat">The heartbeat settings from which the client arms its watchdog.</param>
/// <param name="ResumeWindowMs">How long a session can be resumed after its connection ends.</param>
public sealed record WelcomeMessage(
    string Session,
    string Connection,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? User,
    bool Resumed,
    HeartbeatInfo Heartbeat,
    long ResumeWindowMs) : ServerMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "welcome";

    /// <summary>The protocol version, always 1.</summary>
    [JsonPropertyOrder(-9)]
    public int V { get; init; } = ProtocolConstants.Version;

    /// <summary>
    /// When the authenticator knows the token's expiry: how long it stays valid, in milliseconds from this welcome
    /// (relative, so the clocks need not agree). The client refreshes it ahead of time (<c>refresh</c>). Null: no expiry.
    /// </summary>
    public long? TokenExpiresInMs { get; init; }

    /// <summary>
    /// Over the HTTP transport: <c>"http"</c> (the client then sends with <see cref="Send"/>). Absent over a WebSocket.
    /// </summary>
    public string? Transport { get; init; }

    /// <summary>
    /// Over the HTTP transport: the connection's send capability (at least 128 random bits, base64url), the value of
    /// the <c>Lifeline-Send</c> header of <c>POST {path}/send</c> and <c>POST {path}/poll</c>. Never logged. Absent over
    /// a WebSocket.
    /// </summary>
    public string? Send { get; init; }
}

/// <summary>Server-sent <c>ping</c>.</summary>
/// <param name="N">The ping counter; the client answers <c>pong</c> with the same value.</param>
public sealed record ServerPing(long N) : ServerMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "ping";
}

/// <summary>Server-sent <c>pong</c> answering a client's <c>ping</c>.</summary>
/// <param name="N">The counter of the client's ping.</param>
public sealed record ServerPong(long N) : ServerMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "pong";
}

/// <summary><c>subscribed</c>: reply to <c>subscribe</c>.</summary>
/// <param name="Id">The request id.</param>
/// <param name="Channel">The channel name.</param>
/// <param name="Epoch">The channel's epoch.</param>
/// <param name="Offset">The channel's offset at the moment of subscription.</param>
/// <param name="Recovered">True when deltas since the client's position follow; false when a snapshot follows.</param>
public sealed record SubscribedMessage(long? Id, string Channel, string Epoch, long Offset, bool Recovered) : ServerMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "subscribed";
}

/// <summary><c>snapshot</c>: the channel's whole state at <see cref="Offset"/>.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="Epoch">The channel's epoch.</param>
/// <param name="Offset">The offset the state includes.</param>
/// <param name="State">The state document (a JSON object).</param>
public sealed record SnapshotMessage(string Channel, string Epoch, long Offset, JsonElement State) : ServerMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "snapshot";
}

/// <summary><c>delta</c>: one merge patch applied to the channel at <see cref="Offset"/>.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="Offset">The offset of this patch.</param>
/// <param name="Patch">The merge patch.</param>
/// <param name="Ts">When it was applied, Unix milliseconds.</param>
public sealed record DeltaMessage(string Channel, long Offset, JsonElement Patch, long Ts) : ServerMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "delta";
}

/// <summary><c>presence</c> event: a user joined or left a channel.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="Event"><c>join</c> or <c>leave</c>.</param>
/// <param name="User">The user id.</param>
/// <param name="Reason">For leaves: <c>unsubscribe</c> or <c>disconnect</c>.</param>
/// <param name="Ts">When it happened, Unix milliseconds.</param>
public sealed record PresenceMessage(string Channel, string Event, string User, string? Reason, long Ts) : ServerMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "presence";
}

/// <summary><c>event</c>: an ephemeral event emitted on a channel (PROTOCOL.md "emit / event"); no offset, never replayed.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="User">The sending user; null (written as <c>"user":null</c>) for an anonymous connection or the application's server.</param>
/// <param name="Data">Any JSON value, <c>null</c> included.</param>
/// <param name="Ts">When it was emitted, Unix milliseconds.</param>
public sealed record EventMessage(
    string Channel,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? User,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] JsonElement Data,
    long Ts) : ServerMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "event";
}

/// <summary>
/// <c>message</c>: sent by the application's server to every open connection of one user (PROTOCOL.md "message");
/// not stored, never replayed.
/// </summary>
/// <param name="Data">Any JSON value, <c>null</c> included.</param>
/// <param name="Ts">When it was sent, Unix milliseconds.</param>
public sealed record DirectMessage([property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] JsonElement Data, long Ts) : ServerMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "message";
}

/// <summary>The error object inside a refused <c>reply</c>.</summary>
/// <param name="Code">One of <see cref="ErrorCodes"/>.</param>
/// <param name="Message">A human-readable explanation.</param>
public sealed record ErrorInfo(string Code, string Message)
{
    /// <summary>For <see cref="ErrorCodes.Conflict"/>: the channel's current epoch; null otherwise.</summary>
    public string? Epoch { get; init; }

    /// <summary>For <see cref="ErrorCodes.Conflict"/>: the channel's current offset; null otherwise.</summary>
    public long? Offset { get; init; }
}

/// <summary><c>reply</c>: the answer to a request with an <c>id</c>.</summary>
/// <param name="Id">The request id.</param>
/// <param name="Ok">Whether the request succeeded.</param>
public sealed record ReplyMessage(long? Id, bool Ok) : ServerMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "reply";

    /// <summary>For publishes: the offset assigned to the patch.</summary>
    public long? Offset { get; init; }

    /// <summary>For presence requests: the channel's members.</summary>
    public IReadOnlyList<string>? Members { get; init; }

    /// <summary>For a successful <c>refresh</c>: how long the new token stays valid, in milliseconds from this reply.</summary>
    public long? TokenExpiresInMs { get; init; }

    /// <summary>For refused requests: what went wrong.</summary>
    public ErrorInfo? Error { get; init; }
}

/// <summary><c>error</c>: a message could not be handled; the connection stays open.</summary>
/// <param name="Id">The id of the request it answers, if any.</param>
/// <param name="Code">One of <see cref="ErrorCodes"/>.</param>
/// <param name="Message">A human-readable explanation.</param>
public sealed record ErrorMessage(long? Id, string Code, string Message) : ServerMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "error";
}
