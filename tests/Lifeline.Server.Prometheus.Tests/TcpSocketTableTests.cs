using System.Net;

namespace Lifeline.Server.Prometheus.Tests;

/// <summary>The /proc/net/tcp and tcp6 address format: 32-bit words in host (little-endian) order, port in hex.</summary>
public class TcpSocketTableTests
{
    [Theory]
    [InlineData("0100007F:1F90", false, "127.0.0.1:8080")]
    [InlineData("00000000:0050", false, "0.0.0.0:80")]
    [InlineData("0000000000000000FFFF00000100007F:1F90", true, "127.0.0.1:8080")]
    [InlineData("00000000000000000000000001000000:01BB", true, "[::1]:443")]
    public void ParseEndPoint_ReadsTheKernelsFormat(string field, bool ipv6, string expected) =>
        Assert.Equal(IPEndPoint.Parse(expected), TcpSocketTable.ParseEndPoint(field, ipv6));

    [Fact]
    public void Read_SeesAListeningSocket_OnItsPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        Assert.Contains(TcpSocketTable.ForLocalPort(port), e => e.State == TcpState.Listen && e.Local.Address.Equals(IPAddress.Loopback));
        Assert.Equal(0, TcpSocketTable.CountCloseWait(port));
    }
}
