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

        var (client, _) = await WsTestClient.ConnectAsync(WsUri(app, "/ws"), null);
        await using (client)
        {
            using var one = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
            Assert.Equal("""{"status":"ok","connections":1}""", await one.Content.ReadAsStringAsync());

            await app.Services.GetRequiredService<LifelineServer>().DrainAsync();
            using var draining = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, draining.StatusCode);
            Assert.Equal("""{"status":"draining"}""", await draining.Content.ReadAsStringAsync());
            var (status, reason) = await client.Closed.WaitAsync(WsTestClient.Timeout);
            Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable, status);
            Assert.StartsWith("retry_after_ms=", reason, StringComparison.Ordinal);
        }
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
        var (client, welcome) = await WsTestClient.ConnectAsync(WsUri(app, "/live"), "zoe");
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
        var (client, welcome) = await WsTestClient.ConnectAsync(WsUri(app, "/ws"), "mallory");
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

    internal static Uri BaseUri(WebApplication app) => new(ServeHost.ListeningUrls(app).Single());

    internal static Uri WsUri(WebApplication app, string path) => new("ws" + ServeHost.ListeningUrls(app).Single()[4..] + path);

    private static async Task<WebApplication> StartAsync(string[] args)
    {
        var app = ServeCommand.BuildApp(args).App;
        await app.StartAsync();
        return app;
    }
}
