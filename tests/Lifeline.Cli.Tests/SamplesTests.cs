using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Lifeline.Cli.Tests.Infrastructure;
using Lifeline.Client;

namespace Lifeline.Cli.Tests;

/// <summary>
/// The samples of issue 19, run as a user would: samples/EmbeddedApp as a real process on a free loopback port (sign in
/// with the cookie, connect the .NET client through it, the channel policy's answers), and samples/backend/publish.sh
/// (curl) against a real <c>lifeline serve --api-key-file</c>.
/// </summary>
public sealed partial class SamplesTests : IAsyncLifetime
{
    private const string ApiKey = "sample-backend-key_42";
    private readonly string _dir = Directory.CreateTempSubdirectory("lifeline-samples-test-").FullName;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task EmbeddedApp_SignsInWithACookie_TheClientConnectsThroughIt_AndThePolicyDecides()
    {
        Assert.True(File.Exists(TestPaths.EmbeddedAppDll), $"the sample is not built: {TestPaths.EmbeddedAppDll}");
        await using var app = ChildProcess.Start(ChildProcessStart.Dotnet(TestPaths.EmbeddedAppDll, ["--urls", "http://127.0.0.1:0"]) with
        {
            Environment = new Dictionary<string, string> { ["ASPNETCORE_ENVIRONMENT"] = "Production", ["Logging__LogLevel__Default"] = "Information" },
        });
        var line = await app.WaitForLineAsync(l => ListeningPattern().IsMatch(l), TestTimeouts.Default);
        var baseUri = new Uri($"http://127.0.0.1:{int.Parse(ListeningPattern().Match(line).Groups["port"].Value, CultureInfo.InvariantCulture)}");

        // Sign in: the app sets its cookie.
        var cookies = new CookieContainer();
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = baseUri };
        using (var bad = await http.PostAsJsonAsync("/login", new { user = "not ok" }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }

        using (var login = await http.PostAsJsonAsync("/login", new { user = "alice" }))
        {
            Assert.Equal(HttpStatusCode.NoContent, login.StatusCode);
        }

        Assert.Contains(cookies.GetCookies(baseUri), c => c.Name == "embedded.auth");
        Assert.Equal("""{"user":"alice"}""", await http.GetStringAsync(new Uri("/me", UriKind.Relative)));

        // Without the cookie the upgrade is refused: 4001 unauthorized, not retried.
        var wsUri = new Uri($"ws://{baseUri.Authority}/ws");
        await using (var anonymous = new LifelineClient(wsUri, new LifelineClientOptions { ConnectTimeout = TestTimeouts.Default }))
        {
            var refused = await Assert.ThrowsAnyAsync<LifelineException>(() => anonymous.ConnectAsync().DefaultTimeout());
            Assert.Equal(4001, (int?)refused.CloseCode);
        }

        // With it, the client is alice.
        await using var client = new LifelineClient(wsUri, new LifelineClientOptions { ConfigureWebSocket = o => o.Cookies = cookies });
        await client.ConnectAsync().DefaultTimeout();

        var room = client.Channel("room:lobby");
        await room.SubscribeAsync().DefaultTimeout();
        Assert.Equal(1, await room.PublishAsync(new JsonObject { ["topic"] = "samples" }).DefaultTimeout());
        Assert.Equal(new[] { "alice" }, await room.GetPresenceAsync().DefaultTimeout());

        var own = client.Channel("user:alice");
        Assert.Equal(1, await own.PublishAsync(new JsonObject { ["theme"] = "dark" }).DefaultTimeout());

        var others = client.Channel("user:bob");
        var forbidden = await Assert.ThrowsAsync<LifelinePublishException>(() => others.PublishAsync(new JsonObject { ["theme"] = "light" }).DefaultTimeout());
        Assert.Equal("forbidden", forbidden.ErrorCode);
        Assert.Contains("'user:bob' is not yours", forbidden.Message, StringComparison.Ordinal);
        var notAllowed = await Assert.ThrowsAnyAsync<LifelineRequestException>(() => client.Channel("secret:plans").SubscribeAsync().DefaultTimeout());
        Assert.Equal("forbidden", notAllowed.ErrorCode);

        // The application's own publish (LifelineServer.PublishAsync behind an endpoint of the app) reaches the room.
        var announced = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        room.Changed += (_, _) =>
        {
            if (room.GetState().TryGetProperty("announcement", out var text))
            {
                announced.TrySetResult(text.GetString()!);
            }
        };
        using (var announce = await http.PostAsJsonAsync("/rooms/lobby/announce", new { text = "tea at five" }))
        {
            Assert.Equal(HttpStatusCode.OK, announce.StatusCode);
        }

        Assert.Equal("tea at five", await announced.Task.WaitAsync(TestTimeouts.Default));
        Assert.Equal("alice", room.GetState().GetProperty("by").GetString());
    }

    [Fact]
    public async Task BackendPublishScript_PublishesThroughTheApi_OfARealServe_AndReportsARefusal()
    {
        var keyFile = Path.Combine(_dir, "keys.txt");
        await File.WriteAllTextAsync(keyFile, ApiKey + "\n");
        await using var serve = LifelineProcess.Start(["serve", "--port", "0", "--auth", "dev", "--api-key-file", keyFile]);
        var port = await serve.WaitForListeningPortAsync();
        var (subscriber, _) = await RawClient.ConnectLiveAsync(new Uri($"ws://127.0.0.1:{port}/ws"), "watcher");
        await using (subscriber)
        {
            await subscriber.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room:backend" });
            await subscriber.ReceiveTypeAsync("subscribed");

            var (code, stdout, stderr) = await RunScriptAsync(port, new() { ["LIFELINE_API_KEY"] = ApiKey }, "room:backend", """{"from":"publish.sh","n":1}""");

            Assert.True(code == 0, $"exit {code}: {stdout} {stderr}");
            using (var answer = JsonDocument.Parse(stdout))
            {
                Assert.Equal(1, answer.RootElement.GetProperty("offset").GetInt64());
                Assert.False(answer.RootElement.GetProperty("duplicate").GetBoolean());
            }

            var delta = await subscriber.ReceiveTypeAsync("delta");
            Assert.Equal("""{"from":"publish.sh","n":1}""", delta.GetProperty("patch").GetRawText());

            // The key from the key file and an idempotency key: the same key again is not applied twice.
            var fileEnv = new Dictionary<string, string> { ["LIFELINE_API_KEY_FILE"] = keyFile };
            var (first, firstOut, _) = await RunScriptAsync(port, fileEnv, "room:backend", """{"n":2}""", "job-7");
            var (again, againOut, _) = await RunScriptAsync(port, fileEnv, "room:backend", """{"n":3}""", "job-7");
            Assert.Equal(0, first);
            Assert.Equal(0, again);
            Assert.Contains("\"offset\":2", firstOut, StringComparison.Ordinal);
            Assert.Contains("\"duplicate\":true", againOut, StringComparison.Ordinal);

            // A wrong key: curl's 22 and the problem document.
            var (wrong, wrongOut, _) = await RunScriptAsync(port, new() { ["LIFELINE_API_KEY"] = "not-the-key" }, "room:backend", """{"n":4}""");
            Assert.Equal(22, wrong);
            Assert.Contains("\"status\":401", wrongOut, StringComparison.Ordinal);

            // A bad patch: 400 naming the field.
            var (bad, badOut, _) = await RunScriptAsync(port, new() { ["LIFELINE_API_KEY"] = ApiKey }, "room:backend", "[1]");
            Assert.Equal(22, bad);
            Assert.Contains("'patch' must be a JSON object (was array)", badOut, StringComparison.Ordinal);

            // Nothing but the first two publishes reached the channel.
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ApiKey);
            var channel = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/channels/room:backend", UriKind.Relative))).RootElement;
            Assert.Equal(2, channel.GetProperty("offset").GetInt64());
            Assert.Equal("""{"from":"publish.sh","n":2}""", channel.GetProperty("state").GetRawText());
        }
    }

    [Fact]
    public async Task BackendPublishScript_WithoutAKey_SaysSo_AndExits2()
    {
        var (code, _, stderr) = await RunScriptAsync(1, [], "room:x", "{}");

        Assert.Equal(2, code);
        Assert.Contains("set LIFELINE_API_KEY", stderr, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunScriptAsync(int port, Dictionary<string, string> environment, params string[] args)
    {
        var script = Path.Combine(TestPaths.RepositoryRoot, "samples", "backend", "publish.sh");
        environment["LIFELINE_URL"] = $"http://127.0.0.1:{port}";
        environment.TryAdd("LIFELINE_API_KEY", string.Empty);
        await using var process = ChildProcess.Start(new ChildProcessStart("/bin/sh", [script, .. args]) { Environment = environment });
        var code = await process.WaitForExitAsync(TestTimeouts.Default);
        return (code, string.Join('\n', process.Stdout), string.Join('\n', process.Stderr));
    }

    [GeneratedRegex(@"Now listening on: http://127\.0\.0\.1:(?<port>\d+)")]
    private static partial Regex ListeningPattern();
}
