using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Lifeline.Cli.Api;
using Lifeline.Cli.Commands;
using Lifeline.Cli.Serve;
using Lifeline.Cli.Tests.Infrastructure;
using Lifeline.Client;
using Microsoft.AspNetCore.Builder;

namespace Lifeline.Cli.Tests;

/// <summary>
/// The server API of <c>lifeline serve</c> (issue 19), in-process on a real Kestrel port: every endpoint, every status,
/// a publish reaching a subscribed RawClient and the .NET client, disconnect closing the user's connections.
/// </summary>
public sealed partial class ServerApiTests : IAsyncLifetime
{
    private const string Key = "k3y-0f-the-backend_0123456789";
    private readonly string _dir = Directory.CreateTempSubdirectory("lifeline-api-test-").FullName;
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        var keyFile = WriteFile("keys.txt", $"\n  other-key  \n\n{Key}\n");
        _app = ServeCommand.BuildApp(["--port", "0", "--auth", "dev", "--api-key-file", keyFile], _dir).App;
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = ServeAppTests.BaseUri(_app) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Publish_ReachesASubscribedRawClient_AndTheChannelReadsBack()
    {
        var (client, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(_app, "/ws"), "alice");
        await using (client)
        {
            await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room:api" });
            await client.ReceiveTypeAsync("subscribed");

            var (status, body) = await PostAsync("/api/publish", """{"channel":"room:api","patch":{"title":"hi","n":1},"unknown":"ignored"}""");

            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(1, body.GetProperty("offset").GetInt64());
            Assert.False(string.IsNullOrEmpty(body.GetProperty("epoch").GetString()));
            Assert.False(body.GetProperty("duplicate").GetBoolean());
            var delta = await client.ReceiveTypeAsync("delta");
            Assert.Equal("room:api", delta.GetProperty("channel").GetString());
            Assert.Equal(1, delta.GetProperty("offset").GetInt64());
            Assert.Equal("hi", delta.GetProperty("patch").GetProperty("title").GetString());

            var (readStatus, channel) = await GetAsync("/api/channels/room:api");
            Assert.Equal(HttpStatusCode.OK, readStatus);
            Assert.Equal(body.GetProperty("epoch").GetString(), channel.GetProperty("epoch").GetString());
            Assert.Equal(1, channel.GetProperty("offset").GetInt64());
            Assert.Equal("""{"title":"hi","n":1}""", channel.GetProperty("state").GetRawText());
        }
    }

    [Fact]
    public async Task Publish_WithAKey_IsAppliedOnce()
    {
        var (_, first) = await PostAsync("/api/publish", """{"channel":"room:key","patch":{"a":1},"key":"order-17"}""");
        var (status, again) = await PostAsync("/api/publish", """{"channel":"room:key","patch":{"a":2},"key":"order-17"}""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(again.GetProperty("duplicate").GetBoolean());
        Assert.Equal(first.GetProperty("offset").GetInt64(), again.GetProperty("offset").GetInt64());
        var (_, channel) = await GetAsync("/api/channels/room:key");
        Assert.Equal("""{"a":1}""", channel.GetProperty("state").GetRawText());
    }

    [Fact]
    public async Task Publish_ReachesTheDotNetClient()
    {
        await using var client = new LifelineClient(ServeAppTests.WsUri(_app, "/ws"), new LifelineClientOptions { Token = "bob" });
        await client.ConnectAsync().DefaultTimeout();
        var channel = client.Channel("room:dotnet");
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.Changed += (_, e) =>
        {
            if (!e.IsSnapshot && channel.GetState().TryGetProperty("from", out var from))
            {
                received.TrySetResult(from.GetString()!);
            }
        };
        await channel.SubscribeAsync().DefaultTimeout();

        var (status, _) = await PostAsync("/api/publish", """{"channel":"room:dotnet","patch":{"from":"backend"}}""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("backend", await received.Task.WaitAsync(TestTimeouts.Default));
    }

    [Fact]
    public async Task Disconnect_ClosesEveryConnectionOfTheUser_AndNoOneElses()
    {
        var (carol1, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(_app, "/ws"), "carol");
        var (carol2, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(_app, "/ws"), "carol");
        var (dave, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(_app, "/ws"), "dave");
        await using (carol1)
        await using (carol2)
        await using (dave)
        {
            var (status, body) = await PostAsync("/api/disconnect", """{"user":"carol","code":4100}""");

            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(2, body.GetProperty("closed").GetInt32());
            Assert.Equal(4100, (int)(await carol1.Closed.WaitAsync(TestTimeouts.Default)).Status!.Value);
            Assert.Equal(4100, (int)(await carol2.Closed.WaitAsync(TestTimeouts.Default)).Status!.Value);
            Assert.False(dave.Closed.IsCompleted);

            var (defaultStatus, none) = await PostAsync("/api/disconnect", """{"user":"dave"}""");
            Assert.Equal(HttpStatusCode.OK, defaultStatus);
            Assert.Equal(1, none.GetProperty("closed").GetInt32());
            Assert.Equal(WebSocketCloseStatusPolicyViolation, (int)(await dave.Closed.WaitAsync(TestTimeouts.Default)).Status!.Value);

            var (_, nobody) = await PostAsync("/api/disconnect", """{"user":"nobody"}""");
            Assert.Equal(0, nobody.GetProperty("closed").GetInt32());
        }
    }

    [Fact]
    public async Task Presence_ListsTheSubscribedUsers_AndAnEmptyChannelHasNone()
    {
        var (erin, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(_app, "/ws"), "erin");
        await using (erin)
        {
            await erin.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room:presence" });
            await erin.ReceiveTypeAsync("subscribed");

            var (status, body) = await GetAsync("/api/presence/room:presence");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("""{"members":["erin"]}""", body.GetRawText());

            var (_, empty) = await GetAsync("/api/presence/room:nobody");
            Assert.Equal("""{"members":[]}""", empty.GetRawText());
        }
    }

    [Fact]
    public async Task UnknownChannel_Is404_WithAProblemDocument()
    {
        using var response = await _http.GetAsync(new Uri("/api/channels/room:never", UriKind.Relative));

        await AssertProblemAsync(response, HttpStatusCode.NotFound, "not_found", "channel 'room:never' has no state");
    }

    [Theory]
    [InlineData("")]
    [InlineData("Bearer")]
    [InlineData("Bearer wrong-key")]
    [InlineData("Basic " + Key)]
    [InlineData("Bearer " + Key + "x")]
    public async Task MissingOrWrongKey_Is401_WithWwwAuthenticateBearer_OnEveryEndpoint(string authorization)
    {
        foreach (var (method, path) in new[] { ("POST", "/api/publish"), ("POST", "/api/emit"), ("POST", "/api/send"), ("POST", "/api/disconnect"), ("GET", "/api/channels/room:1"), ("GET", "/api/presence/room:1") })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (method == "POST")
            {
                request.Content = new StringContent("""{"channel":"room:1","patch":{"a":1},"user":"x","data":1}""", Encoding.UTF8, "application/json");
            }

            if (authorization.Length > 0)
            {
                request.Headers.TryAddWithoutValidation("Authorization", authorization);
            }

            using var anonymous = new HttpClient { BaseAddress = _http.BaseAddress };
            using var response = await anonymous.SendAsync(request);

            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        // Nothing was published by any of them.
        var (status, _) = await GetAsync("/api/channels/room:1");
        Assert.Equal(HttpStatusCode.NotFound, status);
    }

    [Fact]
    public async Task TheSecondKeyOfTheFile_Works_TrimmedOfItsSpaces()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/presence/room:1");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer other-key");
        using var anonymous = new HttpClient { BaseAddress = _http.BaseAddress };
        using var response = await anonymous.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("/api/publish", """{"channel":"room:1","patch":{"a":1}""", "invalid_json", "the body is not valid JSON")]
    [InlineData("/api/publish", "not json", "invalid_json", "the body is not valid JSON")]
    [InlineData("/api/publish", "", "invalid_json", "the body is not valid JSON")]
    [InlineData("/api/publish", "[1,2]", "invalid_json", "the body must be a JSON object (was array)")]
    [InlineData("/api/publish", """{"patch":{"a":1}}""", "invalid_field", "'channel' is required (a string)")]
    [InlineData("/api/publish", """{"channel":7,"patch":{"a":1}}""", "invalid_field", "'channel' must be a string (was number)")]
    [InlineData("/api/publish", """{"channel":"room:1"}""", "invalid_field", "'patch' is required (a JSON object)")]
    [InlineData("/api/publish", """{"channel":"room:1","patch":[1]}""", "invalid_field", "'patch' must be a JSON object (was array)")]
    [InlineData("/api/publish", """{"channel":"room:1","patch":"x"}""", "invalid_field", "'patch' must be a JSON object (was string)")]
    [InlineData("/api/publish", """{"channel":"room:1","patch":{},"key":5}""", "invalid_field", "'key' must be a string (was number)")]
    [InlineData("/api/publish", """{"channel":"room:1","patch":{},"key":""}""", "invalid_field", "'key' must be 1 to 128 characters")]
    [InlineData("/api/publish", """{"channel":"room one","patch":{"a":1}}""", "invalid_channel", "")]
    [InlineData("/api/publish", """{"channel":"","patch":{"a":1}}""", "invalid_channel", "")]
    [InlineData("/api/publish", """{"channel":"röom","patch":{"a":1}}""", "invalid_channel", "")]
    [InlineData("/api/disconnect", """{}""", "invalid_field", "'user' is required (a string)")]
    [InlineData("/api/disconnect", """{"user":["a"]}""", "invalid_field", "'user' must be a string (was array)")]
    [InlineData("/api/disconnect", """{"user":""}""", "invalid_field", "'user' must not be empty")]
    [InlineData("/api/disconnect", """{"user":"a","code":"4000"}""", "invalid_field", "'code' must be a whole number (was string \"4000\")")]
    [InlineData("/api/disconnect", """{"user":"a","code":1.5}""", "invalid_field", "'code' must be a whole number (was number 1.5)")]
    [InlineData("/api/disconnect", """{"user":"a","code":1006}""", "invalid_field", "'code' must be 1000, 1001, 1008, 1011, 1013 or 4000-4999 (was 1006)")]
    [InlineData("/api/disconnect", """{"user":"a","code":5000}""", "invalid_field", "'code' must be 1000, 1001, 1008, 1011, 1013 or 4000-4999 (was 5000)")]
    public async Task BadBody_Is400_WithAProblemDocumentNamingTheField(string path, string json, string code, string detail)
    {
        using var response = await _http.PostAsync(new Uri(path, UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, code, detail);
    }

    [Theory]
    [InlineData("/api/channels/room%20one")]
    [InlineData("/api/presence/r%C3%B6om")]
    public async Task BadChannelNameInThePath_Is400(string path)
    {
        using var response = await _http.GetAsync(new Uri(path, UriKind.Relative));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_channel", "");
    }

    [Fact]
    public async Task HugeBody_Is413_ByContentLength_AndChunked_AndAPatchOverMaxPatchSizeToo()
    {
        var huge = """{"channel":"room:1","patch":{"a":""" + "\"" + new string('x', ApiRequestBody.MaxBodySize) + "\"}}";
        using (var response = await _http.PostAsync(new Uri("/api/publish", UriKind.Relative), new StringContent(huge, Encoding.UTF8, "application/json")))
        {
            await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "too_large", "the body is larger than 1048576 bytes");
        }

        using (var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(huge))))
        {
            chunked.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/publish") { Content = chunked };
            request.Headers.TransferEncodingChunked = true;
            using var response = await _http.SendAsync(request);
            await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "too_large", "the body is larger than 1048576 bytes");
        }

        var big = """{"channel":"room:1","patch":{"a":""" + "\"" + new string('x', 40 * 1024) + "\"}}";
        using (var response = await _http.PostAsync(new Uri("/api/publish", UriKind.Relative), new StringContent(big, Encoding.UTF8, "application/json")))
        {
            await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "too_large", "'patch' is larger than 32768 bytes (MaxPatchSize)");
        }
    }

    [Fact]
    public async Task NoCorsHeaders_EvenForABrowserOrigin()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/publish")
        {
            Content = new StringContent("""{"channel":"room:cors","patch":{"a":1}}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Origin", "http://localhost:5173");
        using var response = await _http.SendAsync(request);
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/api/publish");
        preflight.Headers.Add("Origin", "http://localhost:5173");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        using var preflightResponse = await _http.SendAsync(preflight);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(response.Headers, h => h.Key.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(preflightResponse.Headers, h => h.Key.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase));
        Assert.NotEqual(HttpStatusCode.OK, preflightResponse.StatusCode);
        Assert.NotEqual(HttpStatusCode.NoContent, preflightResponse.StatusCode);
    }

    [Fact]
    public async Task UnknownApiPath_Is404_AndTheApiIsNotUnderTheWebSocketPath()
    {
        using var unknown = await _http.GetAsync(new Uri("/api/nothing", UriKind.Relative));
        using var underWs = await _http.PostAsync(new Uri("/ws/api/publish", UriKind.Relative), new StringContent("""{"channel":"room:1","patch":{"a":1}}"""));

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, underWs.StatusCode);
    }

    [Fact]
    public async Task OpenApiDocument_ListsEveryEndpoint_WithTheBearerScheme()
    {
        using var anonymous = new HttpClient { BaseAddress = _http.BaseAddress };
        using var response = await anonymous.GetAsync(new Uri("/api/openapi.json", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = document.RootElement;
        Assert.StartsWith("3.", root.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        var paths = root.GetProperty("paths").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateObject().Select(o => o.Name).ToList());
        Assert.Equal(
            ["/api/channels/{name}", "/api/disconnect", "/api/emit", "/api/presence/{name}", "/api/publish", "/api/send"],
            paths.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["post"], paths["/api/publish"]);
        Assert.Equal(["post"], paths["/api/emit"]);
        Assert.Equal(["post"], paths["/api/send"]);
        Assert.Equal(["post"], paths["/api/disconnect"]);
        Assert.Equal(["get"], paths["/api/channels/{name}"]);
        Assert.Equal(["get"], paths["/api/presence/{name}"]);
        var publish = root.GetProperty("paths").GetProperty("/api/publish").GetProperty("post");
        Assert.True(publish.GetProperty("requestBody").GetProperty("content").TryGetProperty("application/json", out _));
        Assert.Equal(
            ["200", "400", "401", "403", "409", "413"],
            publish.GetProperty("responses").EnumerateObject().Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.Equal(["204", "400", "401", "413"], Responses(root, "/api/emit"));
        Assert.Equal(["200", "400", "401", "413"], Responses(root, "/api/send"));
        foreach (var (path, member) in new[] { ("/api/emit", "data"), ("/api/send", "user"), ("/api/publish", "if") })
        {
            var schema = root.GetProperty("paths").GetProperty(path).GetProperty("post").GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema");
            var properties = schema.TryGetProperty("$ref", out var reference)
                ? root.GetProperty("components").GetProperty("schemas").GetProperty(reference.GetString()!.Split('/')[^1]).GetProperty("properties")
                : schema.GetProperty("properties");
            Assert.True(properties.TryGetProperty(member, out _), $"{path}: no '{member}' in its request schema");
        }
        Assert.Equal("bearer", root.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer").GetProperty("scheme").GetString());
    }

    [Fact]
    public async Task WithoutAKeyFile_TheApiIsNotMapped()
    {
        await using var app = ServeCommand.BuildApp(["--port", "0"], _dir).App;
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = ServeAppTests.BaseUri(app) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);

        foreach (var path in new[] { "/api/openapi.json", "/api/channels/room:1", "/api/presence/room:1" })
        {
            using var response = await http.GetAsync(new Uri(path, UriKind.Relative));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        using var publish = await http.PostAsync(new Uri("/api/publish", UriKind.Relative), new StringContent("""{"channel":"room:1","patch":{"a":1}}"""));
        Assert.Equal(HttpStatusCode.NotFound, publish.StatusCode);
    }

    [Fact]
    public async Task RedisUnreachable_PublishEmitAndSendAre503Unavailable()
    {
        var keyFile = WriteFile("redis-keys.txt", Key);
        await using var app = ServeCommand.BuildApp(["--port", "0", "--api-key-file", keyFile, "--redis", $"127.0.0.1:{FreePorts.Next()},connectTimeout=200"], _dir).App;
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = ServeAppTests.BaseUri(app) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);

        foreach (var (path, body) in new[] { ("/api/publish", """{"channel":"room:1","patch":{"a":1}}"""), ("/api/emit", """{"channel":"room:1","data":1}"""), ("/api/send", """{"user":"u","data":1}""") })
        {
            using var response = await http.PostAsync(new Uri(path, UriKind.Relative), new StringContent(body));
            await AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable, "unavailable", "the engine is unavailable");
        }
    }

    [Theory]
    [InlineData("", "the file holds no key")]
    [InlineData("\n   \n\n", "the file holds no key")]
    [InlineData("good\nbad key\n", ":2: a key must not contain white space")]
    [InlineData("tab\tkey", ":1: a key must not contain white space")]
    public void BadKeyFile_IsRefusedAtStart(string text, string expected)
    {
        var file = WriteFile("bad-keys.txt", text);

        var ex = Assert.Throws<ServeSettingsException>(() => ServeCommand.BuildApp(["--port", "0", "--api-key-file", file], _dir));

        Assert.Contains($"--api-key-file {file}", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("bad key", ex.Message, StringComparison.Ordinal); // a key is never echoed
    }

    [Fact]
    public void MissingKeyFile_IsRefusedAtStart()
    {
        var missing = Path.Combine(_dir, "none.txt");

        var ex = Assert.Throws<ServeSettingsException>(() => ServeCommand.BuildApp(["--port", "0", "--api-key-file", missing], _dir));

        Assert.StartsWith($"--api-key-file {missing}: cannot read the file", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AWebSocketPathUnderApi_IsRefusedAtStart()
    {
        var file = WriteFile("k.txt", Key);

        var ex = Assert.Throws<ServeSettingsException>(() => ServeCommand.BuildApp(["--port", "0", "--api-key-file", file, "--path", "/api/ws"], _dir));

        Assert.Equal("--path /api/ws is under /api, the server API's prefix (--api-key-file): choose another WebSocket path", ex.Message);
    }

    [Fact]
    public void ApiKeyFileHelp_NamesEveryEndpointOfTheApi()
    {
        foreach (var endpoint in new[] { "POST /api/publish", "POST /api/emit", "POST /api/send", "POST /api/disconnect", "GET /api/channels/{name}", "GET /api/presence/{name}", "/api/openapi.json" })
        {
            Assert.Contains(endpoint, ServeSettingTable.ApiKeyFile.Help, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ARealServeProcess_ServesTheApi_AndRefusesAnEmptyKeyFile()
    {
        var empty = WriteFile("empty.txt", "");
        var (code, _, stderr) = await LifelineProcess.RunAsync("serve", "--port", "0", "--api-key-file", empty);
        Assert.Equal(ExitCodes.BadSettings, code);
        Assert.Contains($"lifeline serve: --api-key-file {empty}: the file holds no key", string.Join('\n', stderr), StringComparison.Ordinal);

        var keyFile = WriteFile("process-keys.txt", Key);
        await using var process = LifelineProcess.Start(["serve", "--port", "0", "--api-key-file", keyFile]);
        var port = await process.WaitForListeningPortAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        using (var unauthorized = await http.PostAsync(new Uri("/api/publish", UriKind.Relative), new StringContent("""{"channel":"room:p","patch":{"a":1}}""")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        }

        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        using var published = await http.PostAsync(new Uri("/api/publish", UriKind.Relative), new StringContent("""{"channel":"room:p","patch":{"a":1}}"""));
        Assert.Equal(HttpStatusCode.OK, published.StatusCode);
        Assert.Contains("\"offset\":1", await published.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private const int WebSocketCloseStatusPolicyViolation = 1008;

    private static List<string> Responses(JsonElement root, string path) =>
        root.GetProperty("paths").GetProperty(path).GetProperty("post").GetProperty("responses").EnumerateObject().Select(r => r.Name).Order(StringComparer.Ordinal).ToList();

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code, string detail)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"{response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(text);
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Equal(code, problem.RootElement.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("title").GetString()));
        Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("type").GetString()));
        Assert.Contains(detail, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        return problem.RootElement.Clone();
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string path, string json)
    {
        using var response = await _http.PostAsync(new Uri(path, UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(string path)
    {
        using var response = await _http.GetAsync(new Uri(path, UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private string WriteFile(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }
}
