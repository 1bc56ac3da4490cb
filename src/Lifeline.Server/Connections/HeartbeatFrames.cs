using System.Buffers.Text;
using Lifeline.Protocol;

namespace Lifeline.Server.Connections;

/// <summary>
/// The heartbeat's wire bytes without the JSON serializer: the server's <c>ping</c>, formatted once per counter value
/// and shared by every connection (each connection counts its pings 1, 2, 3...; the bytes are immutable, like a delta
/// queued to many subscribers), and the client's <c>pong</c> recognised in its canonical form. Both are byte for
/// byte what <see cref="ProtocolSerializer"/> writes (PROTOCOL.md "ping / pong": <c>{"type":"ping","n":17}</c>).
/// </summary>
internal static class HeartbeatFrames
{
    /// <summary>Pings 0..this are formatted once and kept (about 50 bytes each): eleven hours of pings at a 10 s interval.</summary>
    internal const int CachedPings = 4096;

    private static readonly byte[]?[] Pings = new byte[CachedPings + 1][];

    private static ReadOnlySpan<byte> PingPrefix => "{\"type\":\"ping\",\"n\":"u8;

    private static ReadOnlySpan<byte> PongPrefix => "{\"type\":\"pong\",\"n\":"u8;

    /// <summary>The serialized <c>ping</c> with counter <paramref name="n"/>; never to be modified (it is shared).</summary>
    /// <param name="n">The counter (non-negative).</param>
    /// <returns>The message's bytes.</returns>
    public static byte[] Ping(long n)
    {
        if (n is < 0 or > CachedPings)
        {
            return FormatPing(n);
        }

        if (Volatile.Read(ref Pings[n]) is { } cached)
        {
            return cached;
        }

        var bytes = FormatPing(n);
        Volatile.Write(ref Pings[n], bytes); // a race formats the same bytes twice: harmless
        return bytes;
    }

    /// <summary>
    /// Recognises a pong in its canonical form, <c>{"type":"pong","n":N}</c> with N a non-negative integer below 2^53
    /// written without sign, exponent, fraction or leading zero, and nothing else (no id, no whitespace). Anything
    /// else, valid or not, is left to <see cref="ClientMessageParser"/>: this decides nothing the parser would
    /// decide differently.
    /// </summary>
    /// <param name="utf8">A client message.</param>
    /// <param name="n">The pong's counter, when recognised.</param>
    /// <returns>True for a canonical pong.</returns>
    public static bool TryReadPong(ReadOnlySpan<byte> utf8, out long n)
    {
        n = 0;
        if (utf8.Length < PongPrefix.Length + 2 || utf8[^1] != (byte)'}' || !utf8.StartsWith(PongPrefix))
        {
            return false;
        }

        var digits = utf8[PongPrefix.Length..^1];
        if (digits.Length > 16 || (digits[0] == (byte)'0' && digits.Length > 1))
        {
            return false;
        }

        foreach (var digit in digits)
        {
            if (digit is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            n = (n * 10) + (digit - '0');
        }

        return n <= ProtocolConstants.MaxSafeInteger;
    }

    private static byte[] FormatPing(long n)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(n, digits, out var length);
        var bytes = new byte[PingPrefix.Length + length + 1];
        PingPrefix.CopyTo(bytes);
        digits[..length].CopyTo(bytes.AsSpan(PingPrefix.Length));
        bytes[^1] = (byte)'}';
        return bytes;
    }
}
