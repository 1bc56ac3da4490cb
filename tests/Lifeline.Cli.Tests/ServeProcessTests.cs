using System.Net.Http;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lifeline.Cli.Tests.Infrastructure;
using Lifeline.Server;

namespace Lifeline.Cli.Tests;

/// <summary>The built tool as a real process: start, serve a client, stop on SIGTERM, leave nothing behind.</summary>
public partial class ServeProcessTests
{
    private static readonly TimeSpan ExitBound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Sigterm_DrainsClientsWith1001_ExitsZero_LeavesNoSocket()
    {
        await using var process = LifelineProcess.Start(
            ["serve", "--port", "0", "--heartbeat-interval", "500ms", "--heartbeat-timeout", "500ms", "--auth", "dev"],
            new Dictionary<string, string>
            {
                // Flags win over the environment: the welcome must say 500 ms, not 9 s.
                ["Lifeline__HeartbeatInterval"] = "9s",
                // Settings without a flag come from the environment.
                ["Lifeline__ShutdownRetrySpread"] = "00:00:02",
            });
        var port = await process.WaitForListeningPortAsync();
        await WaitForHealthyAsync(port, process);

        var (client, welcome) = await RawClient.ConnectLiveAsync(new Uri($"ws://127.0.0.1:{port}/ws"), "alice");
        await using (client)
        {
            Assert.Equal("alice", welcome.GetProperty("user").GetString());
            Assert.Equal(500, welcome.GetProperty("heartbeat").GetProperty("intervalMs").GetInt64());
            Assert.Equal(500, welcome.GetProperty("heartbeat").GetProperty("timeoutMs").GetInt64());

            // The heartbeat runs (the client answers; one ping keeps the exposure to a 500 ms pong deadline on a
            // loaded CI machine short) before the stop.
            await client.ReceiveTypeAsync("ping");

            process.Terminate();

            var (status, reason) = await client.Closed.WaitAsync(TimeSpan.FromSeconds(15));
            Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, status); // 1001
            Assert.NotNull(reason);
            Assert.StartsWith("retry_after_ms=", reason, StringComparison.Ordinal);
            var hint = int.Parse(reason["retry_after_ms=".Length..], System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(hint, 0, 2000); // spread over Lifeline__ShutdownRetrySpread

            var exitCode = await process.WaitForExitAsync(ExitBound);
            Assert.True(exitCode == 0, $"exit code {exitCode}{Environment.NewLine}{process.Describe()}");
        }

        var left = TcpSocketTable.ForLocalPort(port).Where(s => s.State is TcpState.Established or TcpState.CloseWait).ToList();
        Assert.True(left.Count == 0, "sockets left on the server port: " + string.Join(", ", left));
        Assert.Contains(process.Stdout, l => l.Contains("code=1001", StringComparison.Ordinal) && l.Contains("closed user=alice", StringComparison.Ordinal));
        Assert.Contains(process.Stdout, l => l.EndsWith(" stopped", StringComparison.Ordinal));
        Assert.Empty(process.Stderr);
    }

    [Fact]
    public async Task JsonLogs_LifecycleLinesAreJsonWithMillisecondTimestampsAndEventNames()
    {
        await using var process = LifelineProcess.Start(["serve", "--port", "0", "--auth", "dev", "--log-format", "json"]);
        var port = await process.WaitForListeningPortAsync();
        var (client, _) = await RawClient.ConnectLiveAsync(new Uri($"ws://127.0.0.1:{port}/ws"), "bob");
        await using (client)
        {
            var line = await process.WaitForLineAsync(l => l.Contains("\"ConnectionOpened\"", StringComparison.Ordinal));
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            Assert.Matches(MillisecondUtc(), root.GetProperty("Timestamp").GetString()!);
            Assert.Equal("ConnectionOpened", root.GetProperty("EventName").GetString());
            Assert.Equal(2, root.GetProperty("EventId").GetInt32());
            Assert.Equal("Information", root.GetProperty("LogLevel").GetString());
            Assert.Equal("Lifeline.Server.Connection", root.GetProperty("Category").GetString());
            var state = root.GetProperty("State");
            Assert.Equal("bob", state.GetProperty("UserId").GetString());
            Assert.StartsWith("127.0.0.1:", state.GetProperty("RemoteEndPoint").GetString(), StringComparison.Ordinal);
            Assert.False(state.GetProperty("Resumed").GetBoolean());
            Assert.Matches(MillisecondUtc(), state.GetProperty("At").GetString()!);
        }

        await process.WaitForLineAsync(l => l.Contains("\"ConnectionClosed\"", StringComparison.Ordinal));
        process.Terminate();
        Assert.Equal(0, await process.WaitForExitAsync(ExitBound));

        // Every line on standard output is one JSON object (nothing else is mixed in).
        Assert.NotEmpty(process.Stdout);
        foreach (var line in process.Stdout)
        {
            using var doc = JsonDocument.Parse(line);
            Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
            Assert.Matches(MillisecondUtc(), doc.RootElement.GetProperty("Timestamp").GetString()!);
        }
    }

    [Fact]
    public async Task TextLogs_EveryLineStartsWithAMillisecondUtcTimestamp()
    {
        await using var process = LifelineProcess.Start(["serve", "--port", "0", "--auth", "dev"]);
        var port = await process.WaitForListeningPortAsync();
        var (client, _) = await RawClient.ConnectLiveAsync(new Uri($"ws://127.0.0.1:{port}/ws"), "carol");
        await using (client)
        {
            await process.WaitForLineAsync(l => l.Contains("open user=carol", StringComparison.Ordinal));
        }

        await process.WaitForLineAsync(l => l.Contains("closed user=carol", StringComparison.Ordinal));
        process.Terminate();
        Assert.Equal(0, await process.WaitForExitAsync(ExitBound));

        Assert.NotEmpty(process.Stdout);
        Assert.All(process.Stdout, l => Assert.Matches(TextLinePrefix(), l));
        Assert.Contains(process.Stdout, l => l.Contains("lifeline serve listening on http://127.0.0.1:", StringComparison.Ordinal));
        Assert.Contains(process.Stdout, l => l.Contains("FOR DEVELOPMENT AND TESTS ONLY", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Help_ExitsZero_AndListsEveryOption()
    {
        var (rootCode, rootOut, _) = await LifelineProcess.RunAsync("--help");
        Assert.Equal(0, rootCode);
        Assert.Contains(rootOut, l => l.TrimStart().StartsWith("serve", StringComparison.Ordinal));

        var (serveCode, serveOut, serveErr) = await LifelineProcess.RunAsync("serve", "--help");
        Assert.Equal(0, serveCode);
        Assert.Empty(serveErr);
        var help = string.Join('\n', serveOut);
        foreach (var option in CommandLineTests.ServeOptionNames)
        {
            Assert.Contains(option, help, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task BadDuration_ExitsNonZero_WithAClearMessage()
    {
        var (code, _, stderr) = await LifelineProcess.RunAsync("serve", "--heartbeat-interval", "5x");
        Assert.NotEqual(0, code);
        Assert.Contains(stderr, l => l.Contains("--heartbeat-interval: '5x' has an unknown unit 'x'", StringComparison.Ordinal));
    }

    private static async Task WaitForHealthyAsync(int port, LifelineProcess process)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz"));
                if (response.IsSuccessStatusCode)
                {
                    using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                    Assert.Equal("ok", doc.RootElement.GetProperty("status").GetString());
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            Assert.False(process.HasExited, "lifeline exited before it was healthy" + Environment.NewLine + process.Describe());
            Assert.True(DateTime.UtcNow < deadline, "/healthz never answered 200" + Environment.NewLine + process.Describe());
            await Task.Delay(100);
        }
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")]
    private static partial Regex MillisecondUtc();

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z ")]
    private static partial Regex TextLinePrefix();
}
