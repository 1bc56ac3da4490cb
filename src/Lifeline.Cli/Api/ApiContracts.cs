using System.Text.Json;
using System.Text.Json.Serialization;

namespace Lifeline.Cli.Api;

/// <summary>The body of <c>POST /api/publish</c>.</summary>
/// <param name="Channel">The channel (the names clients may use).</param>
/// <param name="Patch">A JSON merge patch: a JSON object.</param>
/// <param name="Key">An idempotency key, 1 to 128 characters, or absent: the same key again within the resume window is not applied twice.</param>
/// <param name="If">The position the channel must be at for the patch to apply (compare-and-set), or absent; otherwise 409 with the current position.</param>
internal sealed record ApiPublishRequest(string Channel, JsonElement Patch, string? Key, ApiPosition? If);

/// <summary>A channel's position: <c>{"epoch": string, "offset": integer}</c> (the <c>if</c> of a conditional publish).</summary>
/// <param name="Epoch">The channel's epoch.</param>
/// <param name="Offset">The offset of the channel's last publish: a non-negative integer below 2^53.</param>
internal sealed record ApiPosition(string Epoch, long Offset);

/// <summary>The answer to <c>POST /api/publish</c>.</summary>
/// <param name="Epoch">The channel's epoch.</param>
/// <param name="Offset">The offset the publish got (for a duplicate key: the one it got the first time).</param>
/// <param name="Duplicate">True when the key was seen before and nothing was applied.</param>
internal sealed record ApiPublishResponse(string Epoch, long Offset, bool Duplicate);

/// <summary>The body of <c>POST /api/emit</c>.</summary>
/// <param name="Channel">The channel (the names clients may use).</param>
/// <param name="Data">Any JSON value (null included), at most <c>MaxPatchSize</c> bytes: every subscriber receives it as an <c>event</c> whose <c>user</c> is null.</param>
internal sealed record ApiEmitRequest(string Channel, JsonElement Data);

/// <summary>The body of <c>POST /api/send</c>.</summary>
/// <param name="User">The user whose open connections (on every node) receive the message.</param>
/// <param name="Data">Any JSON value (null included), at most <c>MaxPatchSize</c> bytes: sent as <c>{"type":"message","data":...}</c>.</param>
internal sealed record ApiSendRequest(string User, JsonElement Data);

/// <summary>The answer to <c>POST /api/send</c>.</summary>
/// <param name="Delivered">How many connections of the user it was sent to across the cluster (0 when the user has none: not an error).</param>
internal sealed record ApiSendResponse(int Delivered);

/// <summary>The body of <c>POST /api/disconnect</c>.</summary>
/// <param name="User">The user whose connections are closed (on every node, through the engine).</param>
/// <param name="Code">The close code: 1000, 1001, 1008, 1011, 1013 or 4000-4999; absent: 1008 (policy_violation, not retried).</param>
internal sealed record ApiDisconnectRequest(string User, int? Code);

/// <summary>The answer to <c>POST /api/disconnect</c>.</summary>
/// <param name="Closed">How many connections of the user the engine reached across the cluster.</param>
internal sealed record ApiDisconnectResponse(int Closed);

/// <summary>The answer to <c>GET /api/channels/{name}</c>.</summary>
/// <param name="Epoch">The channel's epoch.</param>
/// <param name="Offset">The offset of the last publish.</param>
/// <param name="State">The channel's state.</param>
internal sealed record ApiChannelResponse(string Epoch, long Offset, JsonElement State);

/// <summary>The answer to <c>GET /api/presence/{name}</c>.</summary>
/// <param name="Members">The user ids present, sorted.</param>
internal sealed record ApiPresenceResponse(IReadOnlyList<string> Members);

/// <summary>Source-generated JSON for the server API (camelCase).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ApiPublishResponse))]
[JsonSerializable(typeof(ApiDisconnectResponse))]
[JsonSerializable(typeof(ApiSendResponse))]
[JsonSerializable(typeof(ApiChannelResponse))]
[JsonSerializable(typeof(ApiPresenceResponse))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
