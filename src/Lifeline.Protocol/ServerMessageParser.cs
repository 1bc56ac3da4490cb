using System.Text.Json;

namespace Lifeline.Protocol;

/// <summary>
/// Client-side reader of server frames: splits a frame on line feeds (NDJSON packing) and turns each
/// line into a <see cref="ServerMessage"/>. A malformed line is reported, not thrown, so one bad message
/// never stops the others.
/// </summary>
public static class ServerMessageParser
{
    /// <summary>Splits a received frame into its messages, in order. Empty lines are skipped.</summary>
    /// <param name="frame">The whole frame payload.</param>
    /// <returns>Each message's bytes.</returns>
    public static IEnumerable<ReadOnlyMemory<byte>> SplitFrame(ReadOnlyMemory<byte> frame)
    {
        var start = 0;
        while (start < frame.Length)
        {
            var rest = frame.Span[start..];
            var nl = rest.IndexOf(ProtocolConstants.MessageSeparator);
            var length = nl < 0 ? rest.Length : nl;
            if (length > 0)
            {
                yield return frame.Slice(start, length);
            }

            start += length + 1;
        }
    }

    /// <summary>Parses one server message.</summary>
    /// <param name="utf8">One message (no line feed).</param>
    /// <param name="message">The message, or null when its type is unknown to this client.</param>
    /// <param name="error">What was wrong when it could not be parsed.</param>
    /// <returns>True when the line was well-formed (even if its type is unknown and ignored).</returns>
    public static bool TryParse(ReadOnlyMemory<byte> utf8, out ServerMessage? message, out string? error)
    {
        message = null;
        error = null;
        try
        {
            using var doc = JsonDocument.Parse(utf8);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String)
            {
                error = "message is not a JSON object with a string type";
                return false;
            }

            var ctx = ProtocolJsonContext.Default;
            message = t.GetString() switch
            {
                "welcome" => root.Deserialize(ctx.WelcomeMessage),
                "ping" => root.Deserialize(ctx.ServerPing),
                "pong" => root.Deserialize(ctx.ServerPong),
                "subscribed" => root.Deserialize(ctx.SubscribedMessage),
                "snapshot" => Detach(root.Deserialize(ctx.SnapshotMessage)),
                "delta" => Detach(root.Deserialize(ctx.DeltaMessage)),
                "presence" => root.Deserialize(ctx.PresenceMessage),
                "reply" => root.Deserialize(ctx.ReplyMessage),
                "error" => root.Deserialize(ctx.ErrorMessage),
                _ => null,
            };
            return true;
        }
        catch (JsonException ex)
        {
            error = ex.Message;
            return false;
        }
    }

    // JsonElements deserialized from a document already own a copy, but be explicit: the document is disposed here.
    private static SnapshotMessage? Detach(SnapshotMessage? m) => m is null ? null : m with { State = m.State.Clone() };

    private static DeltaMessage? Detach(DeltaMessage? m) => m is null ? null : m with { Patch = m.Patch.Clone() };
}
