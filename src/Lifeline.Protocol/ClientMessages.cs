using System.Text.Json;
using System.Text.Json.Serialization;

namespace Lifeline.Protocol;

/// <summary>A message sent by a client to the server. <see cref="Id"/> correlates requests with replies.</summary>
public abstract record ClientMessage
{
    /// <summary>The message type discriminator, written first.</summary>
    /// <remarks>
    /// System.Text.Json reads <see cref="JsonPropertyOrderAttribute"/> from the overriding property, not from this
    /// declaration, so every override repeats <c>[JsonPropertyOrder(-10)]</c>; a test checks that it comes first.
    /// </remarks>
    [JsonPropertyOrder(-10)]
    public abstract string Type { get; }

    /// <summary>The request id, echoed in the reply; null for messages that expect none.</summary>
    [JsonPropertyOrder(-9)]
    public long? Id { get; init; }
}

/// <summary><c>hello</c>: the first message of every connection.</summary>
/// <param name="V">Protocol version, must be 1.</param>
/// <param name="Token">Authentication token handed to the server's authenticator, if any.</param>
/// <param name="Resume">The <c>session</c> of an earlier <c>welcome</c> to resume, if any.</param>
/// <param name="Client">Free-form client name and version, e.g. <c>lifeline-dotnet/1.0</c>.</param>
public sealed record HelloMessage(int V, string? Token = null, string? Resume = null, string? Client = null) : ClientMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "hello";
}

/// <summary><c>ping</c>: heartbeat probe (either direction); answered by <c>pong</c> with the same <c>n</c>.</summary>
/// <param name="N">The ping counter.</param>
public sealed record PingMessage(long N) : ClientMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "ping";
}

/// <summary><c>pong</c>: heartbeat answer (either direction) echoing the ping's <c>n</c>.</summary>
/// <param name="N">The counter of the ping being answered.</param>
public sealed record PongMessage(long N) : ClientMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "pong";
}

/// <summary><c>subscribe</c>: start receiving a channel, recovering from <see cref="Since"/> when given.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="Since">The last position the client has, or null for a snapshot.</param>
public sealed record SubscribeMessage(string Channel, Position? Since = null) : ClientMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "subscribe";
}

/// <summary><c>unsubscribe</c>: stop receiving a channel.</summary>
/// <param name="Channel">The channel name.</param>
public sealed record UnsubscribeMessage(string Channel) : ClientMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "unsubscribe";
}

/// <summary><c>publish</c>: apply a JSON Merge Patch (RFC 7396) to a channel's state.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="Patch">The merge patch; must be a JSON object.</param>
/// <param name="Key">The idempotency key (at most 128 characters), or null. Keys are per channel: the same key on another
/// channel is another publish.</param>
/// <param name="If">The position the channel must be at for the patch to apply (compare-and-set), or null for an
/// unconditional publish. At another position nothing is applied and the reply is the error <c>conflict</c> with the
/// channel's current position.</param>
public sealed record PublishMessage(string Channel, JsonElement Patch, string? Key = null, Position? If = null) : ClientMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "publish";
}

/// <summary><c>emit</c>: an ephemeral event for the channel's other subscribers (PROTOCOL.md "emit / event"). Nothing is stored.</summary>
/// <param name="Channel">The channel name.</param>
/// <param name="Data">Any JSON value, <c>null</c> included (the member itself is required).</param>
public sealed record EmitMessage(string Channel, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] JsonElement Data) : ClientMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "emit";
}

/// <summary><c>presence</c> request: list the members of a channel.</summary>
/// <param name="Channel">The channel name.</param>
public sealed record PresenceRequestMessage(string Channel) : ClientMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "presence";
}

/// <summary><c>refresh</c>: a new token for the same user on a live connection (PROTOCOL.md "refresh").</summary>
/// <param name="Token">The new token.</param>
public sealed record RefreshMessage(string Token) : ClientMessage
{
    /// <inheritdoc />
    [JsonPropertyOrder(-10)]
    public override string Type => "refresh";
}
