using System.Net;
using System.Net.Sockets;

namespace Lifeline.NetLab;

/// <summary>Loopback ports for servers the tests start as child processes (which cannot take port 0 and report it back).</summary>
public static class FreePorts
{
    /// <summary>A port that was free a moment ago on 127.0.0.1.</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>True when <paramref name="port"/> can be bound on 127.0.0.1 now.</summary>
    public static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
