using System.Globalization;
using System.Net;

namespace Lifeline.Server;

/// <summary>The TCP states of the Linux kernel, as numbered in /proc/net/tcp.</summary>
public enum TcpState
{
    /// <summary>Connection established.</summary>
    Established = 1,

    /// <summary>SYN sent.</summary>
    SynSent = 2,

    /// <summary>SYN received.</summary>
    SynReceived = 3,

    /// <summary>FIN sent, waiting for its acknowledgement.</summary>
    FinWait1 = 4,

    /// <summary>Our FIN acknowledged, waiting for the peer's.</summary>
    FinWait2 = 5,

    /// <summary>Both closed, waiting out stray segments.</summary>
    TimeWait = 6,

    /// <summary>Closed.</summary>
    Close = 7,

    /// <summary>The peer closed; this side has not: the application still holds the socket.</summary>
    CloseWait = 8,

    /// <summary>Closed after the peer, waiting for the last acknowledgement.</summary>
    LastAck = 9,

    /// <summary>Listening.</summary>
    Listen = 10,

    /// <summary>Both sides closing at once.</summary>
    Closing = 11,
}

/// <summary>One row of /proc/net/tcp or /proc/net/tcp6.</summary>
/// <param name="Local">The local endpoint.</param>
/// <param name="Remote">The remote endpoint.</param>
/// <param name="State">The TCP state.</param>
/// <param name="Inode">The socket inode (maps the socket to its owning process through /proc/PID/fd).</param>
public sealed record TcpSocketEntry(IPEndPoint Local, IPEndPoint Remote, TcpState State, long Inode);

/// <summary>Reads the kernel's TCP socket tables (Linux), as <c>ss -tn</c> does.</summary>
public static class TcpSocketTable
{
    /// <summary>Reads every TCP socket of this network namespace (IPv4 and IPv6).</summary>
    /// <returns>The sockets; empty where /proc/net/tcp does not exist.</returns>
    public static IReadOnlyList<TcpSocketEntry> Read()
    {
        var result = new List<TcpSocketEntry>();
        Parse("/proc/net/tcp", ipv6: false, result);
        Parse("/proc/net/tcp6", ipv6: true, result);
        return result;
    }

    /// <summary>The sockets whose local port is <paramref name="port"/> (the server's side of its connections).</summary>
    /// <param name="port">The server's listening port.</param>
    /// <returns>The sockets, listening socket included.</returns>
    public static IReadOnlyList<TcpSocketEntry> ForLocalPort(int port) => Read().Where(e => e.Local.Port == port).ToList();

    /// <summary>Counts the sockets in CLOSE_WAIT on the local port <paramref name="port"/>.</summary>
    /// <param name="port">The server's listening port.</param>
    /// <returns>The count.</returns>
    public static int CountCloseWait(int port) => ForLocalPort(port).Count(e => e.State == TcpState.CloseWait);

    private static void Parse(string path, bool ipv6, List<TcpSocketEntry> into)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return;
        }

        foreach (var line in lines.Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 10)
            {
                continue;
            }

            into.Add(new TcpSocketEntry(
                ParseEndPoint(f[1], ipv6),
                ParseEndPoint(f[2], ipv6),
                (TcpState)int.Parse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                long.Parse(f[9], CultureInfo.InvariantCulture)));
        }
    }

    /// <summary>Parses <c>0100007F:1F90</c> (IPv4) or 32 hex digits (IPv6), each 32-bit word in host (little-endian) order.</summary>
    internal static IPEndPoint ParseEndPoint(string field, bool ipv6)
    {
        var colon = field.IndexOf(':', StringComparison.Ordinal);
        var hex = field[..colon];
        var port = int.Parse(field[(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var bytes = Convert.FromHexString(hex);
        for (var i = 0; i + 4 <= bytes.Length; i += 4)
        {
            Array.Reverse(bytes, i, 4);
        }

        var address = new IPAddress(bytes);
        if (ipv6 && address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return new IPEndPoint(address, port);
    }
}
