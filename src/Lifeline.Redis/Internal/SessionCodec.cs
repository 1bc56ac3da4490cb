using System.Buffers;
using System.Text;
using System.Text.Json;
using Lifeline.Engine;

namespace Lifeline.Redis.Internal;

/// <summary>A session as stored in Redis: <c>{"u":user|null,"c":createdAtUtcTicks,"e":expiresAtUtcTicks}</c>.</summary>
internal static class SessionCodec
{
    public static string Encode(SessionRecord session, DateTimeOffset expiresAt)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            if (session.User is null)
            {
                writer.WriteNull("u");
            }
            else
            {
                writer.WriteString("u", session.User);
            }

            writer.WriteNumber("c", session.CreatedAt.UtcTicks);
            writer.WriteNumber("e", expiresAt.UtcTicks);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static (SessionRecord Session, DateTimeOffset ExpiresAt) Decode(string token, string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var user = root.GetProperty("u").GetString();
        var createdAt = new DateTimeOffset(root.GetProperty("c").GetInt64(), TimeSpan.Zero);
        var expiresAt = new DateTimeOffset(root.GetProperty("e").GetInt64(), TimeSpan.Zero);
        return (new SessionRecord(token, user, createdAt), expiresAt);
    }
}
