using System.Buffers.Text;
using System.Diagnostics;
using System.Globalization;

namespace Lifeline.Bench.Protocols;

/// <summary>
/// The published payload: a JSON-safe string <c>~T&lt;19-digit Stopwatch timestamp&gt;:xxx…</c>. Whatever envelope a
/// server wraps it in, the marker <c>~T</c> finds it in a received message and gives the send time back.
/// </summary>
internal static class Payload
{
    public static ReadOnlySpan<byte> Marker => "~T"u8;

    private const int DigitCount = 19;

    /// <summary>A payload of <paramref name="length"/> characters stamped with the current time.</summary>
    public static string Create(int length)
    {
        var stamp = "~T" + Stopwatch.GetTimestamp().ToString("D19", CultureInfo.InvariantCulture) + ":";
        return length > stamp.Length ? stamp + new string('x', length - stamp.Length) : stamp;
    }

    /// <summary>Finds the timestamp in <paramref name="message"/>; false when it carries no payload.</summary>
    public static bool TryReadTimestamp(ReadOnlySpan<byte> message, out long timestamp)
    {
        timestamp = 0;
        var at = message.IndexOf(Marker);
        if (at < 0 || message.Length < at + 2 + DigitCount)
        {
            return false;
        }

        return Utf8Parser.TryParse(message.Slice(at + 2, DigitCount), out timestamp, out _);
    }
}
