// The pub/sub text of what is sent and never stored: channel events (beside the deltas "D" and presence events "P" on
// the channel's pub/sub channel) and, on a user's pub/sub channel, messages and disconnect orders. Parts that may hold
// anything (user ids, connection ids, reasons, JSON) are either last or length-prefixed, so no content can break the
// framing. Pure functions; no state.
using System.Globalization;
using Lifeline.Engine;

namespace Lifeline.Redis.Internal;

/// <summary>Encodes and decodes event, user message and disconnect order payloads.</summary>
internal static class MessageCodec
{
    /// <summary>E \n ts \n user length (-1: none) \n sender length (-1: none) \n user sender data.</summary>
    public static string EncodeEvent(ChannelEvent e) =>
        string.Create(CultureInfo.InvariantCulture, $"E\n{e.Ts}\n{e.User?.Length ?? -1}\n{e.SenderConnectionId?.Length ?? -1}\n{e.User}{e.SenderConnectionId}{RedisText.CompactJson(e.Data)}");

    /// <summary>True when <paramref name="text"/> is an event (channel pub/sub messages start with their kind).</summary>
    public static bool IsEvent(string text) => text.StartsWith("E\n", StringComparison.Ordinal);

    public static ChannelEvent DecodeEvent(string channel, string text)
    {
        var parts = text.Split('\n', 5);
        var ts = long.Parse(parts[1], CultureInfo.InvariantCulture);
        var userLength = int.Parse(parts[2], CultureInfo.InvariantCulture);
        var senderLength = int.Parse(parts[3], CultureInfo.InvariantCulture);
        var rest = parts[4];
        var at = 0;
        string? user = null;
        string? sender = null;
        if (userLength >= 0)
        {
            user = rest.Substring(at, userLength);
            at += userLength;
        }

        if (senderLength >= 0)
        {
            sender = rest.Substring(at, senderLength);
            at += senderLength;
        }

        return new ChannelEvent(channel, user, RedisText.ParseJson(rest[at..]), ts, sender);
    }

    /// <summary>M \n ts \n data.</summary>
    public static string EncodeMessage(UserMessage m) =>
        string.Create(CultureInfo.InvariantCulture, $"M\n{m.Ts}\n{RedisText.CompactJson(m.Data)}");

    /// <summary>X \n code \n 0 (no reason) or 1 followed by the reason.</summary>
    public static string EncodeDisconnect(UserDisconnect d) =>
        string.Create(CultureInfo.InvariantCulture, $"X\n{d.Code}\n{(d.Reason is null ? "0" : "1" + d.Reason)}");

    /// <summary>Decodes a message (<c>M</c>) or a disconnect order (<c>X</c>) of <paramref name="user"/>; null for anything else.</summary>
    public static object? DecodeUserPayload(string user, string text)
    {
        if (text.StartsWith("M\n", StringComparison.Ordinal))
        {
            var parts = text.Split('\n', 3);
            return new UserMessage(user, RedisText.ParseJson(parts[2]), long.Parse(parts[1], CultureInfo.InvariantCulture));
        }

        if (text.StartsWith("X\n", StringComparison.Ordinal))
        {
            var parts = text.Split('\n', 3);
            var reason = parts[2].StartsWith('1') ? parts[2][1..] : null;
            return new UserDisconnect(user, int.Parse(parts[1], CultureInfo.InvariantCulture), reason);
        }

        return null;
    }
}
