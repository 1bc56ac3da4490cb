using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Lifeline.Cli.Commands;
using Lifeline.Cli.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;

namespace Lifeline.Cli.Tests;

/// <summary>
/// The server API on two <c>lifeline serve --redis</c> nodes sharing one real redis-server: an emit and a send through
/// node A's API reach the connections on node B, and a conditional publish on A conflicts with a publish made on B.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class ServeRedisApiTests(RedisFixture redis) : IDisposable
{
    private const string Key = "redis-api-key_0123";
    private readonly string _dir = Directory.CreateTempSubdirectory("lifeline-redis-api-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task EmitAndSendOnNodeA_ReachNodeB_AndAConditionalPublishSeesNodeBsPublish()
    {
        var keyFile = Path.Combine(_dir, "keys.txt");
        await File.WriteAllTextAsync(keyFile, Key);
        await using var nodeA = await StartNodeAsync(keyFile);
        await using var nodeB = await StartNodeAsync(keyFile);
        using var apiA = Api(nodeA);
        using var apiB = Api(nodeB);
        var channel = "room:" + Guid.NewGuid().ToString("N");
        var user = "u" + Guid.NewGuid().ToString("N")[..8];

        var (onB, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(nodeB, "/ws"), user);
        await using (onB)
        {
            await onB.SendJsonAsync(new { type = "subscribe", id = 1, channel });
            await onB.ReceiveTypeAsync("subscribed");

            using (var emitted = await PostAsync(apiA, "/api/emit", $$$"""{"channel":"{{{channel}}}","data":{"cursor":[1,2]}}"""))
            {
                Assert.Equal(HttpStatusCode.NoContent, emitted.StatusCode);
            }

            var ev = await onB.ReceiveTypeAsync("event");
            Assert.Equal(JsonValueKind.Null, ev.GetProperty("user").ValueKind);
            Assert.Equal("""{"cursor":[1,2]}""", ev.GetProperty("data").GetRawText());

            using (var sent = await PostAsync(apiA, "/api/send", $$"""{"user":"{{user}}","data":"hello across nodes"}"""))
            {
                Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
                Assert.Equal("""{"delivered":1}""", await sent.Content.ReadAsStringAsync());
            }

            Assert.Equal("\"hello across nodes\"", (await onB.ReceiveTypeAsync("message")).GetProperty("data").GetRawText());

            // B publishes; A's conditional publish made with the position before it conflicts and names B's offset.
            using var first = await PostAsync(apiB, "/api/publish", $$$"""{"channel":"{{{channel}}}","patch":{"by":"b"}}""");
            using var firstBody = JsonDocument.Parse(await first.Content.ReadAsStringAsync());
            var epoch = firstBody.RootElement.GetProperty("epoch").GetString();
            using var conflict = await PostAsync(apiA, "/api/publish", $$$"""{"channel":"{{{channel}}}","patch":{"by":"a"},"if":{"epoch":"{{{epoch}}}","offset":0}}""");
            var text = await conflict.Content.ReadAsStringAsync();
            Assert.True(conflict.StatusCode == HttpStatusCode.Conflict, $"{conflict.StatusCode}: {text}");
            using var problem = JsonDocument.Parse(text);
            Assert.Equal(epoch, problem.RootElement.GetProperty("epoch").GetString());
            Assert.Equal(1, problem.RootElement.GetProperty("offset").GetInt64());
        }
    }

    private async Task<WebApplication> StartNodeAsync(string keyFile)
    {
        var app = ServeCommand.BuildApp(["--port", "0", "--auth", "dev", "--redis", redis.Server.Configuration, "--api-key-file", keyFile], _dir).App;
        await app.StartAsync();
        return app;
    }

    private static HttpClient Api(WebApplication node)
    {
        var http = new HttpClient { BaseAddress = ServeAppTests.BaseUri(node) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        return http;
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, string path, string json) =>
        http.PostAsync(new Uri(path, UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));
}
