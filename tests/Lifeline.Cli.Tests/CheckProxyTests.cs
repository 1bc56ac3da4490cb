using Lifeline.Cli.Tests.Infrastructure;

namespace Lifeline.Cli.Tests;

/// <summary><c>lifeline check-proxy</c> on good and bad nginx configurations (in-process; the real nginx runs in NginxTests).</summary>
public sealed class CheckProxyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lifeline-check-proxy-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string text)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".conf");
        File.WriteAllText(path, text);
        return path;
    }

    private static async Task<(int Code, string Output)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await LifelineCli.InvokeAsync(args, output, error);
        return (code, output + error.ToString());
    }

    public static string Location(string body) => $$"""
        http {
            server {
                listen 8080;
                location /ws {
                    proxy_pass http://127.0.0.1:8081;
        {{body}}
                }
            }
        }
        """;

    private const string Good = """
                    proxy_http_version 1.1;
                    proxy_set_header Upgrade $http_upgrade;
                    proxy_set_header Connection "upgrade";
                    proxy_read_timeout 75s;
                    proxy_send_timeout 75s;
                    proxy_buffering off;
        """;

    [Fact]
    public async Task TheShippedNginxConfig_PassesWithTheDefaultHeartbeat_AndItsCommentNamesTheDefaults()
    {
        // Issue 19: the default heartbeat is 20 s + 5 s, inside the 30 s idle timeout of many proxies; the shipped
        // configuration and check-proxy's defaults follow it.
        Assert.Equal(TimeSpan.FromSeconds(20), Lifeline.Server.LifelineOptions.DefaultHeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), Lifeline.Server.LifelineOptions.DefaultHeartbeatTimeout);
        var file = Path.Combine(TestPaths.RepositoryRoot, "deploy", "nginx", "lifeline.conf");

        var (code, output) = await RunAsync("check-proxy", file);

        Assert.True(code == 0, output);
        Assert.Contains("ok: 1 WebSocket location(s) and 3 HTTP transport location(s)", output, StringComparison.Ordinal);
        Assert.Contains("--heartbeat-interval 20s --heartbeat-timeout 5s", File.ReadAllText(file), StringComparison.Ordinal);
    }

    private static string HttpLocations(string streamBody, string pollBody) => $$"""
        http {
            server {
                listen 8080;
                location = /ws/stream {
                    proxy_pass http://127.0.0.1:8081;
        {{streamBody}}
                }
                location = /ws/send {
                    proxy_pass http://127.0.0.1:8081;
                }
                location = /ws/poll {
                    proxy_pass http://127.0.0.1:8081;
        {{pollBody}}
                }
            }
        }
        """;

    [Fact]
    public async Task HttpTransportLocations_NeedNoUpgrade_AndPassWithBufferingOffAndLongTimeouts()
    {
        var file = Write(HttpLocations("proxy_buffering off;\n proxy_read_timeout 75s;", "proxy_read_timeout 60s;"));

        var (code, output) = await RunAsync("check-proxy", file, "--heartbeat-interval", "30s", "--heartbeat-timeout", "5s");

        Assert.True(code == 0, output);
        Assert.Contains("ok: 0 WebSocket location(s) and 3 HTTP transport location(s)", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("proxy_buffering on;\n proxy_read_timeout 75s;", 6, "proxy_buffering on on the HTTP stream")]
    [InlineData("proxy_read_timeout 75s;", 4, "proxy_buffering is not set (nginx's default: on): the HTTP stream")]
    public async Task BufferingOnTheStreamLocation_IsAnError(string streamBody, int line, string message)
    {
        var file = Write(HttpLocations(streamBody, "proxy_read_timeout 60s;"));

        var (code, output) = await RunAsync("check-proxy", file, "--heartbeat-interval", "30s", "--heartbeat-timeout", "5s");

        Assert.Equal(ExitCodes.ProxyProblems, code);
        Assert.Contains($"{file}:{line}: error: location = /ws/stream: {message}", output, StringComparison.Ordinal);
        Assert.Contains("1 error(s), 0 warning(s) in 3 location(s)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APollReadTimeoutNotAboveTheLongPollWait_AndAShortStreamTimeout_AreErrors()
    {
        var file = Write(HttpLocations("proxy_buffering off;\n proxy_read_timeout 30s;", "proxy_read_timeout 25s;"));

        var (code, output) = await RunAsync("check-proxy", file, "--heartbeat-interval", "30s", "--heartbeat-timeout", "5s");

        Assert.Equal(ExitCodes.ProxyProblems, code);
        Assert.Contains("location = /ws/stream: proxy_read_timeout 30s is not longer than the heartbeat interval + timeout (35s)", output, StringComparison.Ordinal);
        Assert.Contains("location = /ws/poll: proxy_read_timeout 25s is not longer than a long poll's 25s wait", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AGoodLocation_Passes()
    {
        var (code, output) = await RunAsync("check-proxy", Write(Location(Good)), "--heartbeat-interval", "30s", "--heartbeat-timeout", "5s");

        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task AReadTimeoutNotAboveIntervalPlusTimeout_IsAnError_WithFileAndLine()
    {
        var file = Write(Location(Good.Replace("proxy_read_timeout 75s", "proxy_read_timeout 35s", StringComparison.Ordinal)));

        var (code, output) = await RunAsync("check-proxy", file, "--heartbeat-interval", "30s", "--heartbeat-timeout", "5s");

        Assert.Equal(4, code);
        Assert.Contains($"{file}:9: error: location /ws: proxy_read_timeout 35s is not longer than the heartbeat interval + timeout (35s)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheIdleTimeoutTrap_3sReadTimeout_IsAnErrorForA5sHeartbeat_AndOnlyAWarningForA1sOne()
    {
        var file = Write(Location(Good.Replace("75s", "3s", StringComparison.Ordinal)));

        var (slowCode, slow) = await RunAsync("check-proxy", file, "--heartbeat-interval", "5s", "--heartbeat-timeout", "1s");
        var (fastCode, fast) = await RunAsync("check-proxy", file, "--heartbeat-interval", "1s", "--heartbeat-timeout", "1s");

        Assert.Equal(4, slowCode);
        Assert.Contains("error: location /ws: proxy_read_timeout 3s", slow, StringComparison.Ordinal);
        Assert.Contains("error: location /ws: proxy_send_timeout 3s", slow, StringComparison.Ordinal);
        Assert.Equal(4, fastCode);
        Assert.DoesNotContain("error:", fast, StringComparison.Ordinal);
        Assert.Contains("warning: location /ws: proxy_read_timeout 3s is under 2x", fast, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingUpgradeSettings_AndDefaults_AreReported()
    {
        var file = Write(Location("            proxy_read_timeout 2m;"));

        // A 30 s heartbeat: nginx's default 60 s is under 2 x 35 s (with the default 20 s it is enough).
        var (code, output) = await RunAsync("check-proxy", file, "--heartbeat-interval", "30s");

        Assert.Equal(4, code);
        Assert.Contains("proxy_send_timeout is not set (nginx's default: 60s) is under 2x", output, StringComparison.Ordinal);
        Assert.Contains("proxy_http_version is not set", output, StringComparison.Ordinal);
        Assert.Contains("proxy_set_header Upgrade $http_upgrade is missing", output, StringComparison.Ordinal);
        Assert.Contains("proxy_set_header Connection", output, StringComparison.Ordinal);
        Assert.Contains("proxy_buffering is not set", output, StringComparison.Ordinal);
        Assert.DoesNotContain("proxy_read_timeout", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SettingsAreInheritedFromTheServerLevel_ButAHeaderAtTheLocationHidesTheOuterHeaders()
    {
        var file = Write("""
            http {
                proxy_read_timeout 90s;
                proxy_send_timeout 90s;
                proxy_http_version 1.1;
                proxy_buffering off;
                server {
                    proxy_set_header Upgrade $http_upgrade;
                    proxy_set_header Connection "upgrade";
                    location /ok { proxy_pass http://127.0.0.1:8081; }
                    location /broken {
                        proxy_pass http://127.0.0.1:8081;
                        proxy_set_header Host $host;
                    }
                }
            }
            """);

        var (code, output) = await RunAsync("check-proxy", file);

        Assert.Equal(4, code);
        Assert.DoesNotContain("location /ok", output, StringComparison.Ordinal);
        Assert.Contains($"{file}:10: error: location /broken: proxy_set_header Upgrade $http_upgrade is missing", output, StringComparison.Ordinal);
        Assert.Contains("2 error(s), 0 warning(s) in 2 location(s)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnreadableOrBrokenFile_ExitsWith2()
    {
        var (missing, _) = await RunAsync("check-proxy", Path.Combine(_dir, "nope.conf"));
        var (broken, output) = await RunAsync("check-proxy", Write("http { server { location / { proxy_pass x; }"));

        Assert.Equal(2, missing);
        Assert.Equal(2, broken);
        Assert.Contains("not closed", output, StringComparison.Ordinal);
    }
}

/// <summary><c>lifeline check-proxy</c> on HAProxy configurations.</summary>
public sealed class CheckProxyHaproxyTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"lifeline-haproxy-{Guid.NewGuid():N}.cfg");

    public void Dispose() => File.Delete(_file);

    private async Task<(int Code, string Output)> RunAsync(string config)
    {
        await File.WriteAllTextAsync(_file, config);
        using var output = new StringWriter();
        var code = await LifelineCli.InvokeAsync(["check-proxy", _file, "--heartbeat-interval", "30s", "--heartbeat-timeout", "5s"], output, output);
        return (code, output.ToString());
    }

    [Fact]
    public async Task ATunnelTimeoutAboveTwiceTheThreshold_Passes_EvenWithShortClientTimeouts()
    {
        var (code, output) = await RunAsync("""
            defaults
                mode http
                timeout client 10s
                timeout server 10s
                timeout tunnel 1h
            backend lifeline
                server a 127.0.0.1:8081
            """);

        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task WithoutATunnelTimeout_TheClientTimeoutCuts_AndBareNumbersAreMilliseconds()
    {
        var (code, output) = await RunAsync("""
            defaults
                timeout client 30000
                timeout server 60s
            listen lifeline
                bind 127.0.0.1:8080
                server a 127.0.0.1:8081
            """);

        Assert.Equal(4, code);
        Assert.Contains($"{_file}:2: error: listen lifeline: timeout client (no timeout tunnel) 30s is not longer than", output, StringComparison.Ordinal);
        Assert.Contains($"{_file}:3: warning: listen lifeline: timeout server (no timeout tunnel) 1m is under 2x", output, StringComparison.Ordinal);
    }
}
