using System.Net;
using System.Net.Sockets;
using Lifeline.Cli.Tests.Infrastructure;
using Lifeline.Server;

namespace Lifeline.Cli.Tests;

/// <summary>
/// <c>lifeline doctor</c> on real sockets: some that this test puts in CLOSE_WAIT on purpose (a listener that accepts
/// and never closes while the client side closes), and a running <c>lifeline serve</c>.
/// </summary>
public class DoctorTests
{
    [Fact]
    public async Task Doctor_FindsSocketsLeftInCloseWait_NamesThisProcess_ExitsNonZero()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = new List<Socket>();
        try
        {
            const int Count = 3;
            for (var i = 0; i < Count; i++)
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                accepted.Add(await listener.AcceptSocketAsync());
                client.Close(); // FIN from the client; the accepted socket is never closed: CLOSE_WAIT
            }

            await WaitForAsync(() => TcpSocketTable.ForLocalPort(port).Count(s => s.State == TcpState.CloseWait) == Count, "sockets in CLOSE_WAIT");

            var output = new StringWriter();
            var error = new StringWriter();
            // Nothing listens on port 9 (discard) here: the metrics part fails fast and is reported too.
            var code = await LifelineCli.InvokeAsync(["doctor", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--interval", "300ms", "--url", "http://127.0.0.1:9/metrics"], output, error);
            var report = output.ToString();

            Assert.True(code == ExitCodes.DoctorFoundProblems, $"exit {code}{Environment.NewLine}{report}{error}");
            Assert.Matches(@"\n   CLOSE-WAIT +3\n", report);
            Assert.Matches(@"\n   LISTEN +1\n", report);
            Assert.Contains($"pid {Environment.ProcessId} (", report, StringComparison.Ordinal);
            Assert.Contains("PROBLEM: 3 sockets in CLOSE_WAIT for over 300ms: the application is not closing them (held by pid " + Environment.ProcessId, report, StringComparison.Ordinal);
            Assert.Contains("PROBLEM: the metrics endpoint http://127.0.0.1:9/metrics did not answer", report, StringComparison.Ordinal);
            foreach (var socket in accepted)
            {
                Assert.Contains(socket.RemoteEndPoint!.ToString()!, report, StringComparison.Ordinal);
            }

            // Tolerating them turns that verdict into a note.
            output = new StringWriter();
            await LifelineCli.InvokeAsync(["doctor", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--interval", "300ms", "--max-close-wait", "3", "--url", "http://127.0.0.1:9/metrics"], output, error);
            Assert.DoesNotContain("sockets in CLOSE_WAIT for over", output.ToString(), StringComparison.Ordinal);
            Assert.Contains("note: 3 sockets in CLOSE_WAIT, 3 of them seen 300ms earlier too (tolerated: 3)", output.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            foreach (var socket in accepted)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task Doctor_NothingListening_ExitsNonZero()
    {
        var port = FreePorts.Next();

        var output = new StringWriter();
        var code = await LifelineCli.InvokeAsync(["doctor", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--interval", "100ms"], output, new StringWriter());
        Assert.Equal(ExitCodes.DoctorFoundProblems, code);
        Assert.Contains($"PROBLEM: nothing listens on port {port}", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Doctor_AgainstARunningServer_ShowsItsConnectionsAndMetrics_ExitsZero()
    {
        await using var process = LifelineProcess.Start(["serve", "--port", "0", "--auth", "dev"]);
        var port = await process.WaitForListeningPortAsync();
        var (client, _) = await RawClient.ConnectLiveAsync(new Uri($"ws://127.0.0.1:{port}/ws"), "carol");
        await using (client)
        {
            await MetricsScraper.WaitForAsync(new Uri($"http://127.0.0.1:{port}/metrics"), s => Doctor.PrometheusText.Sum(s, "ws_connections_active") == 1, process);

            var output = new StringWriter();
            var code = await LifelineCli.InvokeAsync(["doctor", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--interval", "200ms", "--timeout", "20s"], output, new StringWriter());
            var report = output.ToString();

            Assert.True(code == ExitCodes.Success, $"exit {code}{Environment.NewLine}{report}");
            Assert.Matches(@"\n   LISTEN +1\n", report);
            Assert.Matches(@"\n   ESTAB +2\n", report); // the server's side and this test's client side
            Assert.Contains($"server pid {process.Pid} (", report, StringComparison.Ordinal);
            Assert.Contains($"client pid {Environment.ProcessId} (", report, StringComparison.Ordinal);
            Assert.Matches(@"ws_connections_active +1\n", report);
            Assert.Matches(@"by transport +websocket=1  http-stream=0  http-poll=0\n", report);
            Assert.Matches(@"ws_tcp_close_wait_sockets +0\n", report);
            Assert.Contains("OK: no half-open sockets", report, StringComparison.Ordinal);
        }
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"no {what} within 10 s");
            await Task.Delay(20); // polling /proc/net/tcp, bounded
        }
    }
}
