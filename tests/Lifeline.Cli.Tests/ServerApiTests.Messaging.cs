using System.Net;
using System.Text;
using System.Text.Json;

namespace Lifeline.Cli.Tests;

/// <summary>
/// The second part of the server API (issue 19): the conditional publish (<c>if</c> -> 409 with the channel's position),
/// <c>POST /api/emit</c> (204; an <c>event</c> with <c>"user":null</c>) and <c>POST /api/send</c> (<c>{"delivered":N}</c>),
/// every status of each against the real serve app.
/// </summary>
public sealed partial class ServerApiTests
{
    [Fact]
    public async Task ConditionalPublish_AtThePosition_Applies_AndAStaleOneIs409WithTheCurrentPosition()
    {
        var (client, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(_app, "/ws"), "ivy");
        await using (client)
        {
            await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room:cas" });
            await client.ReceiveTypeAsync("subscribed");
            var (_, first) = await PostAsync("/api/publish", """{"channel":"room:cas","patch":{"items":["a"]}}""");
            var epoch = first.GetProperty("epoch").GetString()!;
            await client.ReceiveTypeAsync("delta");

            // Read at offset 1, write at offset 1: applied.
            var (status, second) = await PostAsync("/api/publish", $$$"""{"channel":"room:cas","patch":{"items":["a","b"]},"if":{"epoch":"{{{epoch}}}","offset":1}}""");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(2, second.GetProperty("offset").GetInt64());
            Assert.Equal(2, (await client.ReceiveTypeAsync("delta")).GetProperty("offset").GetInt64());

            // A writer that also read at offset 1 loses: 409, the current position, nothing applied, nothing sent.
            using var response = await _http.PostAsync(
                new Uri("/api/publish", UriKind.Relative),
                new StringContent($$$"""{"channel":"room:cas","patch":{"items":["a","c"]},"if":{"epoch":"{{{epoch}}}","offset":1}}""", Encoding.UTF8, "application/json"));
            var problem = await AssertProblemAsync(response, HttpStatusCode.Conflict, "conflict", "");
            Assert.Equal(epoch, problem.GetProperty("epoch").GetString());
            Assert.Equal(2, problem.GetProperty("offset").GetInt64());

            // Another epoch conflicts too, and so does a position from the future.
            foreach (var condition in new[] { """{"epoch":"other","offset":2}""", $$"""{"epoch":"{{epoch}}","offset":9}""" })
            {
                using var stale = await _http.PostAsync(
                    new Uri("/api/publish", UriKind.Relative),
                    new StringContent($$"""{"channel":"room:cas","patch":{"x":1},"if":{{condition}}}""", Encoding.UTF8, "application/json"));
                var again = await AssertProblemAsync(stale, HttpStatusCode.Conflict, "conflict", "");
                Assert.Equal(2, again.GetProperty("offset").GetInt64());
            }

            var (_, channel) = await GetAsync("/api/channels/room:cas");
            Assert.Equal("""{"items":["a","b"]}""", channel.GetProperty("state").GetRawText());
            Assert.Equal(2, channel.GetProperty("offset").GetInt64());

            // The subscriber got no delta for the refused publishes: the next one it sees is offset 3.
            await PostAsync("/api/publish", """{"channel":"room:cas","patch":{"done":true}}""");
            Assert.Equal(3, (await client.ReceiveTypeAsync("delta")).GetProperty("offset").GetInt64());
        }
    }

    [Fact]
    public async Task ConditionalPublish_OnAFreshChannel_AtOffsetZero_OfAnyEpochConflictsWithItsPosition()
    {
        // A channel nobody published to is at offset 0 of an epoch the engine chose; read it with a 409 and retry.
        using var response = await _http.PostAsync(
            new Uri("/api/publish", UriKind.Relative),
            new StringContent("""{"channel":"room:fresh","patch":{"a":1},"if":{"epoch":"guess","offset":0}}""", Encoding.UTF8, "application/json"));
        var problem = await AssertProblemAsync(response, HttpStatusCode.Conflict, "conflict", "");
        var epoch = problem.GetProperty("epoch").GetString();
        Assert.Equal(0, problem.GetProperty("offset").GetInt64());

        var (status, body) = await PostAsync("/api/publish", $$$"""{"channel":"room:fresh","patch":{"a":1},"if":{"epoch":"{{{epoch}}}","offset":0}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, body.GetProperty("offset").GetInt64());
    }

    [Fact]
    public async Task ConditionalPublish_WithAKeyAlreadyApplied_RepeatsItsFirstResult()
    {
        var (_, first) = await PostAsync("/api/publish", """{"channel":"room:cas-key","patch":{"a":1},"key":"k1"}""");
        await PostAsync("/api/publish", """{"channel":"room:cas-key","patch":{"b":1}}""");

        var (status, again) = await PostAsync("/api/publish", $$$"""{"channel":"room:cas-key","patch":{"a":1},"key":"k1","if":{"epoch":"{{{first.GetProperty("epoch").GetString()}}}","offset":0}}""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(again.GetProperty("duplicate").GetBoolean());
        Assert.Equal(1, again.GetProperty("offset").GetInt64());
    }

    [Theory]
    [InlineData("""{"channel":"room:1","patch":{"a":1},"if":"e1:3"}""", "'if' must be {\"epoch\": string, \"offset\": non-negative integer below 2^53} (was string \"e1:3\")")]
    [InlineData("""{"channel":"room:1","patch":{"a":1},"if":[1]}""", "(was array [1])")]
    [InlineData("""{"channel":"room:1","patch":{"a":1},"if":{"offset":1}}""", "(was object {\"offset\":1})")]
    [InlineData("""{"channel":"room:1","patch":{"a":1},"if":{"epoch":"e1"}}""", "(was object")]
    [InlineData("""{"channel":"room:1","patch":{"a":1},"if":{"epoch":7,"offset":1}}""", "(was object")]
    [InlineData("""{"channel":"room:1","patch":{"a":1},"if":{"epoch":"e1","offset":"1"}}""", "(was object")]
    [InlineData("""{"channel":"room:1","patch":{"a":1},"if":{"epoch":"e1","offset":-1}}""", "(was object")]
    [InlineData("""{"channel":"room:1","patch":{"a":1},"if":{"epoch":"e1","offset":1.5}}""", "(was object")]
    [InlineData("""{"channel":"room:1","patch":{"a":1},"if":{"epoch":"e1","offset":9007199254740992}}""", "(was object")]
    public async Task BadIf_Is400_AndNothingIsPublished(string json, string detail)
    {
        using var response = await _http.PostAsync(new Uri("/api/publish", UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_field", detail);
        var (status, _) = await GetAsync("/api/channels/room:1");
        Assert.Equal(HttpStatusCode.NotFound, status);
    }

    [Fact]
    public async Task IfNull_IsAnUnconditionalPublish()
    {
        var (status, body) = await PostAsync("/api/publish", """{"channel":"room:ifnull","patch":{"a":1},"if":null}""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, body.GetProperty("offset").GetInt64());
    }

    [Fact]
    public async Task Emit_ReachesEverySubscriberAsAnEventWithUserNull_AndStoresNothing()
    {
        var (jack, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(_app, "/ws"), "jack");
        var (kim, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(_app, "/ws"), "kim");
        await using (jack)
        await using (kim)
        {
            foreach (var client in new[] { jack, kim })
            {
                await client.SendJsonAsync(new { type = "subscribe", id = 1, channel = "room:emit" });
                await client.ReceiveTypeAsync("subscribed");
            }

            using var response = await _http.PostAsync(
                new Uri("/api/emit", UriKind.Relative),
                new StringContent("""{"channel":"room:emit","data":{"cursor":[10,20]},"unknown":1}""", Encoding.UTF8, "application/json"));

            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            Assert.Equal(string.Empty, await response.Content.ReadAsStringAsync());
            foreach (var client in new[] { jack, kim })
            {
                var e = await client.ReceiveTypeAsync("event");
                Assert.Equal("room:emit", e.GetProperty("channel").GetString());
                Assert.Equal(JsonValueKind.Null, e.GetProperty("user").ValueKind);
                Assert.Equal("""{"cursor":[10,20]}""", e.GetProperty("data").GetRawText());
                Assert.True(e.GetProperty("ts").GetInt64() > 0);
            }

            // Any JSON value, null included.
            foreach (var data in new[] { "null", "\"typing\"", "3", "[true]" })
            {
                var (status, _) = await PostAsync("/api/emit", $$"""{"channel":"room:emit","data":{{data}}}""");
                Assert.Equal(HttpStatusCode.NoContent, status);
                Assert.Equal(data, (await jack.ReceiveTypeAsync("event")).GetProperty("data").GetRawText());
            }

            // Nothing stored: the channel has no state.
            var (channelStatus, _) = await GetAsync("/api/channels/room:emit");
            Assert.Equal(HttpStatusCode.NotFound, channelStatus);
        }
    }

    [Fact]
    public async Task Emit_ToAChannelNobodySubscribed_Is204()
    {
        var (status, _) = await PostAsync("/api/emit", """{"channel":"room:empty","data":1}""");

        Assert.Equal(HttpStatusCode.NoContent, status);
    }

    [Fact]
    public async Task Send_ReachesEveryConnectionOfTheUserAsAMessage_AndCountsThem()
    {
        var (lea1, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(_app, "/ws"), "lea");
        var (lea2, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(_app, "/ws"), "lea");
        var (max, _) = await RawClient.ConnectLiveAsync(ServeAppTests.WsUri(_app, "/ws"), "max");
        await using (lea1)
        await using (lea2)
        await using (max)
        {
            var (status, body) = await PostAsync("/api/send", """{"user":"lea","data":{"text":"your export is ready"}}""");

            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("""{"delivered":2}""", body.GetRawText());
            foreach (var client in new[] { lea1, lea2 })
            {
                var message = await client.ReceiveTypeAsync("message");
                Assert.Equal("""{"text":"your export is ready"}""", message.GetProperty("data").GetRawText());
                Assert.True(message.GetProperty("ts").GetInt64() > 0);
            }

            // Only lea's: max's next message is the one sent to max (data null is a value).
            var (_, toMax) = await PostAsync("/api/send", """{"user":"max","data":null}""");
            Assert.Equal(1, toMax.GetProperty("delivered").GetInt32());
            var received = await max.ReceiveTypeAsync("message");
            Assert.Equal(JsonValueKind.Null, received.GetProperty("data").ValueKind);
        }
    }

    [Fact]
    public async Task Send_ToAUserWithNoConnection_Is200WithDeliveredZero()
    {
        var (status, body) = await PostAsync("/api/send", """{"user":"nobody-here","data":1}""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("""{"delivered":0}""", body.GetRawText());
    }

    [Theory]
    [InlineData("/api/emit", """{"data":1}""", "invalid_field", "'channel' is required (a string)")]
    [InlineData("/api/emit", """{"channel":["room:1"],"data":1}""", "invalid_field", "'channel' must be a string (was array)")]
    [InlineData("/api/emit", """{"channel":"room:1"}""", "invalid_field", "'data' is required (any JSON value)")]
    [InlineData("/api/emit", """{"channel":"room one","data":1}""", "invalid_channel", "")]
    [InlineData("/api/emit", """{"channel":"","data":1}""", "invalid_channel", "")]
    [InlineData("/api/emit", "[]", "invalid_json", "the body must be a JSON object (was array)")]
    [InlineData("/api/emit", """{"channel":"room:1","data":""", "invalid_json", "the body is not valid JSON")]
    [InlineData("/api/send", """{"data":1}""", "invalid_field", "'user' is required (a string)")]
    [InlineData("/api/send", """{"user":7,"data":1}""", "invalid_field", "'user' must be a string (was number)")]
    [InlineData("/api/send", """{"user":"","data":1}""", "invalid_field", "'user' must not be empty")]
    [InlineData("/api/send", """{"user":"u"}""", "invalid_field", "'data' is required (any JSON value)")]
    [InlineData("/api/send", "\"u\"", "invalid_json", "the body must be a JSON object (was string)")]
    [InlineData("/api/send", "{", "invalid_json", "the body is not valid JSON")]
    public async Task BadEmitOrSendBody_Is400_NamingTheField(string path, string json, string code, string detail)
    {
        using var response = await _http.PostAsync(new Uri(path, UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, code, detail);
    }

    [Fact]
    public async Task EmitOrSend_DataNestedDeeperThanMaxJsonDepthMinusOne_Is400LimitExceeded()
    {
        // 32 levels inside data: the body (33) is within what the API parses, the data over what a client may send.
        var deep = new string('[', 32) + new string(']', 32);
        foreach (var (path, body) in new[] { ("/api/emit", $$"""{"channel":"room:1","data":{{deep}}}"""), ("/api/send", $$"""{"user":"u","data":{{deep}}}""") })
        {
            using var response = await _http.PostAsync(new Uri(path, UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));

            await AssertProblemAsync(response, HttpStatusCode.BadRequest, "limit_exceeded", "data is nested deeper than 31 levels");
        }
    }

    [Theory]
    [InlineData("/api/emit", """{"channel":"room:1","data":"DATA"}""")]
    [InlineData("/api/send", """{"user":"u","data":"DATA"}""")]
    public async Task EmitOrSend_DataOverMaxPatchSize_Is413_AndABodyOver1MiBToo(string path, string template)
    {
        var big = template.Replace("DATA", new string('x', 40 * 1024), StringComparison.Ordinal);
        using (var response = await _http.PostAsync(new Uri(path, UriKind.Relative), new StringContent(big, Encoding.UTF8, "application/json")))
        {
            await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "too_large", "'data' is larger than 32768 bytes (MaxPatchSize)");
        }

        var huge = template.Replace("DATA", new string('x', 1024 * 1024), StringComparison.Ordinal);
        using (var response = await _http.PostAsync(new Uri(path, UriKind.Relative), new StringContent(huge, Encoding.UTF8, "application/json")))
        {
            await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "too_large", "the body is larger than 1048576 bytes");
        }
    }
}
