using System.Globalization;

namespace Lifeline.Bench.Measure;

/// <summary>Counts TCP sockets by state from /proc/net/tcp and tcp6 (what <c>ss -tan</c> shows).</summary>
internal static class TcpStates
{
    public const int Established = 0x01;
    public const int CloseWait = 0x08;

    /// <summary>Sockets whose local port is <paramref name="localPort"/> (the server side) in <paramref name="state"/>.</summary>
    public static int Count(int localPort, int state) => Counts(localPort).GetValueOrDefault(state);

    /// <summary>State -> count of sockets with local port <paramref name="localPort"/>, listening socket excluded.</summary>
    public static Dictionary<int, int> Counts(int localPort)
    {
        var counts = new Dictionary<int, int>();
        foreach (var file in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(file))
            {
                continue;
            }

            foreach (var line in File.ReadLines(file).Skip(1))
            {
                // "  sl  local_address rem_address   st ..." with addresses as HEXIP:HEXPORT.
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length < 4)
                {
                    continue;
                }

                var local = parts[1];
                var port = int.Parse(local[(local.IndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                var state = int.Parse(parts[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (port == localPort && state != 0x0A)
                {
                    counts[state] = counts.GetValueOrDefault(state) + 1;
                }
            }
        }

        return counts;
    }
}
