using System.Text.Json;
using System.Text.Unicode;

namespace Lifeline.Protocol;

/// <summary>
/// Strict, allocation-light parser for client-to-server messages. Everything a client may get wrong
/// is reported with a precise message (e.g. <c>publish.patch must be an object</c>) rather than thrown.
/// </summary>
public static class ClientMessageParser
{
    /// <summary>The deepest JSON nesting accepted in a client message. The default is 32.</summary>
    public const int DefaultMaxDepth = 32;

    /// <summary>Parses one client frame.</summary>
    /// <param name="utf8">The frame's payload.</param>
    /// <param name="maxDepth">The deepest nesting accepted; deeper documents are a fatal payload error.</param>
    /// <returns>The message, a recoverable error, or a fatal payload error.</returns>
    public static ParseResult Parse(ReadOnlyMemory<byte> utf8, int maxDepth = DefaultMaxDepth)
    {
        if (!Utf8.IsValid(utf8.Span))
        {
            return ParseResult.Fatal("payload is not valid UTF-8");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = maxDepth });
        }
        catch (JsonException ex)
        {
            return ParseResult.Fatal($"payload is not JSON: {ex.Message}");
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return ParseResult.Fatal("payload is not a JSON object");
            }

            try
            {
                return ParseObject(root);
            }
            catch (InvalidOperationException ex)
            {
                // A string with a lone surrogate escape (\ud800) is JSON but not Unicode text: an invalid payload.
                return ParseResult.Fatal($"payload is not valid text: {ex.Message}");
            }
        }
    }

    private static ParseResult ParseObject(JsonElement root)
    {
        long? id = null;
        if (root.TryGetProperty("id", out var idElement) && idElement.ValueKind != JsonValueKind.Null)
        {
            if (!TryGetSafeInteger(idElement, out var idValue))
            {
                return ParseResult.Invalid(ErrorCodes.InvalidMessage, "id must be a non-negative integer below 2^53", TypeOf(root), null);
            }

            id = idValue;
        }

        if (!root.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
        {
            return ParseResult.Invalid(ErrorCodes.InvalidMessage, "type must be a string", null, id);
        }

        var type = typeElement.GetString()!;
        var reader = new FieldReader(root, type, id);
        ClientMessage? message = type switch
        {
            "hello" => reader.Hello(),
            "ping" => reader.Counter() is { } n ? new PingMessage(n) : null,
            "pong" => reader.Counter() is { } n ? new PongMessage(n) : null,
            "subscribe" => reader.Subscribe(),
            "unsubscribe" => reader.RequiredString("channel") is { } ch ? new UnsubscribeMessage(ch) : null,
            "publish" => reader.Publish(),
            "emit" => reader.Emit(),
            "presence" => reader.RequiredString("channel") is { } ch ? new PresenceRequestMessage(ch) : null,
            "refresh" => reader.RequiredString("token") is { } token ? new RefreshMessage(token) : null,
            _ => null,
        };

        if (message is not null)
        {
            return ParseResult.Ok(message with { Id = id });
        }

        return reader.Error is { } error
            ? ParseResult.Invalid(reader.ErrorCode, error, type, id)
            : ParseResult.Invalid(ErrorCodes.UnknownType, $"unknown message type '{Truncate(type)}'", type, id);
    }

    private static string? TypeOf(JsonElement root) =>
        root.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;

    internal static bool TryGetSafeInteger(JsonElement element, out long value)
    {
        value = 0;
        return element.ValueKind == JsonValueKind.Number
            && element.TryGetInt64(out value)
            && value is >= 0 and <= ProtocolConstants.MaxSafeInteger;
    }

    /// <summary>
    /// Decodes every string and member name of <paramref name="element"/>, so that one that is not Unicode text (a lone
    /// surrogate escape such as <c>\ud800</c>) throws here, where the parser turns it into a fatal payload error,
    /// instead of later, when the patch is applied or sent to other clients. Depth is bounded by the parse's MaxDepth.
    /// </summary>
    private static void EnsureText(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                _ = element.GetString();
                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    _ = property.Name;
                    EnsureText(property.Value);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    EnsureText(item);
                }

                break;
        }
    }

    private static string Truncate(string s) => s.Length <= 64 ? s : string.Concat(s.AsSpan(0, 64), "...");

    /// <summary>Reads typed members and remembers the first problem found.</summary>
    private sealed class FieldReader(JsonElement root, string type, long? id)
    {
        public string? Error { get; private set; }

        public string ErrorCode { get; private set; } = ErrorCodes.InvalidMessage;

        public HelloMessage? Hello()
        {
            if (!root.TryGetProperty("v", out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var version))
            {
                return Fail<HelloMessage>("hello.v must be an integer");
            }

            var token = OptionalString("token");
            var resume = OptionalString("resume");
            var client = OptionalString("client");
            return Error is null ? new HelloMessage(version, token, resume, client) : null;
        }

        public long? Counter()
        {
            if (!root.TryGetProperty("n", out var n) || !TryGetSafeInteger(n, out var value))
            {
                Error = $"{type}.n must be a non-negative integer below 2^53";
                return null;
            }

            return value;
        }

        public SubscribeMessage? Subscribe()
        {
            if (id is null)
            {
                return Fail<SubscribeMessage>("subscribe.id is required");
            }

            var channel = RequiredString("channel");
            if (channel is null)
            {
                return null;
            }

            Position? since = null;
            if (root.TryGetProperty("since", out var s) && s.ValueKind != JsonValueKind.Null)
            {
                since = ReadPosition(s);
                if (since is null)
                {
                    return Fail<SubscribeMessage>("subscribe.since must be {\"epoch\": string, \"offset\": non-negative integer}");
                }
            }

            return new SubscribeMessage(channel, since);
        }

        public PublishMessage? Publish()
        {
            if (id is null)
            {
                return Fail<PublishMessage>("publish.id is required");
            }

            var channel = RequiredString("channel");
            if (channel is null)
            {
                return null;
            }

            if (!root.TryGetProperty("patch", out var patch) || patch.ValueKind != JsonValueKind.Object)
            {
                return Fail<PublishMessage>("publish.patch must be an object");
            }

            var key = OptionalString("key");
            if (Error is not null)
            {
                return null;
            }

            if (key is not null && (key.Length == 0 || key.Length > ProtocolConstants.MaxKeyLength))
            {
                // PROTOCOL.md lists key length under limit_exceeded; an empty key is simply invalid.
                ErrorCode = key.Length == 0 ? ErrorCodes.InvalidMessage : ErrorCodes.LimitExceeded;
                return Fail<PublishMessage>($"publish.key must be 1 to {ProtocolConstants.MaxKeyLength} characters");
            }

            Position? expected = null;
            if (root.TryGetProperty("if", out var condition) && condition.ValueKind != JsonValueKind.Null)
            {
                expected = ReadPosition(condition);
                if (expected is null)
                {
                    return Fail<PublishMessage>("publish.if must be {\"epoch\": string, \"offset\": non-negative integer below 2^53}");
                }
            }

            EnsureText(patch);
            return new PublishMessage(channel, patch.Clone(), key, expected);
        }

        /// <summary>Reads <c>{"epoch": string, "offset": non-negative integer below 2^53}</c>; null when it is not that.</summary>
        private static Position? ReadPosition(JsonElement element) =>
            element.ValueKind == JsonValueKind.Object
            && element.TryGetProperty("epoch", out var epoch) && epoch.ValueKind == JsonValueKind.String
            && element.TryGetProperty("offset", out var offset) && TryGetSafeInteger(offset, out var value)
                ? new Position(epoch.GetString()!, value)
                : null;

        public EmitMessage? Emit()
        {
            if (id is null)
            {
                return Fail<EmitMessage>("emit.id is required");
            }

            var channel = RequiredString("channel");
            if (channel is null)
            {
                return null;
            }

            // Any JSON value is data, null included; only a missing member is an error.
            if (!root.TryGetProperty("data", out var data))
            {
                return Fail<EmitMessage>("emit.data is required (any JSON value)");
            }

            EnsureText(data);
            return new EmitMessage(channel, data.Clone());
        }

        public string? RequiredString(string name)
        {
            if (!root.TryGetProperty(name, out var e) || e.ValueKind != JsonValueKind.String)
            {
                Error = $"{type}.{name} must be a string";
                return null;
            }

            return e.GetString();
        }

        private string? OptionalString(string name)
        {
            if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null)
            {
                return null;
            }

            if (e.ValueKind != JsonValueKind.String)
            {
                Error ??= $"{type}.{name} must be a string";
                return null;
            }

            return e.GetString();
        }

        private T? Fail<T>(string message)
            where T : class
        {
            Error = message;
            return null;
        }
    }
}
