using System.Text.Json.Serialization;

namespace Lifeline.Cli.Serve;

/// <summary>
/// The body of <c>GET /healthz</c>: <c>{"status":"ok","connections":N}</c>; <c>{"status":"degraded","connections":N}</c> when
/// the node runs on Redis and Redis is unreachable (connections stay up, publishes fail with unavailable); or
/// <c>{"status":"draining"}</c> with 503.
/// </summary>
/// <param name="Status"><c>ok</c>, <c>degraded</c> or <c>draining</c>.</param>
/// <param name="Connections">Connections open now; absent while draining.</param>
internal sealed record HealthReport(string Status, int? Connections);

/// <summary>Source-generated JSON for the tool's HTTP endpoints (camelCase, nulls omitted).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(HealthReport))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
