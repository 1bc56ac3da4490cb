using System.Text.Json;
using System.Text.Json.Serialization;

namespace Lifeline.Protocol;

/// <summary>Source-generated System.Text.Json metadata for every protocol message (camelCase, nulls omitted).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(HelloMessage))]
[JsonSerializable(typeof(PingMessage))]
[JsonSerializable(typeof(PongMessage))]
[JsonSerializable(typeof(SubscribeMessage))]
[JsonSerializable(typeof(UnsubscribeMessage))]
[JsonSerializable(typeof(PublishMessage))]
[JsonSerializable(typeof(EmitMessage))]
[JsonSerializable(typeof(PresenceRequestMessage))]
[JsonSerializable(typeof(RefreshMessage))]
[JsonSerializable(typeof(WelcomeMessage))]
[JsonSerializable(typeof(ServerPing))]
[JsonSerializable(typeof(ServerPong))]
[JsonSerializable(typeof(SubscribedMessage))]
[JsonSerializable(typeof(SnapshotMessage))]
[JsonSerializable(typeof(DeltaMessage))]
[JsonSerializable(typeof(PresenceMessage))]
[JsonSerializable(typeof(EventMessage))]
[JsonSerializable(typeof(DirectMessage))]
[JsonSerializable(typeof(ReplyMessage))]
[JsonSerializable(typeof(ErrorMessage))]
[JsonSerializable(typeof(JsonElement))]
public sealed partial class ProtocolJsonContext : JsonSerializerContext;
