using System.Globalization;

namespace Lifeline.Bench.Measure;

/// <summary>
/// The TCP sockets of one listening port as a given process sees them: <c>/proc/PID/net/tcp</c> shows the network
/// namespace of PID, so this reads the server's namespace without entering it (what <c>ss -tan</c> would show there).
/// </summary>
internal static class ServerSockets
{
    public const int Established = 0x01;
    private const int Listen = 0x0A;

    private static readonly string[] StateNames =
        ["?", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSE", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING"];

    public static string StateName(int state) => state >= 0 && state < StateNames.Length ? StateNames[state] : state.ToString(CultureInfo.InvariantCulture);

    /// <summary>Remote endpoint ("HEXIP:HEXPORT") -> state of every non-listening socket on <paramref name="localPort"/>.</summary>
    public static Dictionary<string, int> Read(int pid, int localPort)
    {
        var sockets = new Dictionary<string, int>(StringComparer.Ordinal);
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/net/tcp");
        }
        catch (IOException)
        {
            return sockets;
        }
        catch (UnauthorizedAccessException)
        {
            return sockets;
        }

        foreach (var line in text.Split('\n').Skip(1))
        {
            var parts = line.Split(' ', 5, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 4)
            {
                continue;
            }

            var local = parts[1];
            var port = int.Parse(local.AsSpan(local.IndexOf(':') + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var state = int.Parse(parts[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (port == localPort && state != Listen)
            {
                sockets[parts[2]] = state;
            }
        }

        return sockets;
    }
}
