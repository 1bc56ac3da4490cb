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
            var parsed = t.GetString() switch
            {
                "welcome" => (ServerMessage?)root.Deserialize(ctx.WelcomeMessage),
                "ping" => root.Deserialize(ctx.ServerPing),
                "pong" => root.Deserialize(ctx.ServerPong),
                "subscribed" => root.Deserialize(ctx.SubscribedMessage),
                "snapshot" => root.Deserialize(ctx.SnapshotMessage),
                "delta" => root.Deserialize(ctx.DeltaMessage),
                "presence" => root.Deserialize(ctx.PresenceMessage),
                "event" => root.Deserialize(ctx.EventMessage),
                "message" => root.Deserialize(ctx.DirectMessage),
                "reply" => root.Deserialize(ctx.ReplyMessage),
                "error" => root.Deserialize(ctx.ErrorMessage),
                _ => null,
            };

            if (parsed is not null && Validate(parsed) is { } problem)
            {
                error = $"{t.GetString()}: {problem}";
                return false;
            }

            message = Detach(parsed);
            return true;
        }
        catch (JsonException ex)
        {
            error = ex.Message;
            return false;
        }
    }

    // The deserializer fills a missing member with null (or an undefined JsonElement) instead of failing; a client
    // must not receive such a message, so every member the protocol requires is checked here.
    private static string? Validate(ServerMessage message) => message switch
    {
        WelcomeMessage m when m.Session is null || m.Connection is null || m.Heartbeat is null => "session, connection and heartbeat are required",
        SubscribedMessage m when m.Channel is null || m.Epoch is null => "channel and epoch are required",
        SnapshotMessage m when m.Channel is null || m.Epoch is null => "channel and epoch are required",
        SnapshotMessage m when m.State.ValueKind != JsonValueKind.Object => "state must be an object",
        DeltaMessage m when m.Channel is null => "channel is required",
        DeltaMessage m when m.Patch.ValueKind != JsonValueKind.Object => "patch must be an object",
        PresenceMessage m when m.Channel is null || m.Event is null || m.User is null => "channel, event and user are required",
        EventMessage m when m.Channel is null => "channel is required",
        EventMessage m when m.Data.ValueKind == JsonValueKind.Undefined => "data is required",
        DirectMessage m when m.Data.ValueKind == JsonValueKind.Undefined => "data is required",
        ReplyMessage { Error: { } e } when e.Code is null || e.Message is null => "error.code and error.message are required",
        ErrorMessage m when m.Code is null || m.Message is null => "code and message are required",
        _ => null,
    };

    private static ServerMessage? Detach(ServerMessage? message) => message switch
    {
        SnapshotMessage m => Detach(m),
        DeltaMessage m => Detach(m),
        EventMessage m => m with { Data = m.Data.Clone() },
        DirectMessage m => m with { Data = m.Data.Clone() },
        _ => message,
    };

    // JsonElements deserialized from a document already own a copy, but be explicit: the document is disposed here.
    private static SnapshotMessage? Detach(SnapshotMessage? m) => m is null ? null : m with { State = m.State.Clone() };

    private static DeltaMessage? Detach(DeltaMessage? m) => m is null ? null : m with { Patch = m.Patch.Clone() };
}
