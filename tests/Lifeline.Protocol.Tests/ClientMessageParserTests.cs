using System.Text;
using System.Text.Json;

namespace Lifeline.Protocol.Tests;

/// <summary>Every way a client frame can be wrong, and what the parser makes of the right ones.</summary>
public sealed class ClientMessageParserTests
{
    private static ParseResult Parse(string json, int maxDepth = ClientMessageParser.DefaultMaxDepth) =>
        ClientMessageParser.Parse(Encoding.UTF8.GetBytes(json), maxDepth);

    private static void AssertInvalid(ParseResult result, string code, string message, string? type, long? id)
    {
        Assert.False(result.IsSuccess);
        Assert.False(result.IsFatal);
        Assert.Null(result.Message);
        Assert.Equal(code, result.ErrorCode);
        Assert.Equal(message, result.ErrorMessage);
        Assert.Equal(type, result.Type);
        Assert.Equal(id, result.Id);
    }

    private static T AssertOk<T>(ParseResult result)
        where T : ClientMessage
    {
        Assert.True(result.IsSuccess, result.ErrorMessage);
        Assert.False(result.IsFatal);
        Assert.Null(result.ErrorCode);
        return Assert.IsType<T>(result.Message);
    }

    [Theory]
    [InlineData("{\"type\":\"subscribe\",\"id\":1,\"channel\":\"a\\ud800\"}")]
    [InlineData("{\"type\":\"hello\",\"v\":1,\"token\":\"\\udc00\"}")]
    [InlineData("{\"type\":\"publish\",\"id\":1,\"channel\":\"a\",\"patch\":{\"b\":\"\\ud800\"}}")]
    [InlineData("{\"type\":\"publish\",\"id\":1,\"channel\":\"a\",\"patch\":{\"b\":[{\"\\ud800\":1}]}}")]
    public void LoneSurrogateEscapes_AreFatal_NotThrown(string json)
    {
        var result = Parse(json);

        Assert.True(result.IsFatal, result.ErrorMessage);
        Assert.Contains("not valid text", result.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void NotUtf8_IsFatal()
    {
        byte[] payload = [(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)'}'];

        var result = ClientMessageParser.Parse(payload);

        Assert.True(result.IsFatal);
        Assert.False(result.IsSuccess);
        Assert.Contains("UTF-8", result.ErrorMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("{type:\"ping\"}")]
    [InlineData("{\"type\":\"ping\",}")]
    [InlineData("{\"type\":\"ping\"} {}")]
    [InlineData("nul")]
    public void NotJson_IsFatal(string payload)
    {
        var result = Parse(payload);

        Assert.True(result.IsFatal);
        Assert.StartsWith("payload is not JSON", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(ErrorCodes.InvalidMessage, result.ErrorCode);
    }

    [Theory]
    [InlineData("[{\"type\":\"ping\",\"n\":1}]")]
    [InlineData("\"ping\"")]
    [InlineData("42")]
    [InlineData("null")]
    [InlineData("true")]
    public void NotAnObject_IsFatal(string payload)
    {
        var result = Parse(payload);

        Assert.True(result.IsFatal);
        Assert.Equal("payload is not a JSON object", result.ErrorMessage);
    }

    [Fact]
    public void TooDeepNesting_IsFatal()
    {
        var deep = string.Concat(Enumerable.Repeat("{\"a\":", 40)) + "1" + new string('}', 40);
        var fits = string.Concat(Enumerable.Repeat("{\"a\":", 20)) + "1" + new string('}', 20);

        var result = Parse($$$"""{"type":"publish","id":1,"channel":"c","patch":{{{deep}}}}""");
        AssertOk<PublishMessage>(Parse($$$"""{"type":"publish","id":1,"channel":"c","patch":{{{fits}}}}"""));
        var custom = Parse($$$"""{"type":"publish","id":1,"channel":"c","patch":{{{fits}}}}""", maxDepth: 10);

        Assert.True(result.IsFatal);
        Assert.True(custom.IsFatal);
    }

    [Theory]
    [InlineData("{}", null)]
    [InlineData("{\"id\":4}", 4L)]
    [InlineData("{\"type\":5,\"id\":4}", 4L)]
    [InlineData("{\"type\":null}", null)]
    [InlineData("{\"type\":{\"name\":\"ping\"}}", null)]
    public void MissingOrNonStringType_IsInvalid_WithTheIdWhenReadable(string payload, long? id)
    {
        AssertInvalid(Parse(payload), ErrorCodes.InvalidMessage, "type must be a string", null, id);
    }

    [Fact]
    public void UnknownType_IsUnknownType_WithTypeAndId()
    {
        AssertInvalid(Parse("""{"type":"frobnicate","id":7}"""), ErrorCodes.UnknownType, "unknown message type 'frobnicate'", "frobnicate", 7);
        AssertInvalid(Parse("""{"type":"frobnicate"}"""), ErrorCodes.UnknownType, "unknown message type 'frobnicate'", "frobnicate", null);
    }

    [Fact]
    public void UnknownType_LongName_IsTruncatedInTheMessage()
    {
        var type = new string('x', 500);

        var result = Parse($$$"""{"type":"{{{type}}}"}""");

        Assert.Equal(ErrorCodes.UnknownType, result.ErrorCode);
        Assert.Equal($"unknown message type '{new string('x', 64)}...'", result.ErrorMessage);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("\"1\"")]
    [InlineData("true")]
    [InlineData("9007199254740992")]
    [InlineData("1e400")]
    public void BadId_IsInvalid_WithTheType(string id)
    {
        AssertInvalid(
            Parse($$$"""{"type":"publish","id":{{{id}}},"channel":"c","patch":{}}"""),
            ErrorCodes.InvalidMessage,
            "id must be a non-negative integer below 2^53",
            "publish",
            null);
    }

    [Fact]
    public void LargestSafeId_IsAccepted_AndNullIdMeansNone()
    {
        Assert.Equal(9007199254740991, AssertOk<PingMessage>(Parse("""{"type":"ping","n":1,"id":9007199254740991}""")).Id);
        Assert.Null(AssertOk<PingMessage>(Parse("""{"type":"ping","n":1,"id":null}""")).Id);
    }

    [Theory]
    [InlineData("""{"type":"hello"}""")]
    [InlineData("""{"type":"hello","v":"1"}""")]
    [InlineData("""{"type":"hello","v":1.5}""")]
    [InlineData("""{"type":"hello","v":null}""")]
    [InlineData("""{"type":"hello","v":99999999999}""")]
    public void HelloWithoutIntegerVersion_IsInvalid(string payload)
    {
        AssertInvalid(Parse(payload), ErrorCodes.InvalidMessage, "hello.v must be an integer", "hello", null);
    }

    [Fact]
    public void Hello_ReadsItsMembers_AndIgnoresUnknownOnes()
    {
        var hello = AssertOk<HelloMessage>(Parse("""{"type":"hello","v":1,"token":"t","resume":"s","client":"lifeline-dotnet/1.0","future":{"x":1}}"""));

        Assert.Equal(new HelloMessage(1, "t", "s", "lifeline-dotnet/1.0"), hello);
        Assert.Equal(2, AssertOk<HelloMessage>(Parse("""{"type":"hello","v":2}""")).V);
        AssertInvalid(Parse("""{"type":"hello","v":1,"token":5}"""), ErrorCodes.InvalidMessage, "hello.token must be a string", "hello", null);
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("\"x\"")]
    [InlineData("null")]
    [InlineData("3")]
    public void PublishPatchNotAnObject_IsInvalid(string patch)
    {
        AssertInvalid(
            Parse($$$"""{"type":"publish","id":3,"channel":"room:42","patch":{{{patch}}}}"""),
            ErrorCodes.InvalidMessage,
            "publish.patch must be an object",
            "publish",
            3);
        AssertInvalid(Parse("""{"type":"publish","id":3,"channel":"room:42"}"""), ErrorCodes.InvalidMessage, "publish.patch must be an object", "publish", 3);
    }

    [Fact]
    public void Publish_RequiresIdAndChannel()
    {
        AssertInvalid(Parse("""{"type":"publish","channel":"c","patch":{}}"""), ErrorCodes.InvalidMessage, "publish.id is required", "publish", null);
        AssertInvalid(Parse("""{"type":"publish","id":1,"patch":{}}"""), ErrorCodes.InvalidMessage, "publish.channel must be a string", "publish", 1);
        AssertInvalid(Parse("""{"type":"publish","id":1,"channel":7,"patch":{}}"""), ErrorCodes.InvalidMessage, "publish.channel must be a string", "publish", 1);
    }

    [Fact]
    public void PublishKey_LongerThanTheLimit_IsLimitExceeded_EmptyIsInvalid_128Fits()
    {
        var limit = ProtocolConstants.MaxKeyLength;

        AssertInvalid(
            Parse($$$"""{"type":"publish","id":1,"channel":"c","patch":{},"key":"{{{new string('k', limit + 1)}}}"}"""),
            ErrorCodes.LimitExceeded,
            "publish.key must be 1 to 128 characters",
            "publish",
            1);
        AssertInvalid(
            Parse("""{"type":"publish","id":1,"channel":"c","patch":{},"key":""}"""),
            ErrorCodes.InvalidMessage,
            "publish.key must be 1 to 128 characters",
            "publish",
            1);
        AssertInvalid(Parse("""{"type":"publish","id":1,"channel":"c","patch":{},"key":12}"""), ErrorCodes.InvalidMessage, "publish.key must be a string", "publish", 1);
        Assert.Equal(new string('k', limit), AssertOk<PublishMessage>(Parse($$$"""{"type":"publish","id":1,"channel":"c","patch":{},"key":"{{{new string('k', limit)}}}"}""")).Key);
    }

    [Fact]
    public void Publish_ReadsItsMembers_AndOwnsItsPatch()
    {
        var payload = Encoding.UTF8.GetBytes("""{"type":"publish","id":3,"channel":"room:42","key":"c7a1-0003","patch":{"title":"hi","done":null}}""");

        var publish = AssertOk<PublishMessage>(ClientMessageParser.Parse(payload));
        Array.Fill(payload, (byte)' ');

        Assert.Equal(3, publish.Id);
        Assert.Equal("room:42", publish.Channel);
        Assert.Equal("c7a1-0003", publish.Key);
        Assert.Equal("""{"title":"hi","done":null}""", publish.Patch.GetRawText());
        Assert.Null(AssertOk<PublishMessage>(Parse("""{"type":"publish","id":1,"channel":"c","patch":{},"key":null}""")).Key);
    }

    [Fact]
    public void PublishIf_IsReadAsThePositionToCompareWith_NullOrAbsentIsUnconditional()
    {
        var publish = AssertOk<PublishMessage>(Parse("""{"type":"publish","id":3,"channel":"c","patch":{"a":1},"if":{"epoch":"e1","offset":44,"future":true}}"""));
        Assert.Equal(new Position("e1", 44), publish.If);
        Assert.Equal(new Position("", 0), AssertOk<PublishMessage>(Parse("""{"type":"publish","id":3,"channel":"c","patch":{},"if":{"epoch":"","offset":0}}""")).If);
        Assert.Equal(9007199254740991, AssertOk<PublishMessage>(Parse("""{"type":"publish","id":3,"channel":"c","patch":{},"if":{"epoch":"e","offset":9007199254740991}}""")).If!.Offset);
        Assert.Null(AssertOk<PublishMessage>(Parse("""{"type":"publish","id":3,"channel":"c","patch":{},"if":null}""")).If);
        Assert.Null(AssertOk<PublishMessage>(Parse("""{"type":"publish","id":3,"channel":"c","patch":{}}""")).If);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("\"e1:44\"")]
    [InlineData("[\"e1\",44]")]
    [InlineData("true")]
    [InlineData("{}")]
    [InlineData("{\"epoch\":\"e1\"}")]
    [InlineData("{\"offset\":44}")]
    [InlineData("{\"epoch\":\"e1\",\"offset\":-1}")]
    [InlineData("{\"epoch\":\"e1\",\"offset\":4.5}")]
    [InlineData("{\"epoch\":\"e1\",\"offset\":\"44\"}")]
    [InlineData("{\"epoch\":\"e1\",\"offset\":null}")]
    [InlineData("{\"epoch\":\"e1\",\"offset\":9007199254740992}")]
    [InlineData("{\"epoch\":7,\"offset\":44}")]
    [InlineData("{\"epoch\":null,\"offset\":44}")]
    public void PublishIf_ThatIsNotAPosition_IsInvalid(string condition)
    {
        AssertInvalid(
            Parse($$$"""{"type":"publish","id":3,"channel":"c","patch":{},"if":{{{condition}}}}"""),
            ErrorCodes.InvalidMessage,
            "publish.if must be {\"epoch\": string, \"offset\": non-negative integer below 2^53}",
            "publish",
            3);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("\"e1:41\"")]
    [InlineData("{}")]
    [InlineData("{\"epoch\":\"e1\"}")]
    [InlineData("{\"offset\":41}")]
    [InlineData("{\"epoch\":1,\"offset\":41}")]
    [InlineData("{\"epoch\":\"e1\",\"offset\":-1}")]
    [InlineData("{\"epoch\":\"e1\",\"offset\":4.5}")]
    [InlineData("{\"epoch\":\"e1\",\"offset\":\"41\"}")]
    [InlineData("{\"epoch\":\"e1\",\"offset\":9007199254740992}")]
    public void SubscribeWithMalformedSince_IsInvalid(string since)
    {
        AssertInvalid(
            Parse($$$"""{"type":"subscribe","id":1,"channel":"room:42","since":{{{since}}}}"""),
            ErrorCodes.InvalidMessage,
            "subscribe.since must be {\"epoch\": string, \"offset\": non-negative integer}",
            "subscribe",
            1);
    }

    [Fact]
    public void Subscribe_ReadsItsMembers()
    {
        var withSince = AssertOk<SubscribeMessage>(Parse("""{"type":"subscribe","id":1,"channel":"room:42","since":{"epoch":"e1","offset":41}}"""));
        var withoutSince = AssertOk<SubscribeMessage>(Parse("""{"type":"subscribe","id":2,"channel":"room:42","since":null}"""));

        Assert.Equal(new Position("e1", 41), withSince.Since);
        Assert.Equal("room:42", withSince.Channel);
        Assert.Equal(1, withSince.Id);
        Assert.Null(withoutSince.Since);
        AssertInvalid(Parse("""{"type":"subscribe","channel":"c"}"""), ErrorCodes.InvalidMessage, "subscribe.id is required", "subscribe", null);
        AssertInvalid(Parse("""{"type":"subscribe","id":1}"""), ErrorCodes.InvalidMessage, "subscribe.channel must be a string", "subscribe", 1);
    }

    [Theory]
    [InlineData("ping")]
    [InlineData("pong")]
    public void PingPong_RequireASafeCounter(string type)
    {
        AssertInvalid(Parse($$$"""{"type":"{{{type}}}"}"""), ErrorCodes.InvalidMessage, $"{type}.n must be a non-negative integer below 2^53", type, null);
        AssertInvalid(Parse($$$"""{"type":"{{{type}}}","n":-2}"""), ErrorCodes.InvalidMessage, $"{type}.n must be a non-negative integer below 2^53", type, null);
        var ok = Parse($$$"""{"type":"{{{type}}}","n":17}""");
        Assert.True(ok.IsSuccess);
        Assert.Equal(17, ok.Message is PingMessage p ? p.N : ((PongMessage)ok.Message!).N);
    }

    [Fact]
    public void UnsubscribeAndPresence_ReadTheirChannel()
    {
        Assert.Equal(new UnsubscribeMessage("room:42") { Id = 2 }, AssertOk<UnsubscribeMessage>(Parse("""{"type":"unsubscribe","id":2,"channel":"room:42"}""")));
        Assert.Equal(new PresenceRequestMessage("room:42") { Id = 4 }, AssertOk<PresenceRequestMessage>(Parse("""{"type":"presence","id":4,"channel":"room:42"}""")));
        AssertInvalid(Parse("""{"type":"unsubscribe","id":2}"""), ErrorCodes.InvalidMessage, "unsubscribe.channel must be a string", "unsubscribe", 2);
        AssertInvalid(Parse("""{"type":"presence","id":4,"channel":null}"""), ErrorCodes.InvalidMessage, "presence.channel must be a string", "presence", 4);
    }

    [Fact]
    public void ParsedMessages_SerializeBackToEquivalentJson()
    {
        string[] messages =
        [
            """{"type":"hello","v":1,"token":"t"}""",
            """{"type":"subscribe","id":1,"channel":"room:42","since":{"epoch":"e1","offset":41}}""",
            """{"type":"publish","id":3,"channel":"room:42","patch":{"title":"hi","done":null},"key":"k"}""",
            """{"type":"ping","n":17}""",
        ];

        foreach (var json in messages)
        {
            var result = Parse(json);
            Assert.True(result.IsSuccess, result.ErrorMessage);
            var message = result.Message!;
            var written = Encoding.UTF8.GetString(ProtocolSerializer.Serialize(message));
            Assert.StartsWith($"{{\"type\":\"{message.Type}\"", written, StringComparison.Ordinal);
            Assert.True(
                System.Text.Json.Nodes.JsonNode.DeepEquals(System.Text.Json.Nodes.JsonNode.Parse(json), System.Text.Json.Nodes.JsonNode.Parse(written)),
                $"{json} came back as {written}");
        }
    }
}
