// The text forms the engine exchanges with Redis: a JSON value as compact UTF-8 text (what the scripts store and
// publish), text parsed back into a JsonElement that outlives its document, and the random ids used for epochs,
// claim tokens and node ids. Pure functions; no state.
using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;

namespace Lifeline.Redis.Internal;

/// <summary>JSON text and random ids.</summary>
internal static class RedisText
{
    /// <summary>The JSON of <paramref name="value"/> without insignificant whitespace.</summary>
    public static string CompactJson(JsonElement value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            value.WriteTo(writer);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Parses <paramref name="json"/> into an element that needs no document kept alive.</summary>
    public static JsonElement ParseJson(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    /// <summary><paramref name="bytes"/> random bytes in base64url.</summary>
    public static string RandomId(int bytes)
    {
        Span<byte> buffer = stackalloc byte[bytes];
        RandomNumberGenerator.Fill(buffer);
        return Base64Url.EncodeToString(buffer);
    }
}
