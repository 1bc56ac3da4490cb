using System.Net;

namespace Lifeline.Bench.Net;

/// <summary>
/// Spreads client source addresses over 127.0.0.2-127.0.0.65 so that the (source address, source port) space is
/// never what limits the connection count (Linux gives each address its own ephemeral ports).
/// </summary>
internal static class SourceAddresses
{
    private const int Count = 64;
    private static readonly IPAddress[] Addresses = Enumerable.Range(2, Count).Select(i => new IPAddress(new byte[] { 127, 0, 0, (byte)i })).ToArray();

    public static IPAddress For(int index) => Addresses[(int)((uint)index % Count)];
}
