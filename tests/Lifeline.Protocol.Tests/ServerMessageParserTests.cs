using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lifeline.Protocol.Tests;

/// <summary>Server messages: serialization, frame splitting and client-side parsing.</summary>
public sealed class ServerMessageParserTests
{
    private static JsonElement J(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    private static readonly ServerMessage[] Messages =
    [
        new WelcomeMessage("sess", "conn-1", "u1", true, new HeartbeatInfo(30000, 5000), 120000),
        new WelcomeMessage("sess", "conn-2", null, false, new HeartbeatInfo(30000, 5000), 120000),
        new ServerPing(17),
        new ServerPong(18),
        new SubscribedMessage(1, "room:42", "e1", 44, true),
        new SnapshotMessage("room:42", "e1", 44, J("""{"title":"hi","items":[1,2]}""")),
        new DeltaMessage("room:42", 42, J("""{"title":"line\nfeed","done":null}"""), 1764340000123),
        new PresenceMessage("room:42", "join", "u1", null, 1764340000123),
        new PresenceMessage("room:42", "leave", "u1", "disconnect", 1764340000124),
        new EventMessage("room:42", "u1", J("""{"cursor":[10,20]}"""), 1764340000125),
        new EventMessage("room:42", null, J("null"), 1764340000126),
        new DirectMessage(J("""{"export":"ready"}"""), 1764340000127),
        new ReplyMessage(3, true) { Offset = 45 },
        new ReplyMessage(4, true) { Members = ["u1", "u2"] },
        new ReplyMessage(5, false) { Error = new ErrorInfo(ErrorCodes.Forbidden, "no") },
        new ReplyMessage(6, false) { Error = new ErrorInfo(ErrorCodes.Conflict, "at another position") { Epoch = "e1", Offset = 47 } },
        new ErrorMessage(3, ErrorCodes.InvalidMessage, "publish.patch must be an object"),
        new ErrorMessage(null, ErrorCodes.UnknownType, "unknown message type 'x'"),
    ];

    public static TheoryData<ServerMessage> AllServerMessages() => new(Messages);

    [Theory]
    [MemberData(nameof(AllServerMessages))]
    public void Serialize_WritesCompactJson_TypeFirst_NoLineFeed(ServerMessage message)
    {
        var bytes = ProtocolSerializer.Serialize(message);

        Assert.DoesNotContain((byte)'\n', bytes);
        Assert.StartsWith($"{{\"type\":\"{message.Type}\",", Text(bytes), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(AllServerMessages))]
    public void TryParse_RoundTripsEveryMessage(ServerMessage message)
    {
        var bytes = ProtocolSerializer.Serialize(message);

        Assert.True(ServerMessageParser.TryParse(bytes, out var parsed, out var error), error);

        Assert.Null(error);
        Assert.NotNull(parsed);
        Assert.IsType(message.GetType(), parsed);
        Assert.Equal(Text(bytes), Text(ProtocolSerializer.Serialize(parsed)));
    }

    [Fact]
    public void Welcome_WritesUserAsNull_WhenAnonymous_AndTheVersion()
    {
        var json = Text(ProtocolSerializer.Serialize(new WelcomeMessage("s", "c", null, false, new HeartbeatInfo(30000, 5000), 120000)));

        Assert.Equal(
            """{"type":"welcome","v":1,"session":"s","connection":"c","user":null,"resumed":false,"heartbeat":{"intervalMs":30000,"timeoutMs":5000},"resumeWindowMs":120000}""",
            json);
    }

    [Fact]
    public void Serialize_MatchesTheProtocolExamples()
    {
        Assert.Equal(
            """{"type":"subscribed","id":1,"channel":"room:42","epoch":"e1","offset":44,"recovered":true}""",
            Text(ProtocolSerializer.Serialize(new SubscribedMessage(1, "room:42", "e1", 44, true))));
        Assert.Equal(
            """{"type":"reply","id":3,"ok":true,"offset":45}""",
            Text(ProtocolSerializer.Serialize(new ReplyMessage(3, true) { Offset = 45 })));
        Assert.Equal(
            """{"type":"reply","id":3,"ok":false,"error":{"code":"forbidden","message":"..."}}""",
            Text(ProtocolSerializer.Serialize(new ReplyMessage(3, false) { Error = new ErrorInfo("forbidden", "...") })));
        Assert.Equal(
            """{"type":"reply","id":3,"ok":false,"error":{"code":"conflict","message":"...","epoch":"e1","offset":47}}""",
            Text(ProtocolSerializer.Serialize(new ReplyMessage(3, false) { Error = new ErrorInfo("conflict", "...") { Epoch = "e1", Offset = 47 } })));
        Assert.Equal(
            """{"type":"presence","channel":"room:42","event":"join","user":"u1","ts":5}""",
            Text(ProtocolSerializer.Serialize(new PresenceMessage("room:42", "join", "u1", null, 5))));
        Assert.Equal(
            """{"type":"ping","n":17}""",
            Text(ProtocolSerializer.Serialize(new ServerPing(17))));
    }

    [Fact]
    public void PackedFrame_SplitsIntoItsMessages_InOrder()
    {
        var messages = Messages;
        var frame = new List<byte>();
        foreach (var message in messages)
        {
            frame.AddRange(ProtocolSerializer.Serialize(message));
            frame.Add(ProtocolConstants.MessageSeparator);
        }

        var parts = ServerMessageParser.SplitFrame(frame.ToArray()).ToArray();

        Assert.Equal(messages.Length, parts.Length);
        for (var i = 0; i < messages.Length; i++)
        {
            Assert.True(ServerMessageParser.TryParse(parts[i], out var parsed, out _));
            Assert.Equal(messages[i].Type, parsed!.Type);
            Assert.Equal(Text(ProtocolSerializer.Serialize(messages[i])), Text(parts[i]));
        }
    }

    [Theory]
    [InlineData("", new string[0])]
    [InlineData("\n", new string[0])]
    [InlineData("\n\n\n", new string[0])]
    [InlineData("a", new[] { "a" })]
    [InlineData("a\n", new[] { "a" })]
    [InlineData("\na", new[] { "a" })]
    [InlineData("a\nb", new[] { "a", "b" })]
    [InlineData("a\n\nbc\n", new[] { "a", "bc" })]
    public void SplitFrame_SkipsEmptyLines(string frame, string[] expected)
    {
        var parts = ServerMessageParser.SplitFrame(Encoding.UTF8.GetBytes(frame)).Select(Text);

        Assert.Equal(expected, parts);
    }

    [Fact]
    public void UnknownType_IsWellFormed_AndIgnored()
    {
        Assert.True(ServerMessageParser.TryParse("""{"type":"future-thing","x":1}"""u8.ToArray(), out var message, out var error));
        Assert.Null(message);
        Assert.Null(error);
    }

    [Fact]
    public void UnknownMembers_AreIgnored()
    {
        Assert.True(ServerMessageParser.TryParse("""{"type":"ping","n":3,"later":{"a":[1]}}"""u8.ToArray(), out var message, out _));

        Assert.Equal(new ServerPing(3), message);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("\"delta\"")]
    [InlineData("{}")]
    [InlineData("{\"type\":7}")]
    [InlineData("{\"type\":\"delta\"}")]
    [InlineData("{\"type\":\"delta\",\"channel\":\"c\",\"offset\":1,\"ts\":1}")]
    [InlineData("{\"type\":\"delta\",\"channel\":\"c\",\"offset\":1,\"patch\":[1],\"ts\":1}")]
    [InlineData("{\"type\":\"delta\",\"offset\":1,\"patch\":{},\"ts\":1}")]
    [InlineData("{\"type\":\"delta\",\"channel\":\"c\",\"offset\":\"1\",\"patch\":{},\"ts\":1}")]
    [InlineData("{\"type\":\"snapshot\",\"channel\":\"c\",\"epoch\":\"e\",\"offset\":1}")]
    [InlineData("{\"type\":\"snapshot\",\"channel\":\"c\",\"offset\":1,\"state\":{}}")]
    [InlineData("{\"type\":\"welcome\",\"v\":1,\"connection\":\"c\",\"user\":null,\"resumed\":false,\"heartbeat\":{\"intervalMs\":1,\"timeoutMs\":1},\"resumeWindowMs\":1}")]
    [InlineData("{\"type\":\"welcome\",\"v\":1,\"session\":\"s\",\"connection\":\"c\",\"user\":null,\"resumed\":false,\"resumeWindowMs\":1}")]
    [InlineData("{\"type\":\"subscribed\",\"id\":1,\"offset\":1,\"recovered\":true}")]
    [InlineData("{\"type\":\"presence\",\"channel\":\"c\",\"event\":\"join\",\"ts\":1}")]
    [InlineData("{\"type\":\"reply\",\"id\":1,\"ok\":\"yes\"}")]
    [InlineData("{\"type\":\"reply\",\"id\":1,\"ok\":false,\"error\":{\"message\":\"m\"}}")]
    [InlineData("{\"type\":\"error\",\"message\":\"m\"}")]
    public void MalformedMessages_AreReported_NeverThrown(string line)
    {
        var ok = ServerMessageParser.TryParse(Encoding.UTF8.GetBytes(line), out var message, out var error);

        Assert.False(ok);
        Assert.Null(message);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void NotUtf8_IsReported()
    {
        byte[] line = [(byte)'{', (byte)'"', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}'];

        Assert.False(ServerMessageParser.TryParse(line, out var message, out var error));
        Assert.Null(message);
        Assert.NotNull(error);
    }

    [Fact]
    public void ParsedDelta_OwnsItsPatch()
    {
        var bytes = ProtocolSerializer.Serialize(new DeltaMessage("c", 1, J("""{"a":{"b":[1,2]}}"""), 5));

        Assert.True(ServerMessageParser.TryParse(bytes, out var message, out _));
        Array.Fill(bytes, (byte)' ');

        var delta = Assert.IsType<DeltaMessage>(message);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"a":{"b":[1,2]}}"""), JsonNode.Parse(delta.Patch.GetRawText())));
    }
}
