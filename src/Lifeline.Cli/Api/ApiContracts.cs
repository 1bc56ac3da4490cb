using System.Text.Json;
using System.Text.Json.Serialization;

namespace Lifeline.Cli.Api;

/// <summary>The body of <c>POST /api/publish</c>.</summary>
/// <param name="Channel">The channel (the names clients may use).</param>
/// <param name="Patch">A JSON merge patch: a JSON object.</param>
/// <param name="Key">An idempotency key, 1 to 128 characters, or absent: the same key again within the resume window is not applied twice.</param>
internal sealed record ApiPublishRequest(string Channel, JsonElement Patch, string? Key);

/// <summary>The answer to <c>POST /api/publish</c>.</summary>
/// <param name="Epoch">The channel's epoch.</param>
/// <param name="Offset">The offset the publish got (for a duplicate key: the one it got the first time).</param>
/// <param name="Duplicate">True when the key was seen before and nothing was applied.</param>
internal sealed record ApiPublishResponse(string Epoch, long Offset, bool Duplicate);

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
[JsonSerializable(typeof(ApiChannelResponse))]
[JsonSerializable(typeof(ApiPresenceResponse))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
