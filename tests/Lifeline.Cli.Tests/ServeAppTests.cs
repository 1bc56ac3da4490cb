using System.Net;
using System.Net.Http;
using System.Text.Json;
using Lifeline.Cli.Commands;
using Lifeline.Cli.Serve;
using Lifeline.Cli.Tests.Infrastructure;
using Lifeline.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Lifeline.Cli.Tests;

/// <summary>The serve application built in-process by <see cref="ServeCommand.BuildApp"/>, on a real Kestrel port.</summary>
public class ServeAppTests
{
    [Theory]
    [InlineData("http://localhost:5173", 101)]
    [InlineData("https://localhost:8443", 101)]
    [InlineData("http://127.0.0.1:3000", 101)]
    [InlineData("http://[::1]:9000", 101)]
    [InlineData("http://evil.example", 403)]
    [InlineData("http://localhost.evil.example:5173", 403)]
    public async Task Serve_AllowsLocalhostOriginsOnAnyPort_AndRefusesOthersWith403(string origin, int expected)
    {
        await using var app = await StartAsync(["--port", "0"]);
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.SetRequestHeader("Origin", origin);
        using var cts = new CancellationTokenSource(TestTimeouts.Default);
        try
        {
            await socket.ConnectAsync(WsUri(app, "/ws"), cts.Token);
        }
        catch (System.Net.WebSockets.WebSocketException)
        {
        }

        Assert.Equal(expected, (int)socket.HttpStatusCode);
        socket.Abort();
    }

    [Fact]
    public async Task Healthz_IsOkWithConnectionCount_ThenDrainingWith503()
    {
        await using var app = await StartAsync(["--port", "0"]);
        using var http = new HttpClient { BaseAddress = BaseUri(app) };

        using (var ok = await http.GetAsync(new Uri("/healthz", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Equal("application/json", ok.Content.Headers.ContentType?.MediaType);
            Assert.Equal("""{"status":"ok","connections":0}""", await ok.Content.ReadAsStringAsync());
        }

        var (client, _) = await RawClient.ConnectLiveAsync(WsUri(app, "/ws"), null);
        await using (client)
        {
            using var one = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
            Assert.Equal("""{"status":"ok","connections":1}""", await one.Content.ReadAsStringAsync());

            await app.Services.GetRequiredService<LifelineServer>().DrainAsync();
            using var draining = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, draining.StatusCode);
            Assert.Equal("""{"status":"draining"}""", await draining.Content.ReadAsStringAsync());
            var (status, reason) = await client.Closed.WaitAsync(TestTimeouts.Default);
            Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable, status);
            Assert.StartsWith("retry_after_ms=", reason, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(new string[0], "/ws", HttpStatusCode.OK)]
    [InlineData(new[] { "--path", "/live" }, "/live", HttpStatusCode.OK)]
    [InlineData(new[] { "--http-transport", "off" }, "/ws", HttpStatusCode.NotFound)]
    public async Task HttpTransport_IsServedUnlessTurnedOff(string[] flags, string path, HttpStatusCode expected)
    {
        await using var app = await StartAsync(["--port", "0", .. flags]);
        using var http = new HttpClient { BaseAddress = BaseUri(app) };
        using var content = new StringContent("{\"type\":\"hello\",\"v\":1}", System.Text.Encoding.UTF8, "application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path + "/stream", UriKind.Relative)) { Content = content };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(expected, response.StatusCode);
        if (expected == HttpStatusCode.OK)
        {
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var first = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.StartsWith("data: {\"type\":\"welcome\"", first, StringComparison.Ordinal);
            Assert.Contains("\"transport\":\"http\"", first, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("lean", 405)] // the lean listener's own answer to a non-GET of the path
    [InlineData("standard", 400)] // MapLifeline's: not a WebSocket upgrade
    public async Task Listener_TakesTheUpgrades_AndTheRestOfThePortIsTheSame(string listener, int postToPath)
    {
        await using var app = await StartAsync(["--port", "0", "--listener", listener]);
        using var http = new HttpClient { BaseAddress = BaseUri(app) };
        using (var post = await http.PostAsync(new Uri("/ws", UriKind.Relative), null))
        {
            Assert.Equal(postToPath, (int)post.StatusCode);
        }

        var wsUri = new UriBuilder(BaseUri(app)) { Scheme = "ws", Path = "/ws" }.Uri;
        var (client, welcome) = await RawClient.ConnectAndHelloAsync(wsUri);
        await using var _c = client;
        Assert.Equal("welcome", welcome.GetProperty("type").GetString());
        using var health = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
        Assert.Equal("""{"status":"ok","connections":1}""", await health.Content.ReadAsStringAsync());
        using var metrics = await http.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
    }

    [Fact]
    public async Task TestEndpoints_AreOffByDefault()
    {
        await using var app = await StartAsync(["--port", "0"]);
        using var http = new HttpClient { BaseAddress = BaseUri(app) };
        using var response = await http.PostAsync(new Uri("/_test/pause-pings", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.False(app.Services.GetRequiredService<LifelineServer>().PingsPaused);
    }

    [Fact]
    public async Task TestEndpoints_PauseAndResumePings()
    {
        await using var app = await StartAsync(["--port", "0", "--test-endpoints"]);
        var server = app.Services.GetRequiredService<LifelineServer>();
        using var http = new HttpClient { BaseAddress = BaseUri(app) };

        using (var paused = await http.PostAsync(new Uri("/_test/pause-pings", UriKind.Relative), null))
        {
            Assert.Equal(HttpStatusCode.NoContent, paused.StatusCode);
            Assert.True(server.PingsPaused);
        }

        using (var resumed = await http.PostAsync(new Uri("/_test/resume-pings", UriKind.Relative), null))
        {
            Assert.Equal(HttpStatusCode.NoContent, resumed.StatusCode);
            Assert.False(server.PingsPaused);
        }
    }

    [Fact]
    public async Task Flags_ReachTheServer_PathAuthAndHeartbeat()
    {
        await using var app = await StartAsync(["--port", "0", "--path", "/live", "--auth", "dev", "--heartbeat-interval", "2s", "--heartbeat-timeout", "1500ms"]);
        Assert.IsType<DevTokenAuthenticator>(app.Services.GetRequiredService<ILifelineAuthenticator>());
        var (client, welcome) = await RawClient.ConnectLiveAsync(WsUri(app, "/live"), "zoe");
        await using (client)
        {
            Assert.Equal("zoe", welcome.GetProperty("user").GetString());
            Assert.Equal(2000, welcome.GetProperty("heartbeat").GetProperty("intervalMs").GetInt64());
            Assert.Equal(1500, welcome.GetProperty("heartbeat").GetProperty("timeoutMs").GetInt64());
        }
    }

    [Fact]
    public async Task AnonymousByDefault_TokensIgnored()
    {
        await using var app = await StartAsync(["--port", "0"]);
        Assert.IsType<AnonymousAuthenticator>(app.Services.GetRequiredService<ILifelineAuthenticator>());
        var (client, welcome) = await RawClient.ConnectLiveAsync(WsUri(app, "/ws"), "mallory");
        await using (client)
        {
            Assert.Equal(JsonValueKind.Null, welcome.GetProperty("user").ValueKind);
        }
    }

    [Fact]
    public async Task HostShutdownTimeout_CoversTheDrain()
    {
        await using var app = ServeCommand.BuildApp(["--port", "0"]).App;
        var host = app.Services.GetRequiredService<IOptions<HostOptions>>().Value;
        var options = app.Services.GetRequiredService<IOptions<LifelineOptions>>().Value;
        Assert.True(host.ShutdownTimeout >= options.DrainTimeout + TimeSpan.FromSeconds(5), $"{host.ShutdownTimeout} < {options.DrainTimeout} + 5 s");
    }

    [Fact]
    public async Task BrowserClientAndDemo_AreServedFromTheEmbeddedFiles()
    {
        await using var app = await StartAsync(["--port", "0", "--path", "/live"]);
        using var http = new HttpClient { BaseAddress = BaseUri(app) };

        using var js = await http.GetAsync(new Uri("/lifeline.js", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, js.StatusCode);
        Assert.Equal("text/javascript", js.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no-cache", js.Headers.CacheControl?.ToString());
        var source = await js.Content.ReadAsStringAsync();
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(TestPaths.RepositoryRoot, "src", "Lifeline.Cli", "Web", "lifeline.js")), source);
        Assert.Matches(@"export \{[^}]*\bLifelineClient\b", source);

        var etag = js.Headers.ETag;
        Assert.NotNull(etag);
        using var revalidate = new HttpRequestMessage(HttpMethod.Get, new Uri("/lifeline.js", UriKind.Relative));
        revalidate.Headers.IfNoneMatch.Add(etag);
        using var notModified = await http.SendAsync(revalidate);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);

        using var map = await http.GetAsync(new Uri("/lifeline.js.map", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, map.StatusCode);
        Assert.Equal("application/json", map.Content.Headers.ContentType?.MediaType);

        using var demo = await http.GetAsync(new Uri("/", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, demo.StatusCode);
        Assert.Equal("text/html", demo.Content.Headers.ContentType?.MediaType);
        var html = await demo.Content.ReadAsStringAsync();
        Assert.Contains("""<meta name="lifeline-ws-path" content="/live">""", html, StringComparison.Ordinal);
        Assert.Contains("""from "/lifeline.js";""", html, StringComparison.Ordinal);

        // No CDN: everything the page loads comes from this server.
        Assert.DoesNotContain("http://", html, StringComparison.Ordinal);
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);
    }

    /// <summary>
    /// Issue 5, scenario 7's held sockets: a reconnect attempt whose client vanished after the TCP handshake (its reset
    /// or FIN lost) leaves a connection that never sends a request, or stops inside the request headers. Kestrel's
    /// defaults held those for 130 s (keep-alive timeout) and 30 s (request-headers timeout); <c>lifeline serve</c>
    /// closes them after its handshake timeout (here 1 s; Kestrel checks once a second).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Serve_ClosesAConnectionThatNeverCompletesItsRequest_AfterTheHandshakeTimeout(bool partialHeaders)
    {
        await using var app = await StartAsync(["--port", "0", "--handshake-timeout", "1s"]);
        var uri = BaseUri(app);
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port);
        var stream = tcp.GetStream();
        if (partialHeaders)
        {
            await stream.WriteAsync("GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"u8.ToArray());
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var buffer = new byte[1024];
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(15)); // Kestrel's defaults: 130 s and 30 s
        int read;
        do
        {
            read = await stream.ReadAsync(buffer, limit.Token); // a 408 response may come first; then the end of the stream
        }
        while (read > 0);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"closed after {clock.Elapsed}");
    }

    [Fact]
    public void Serve_BoundsKestrelsKeepAliveAndRequestHeadersTimeoutsByTheHandshakeTimeout()
    {
        var app = ServeCommand.BuildApp(["--port", "0", "--handshake-timeout", "7s"]).App;
        try
        {
            var limits = app.Services.GetRequiredService<IOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>>().Value.Limits;
            Assert.Equal(TimeSpan.FromSeconds(7), limits.KeepAliveTimeout);
            Assert.Equal(TimeSpan.FromSeconds(7), limits.RequestHeadersTimeout);
        }
        finally
        {
            ((IDisposable)app).Dispose();
        }
    }

    internal static Uri BaseUri(WebApplication app) => new(ServeHost.ListeningUrls(app).Single());

    internal static Uri WsUri(WebApplication app, string path) => new("ws" + ServeHost.ListeningUrls(app).Single()[4..] + path);

    private static async Task<WebApplication> StartAsync(string[] args)
    {
        var app = ServeCommand.BuildApp(args).App;
        await app.StartAsync();
        return app;
    }
}
