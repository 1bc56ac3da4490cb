using System.Text;
using System.Text.Json;

namespace Lifeline.Protocol.Tests;

/// <summary>
/// Issue 18, PROTOCOL.md "emit / event" and "message": the client's <c>emit</c> (id and channel as for publish; <c>data</c>
/// required, any JSON value, <c>null</c> included) and the server's <c>event</c> and <c>message</c>, written exactly as the
/// contract shows them and read back by the client-side parser.
/// </summary>
public sealed class EmitEventMessageTests
{
    private static ParseResult Parse(string json) => ClientMessageParser.Parse(Encoding.UTF8.GetBytes(json));

    private static string Text(ServerMessage message) => Encoding.UTF8.GetString(ProtocolSerializer.Serialize(message));

    private static JsonElement J(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Fact]
    public void The_protocol_example_parses_into_an_emit_with_its_id_channel_and_data()
    {
        var result = Parse("""{"type":"emit","id":5,"channel":"room:42","data":{"cursor":[10,20]}}""");

        var emit = Assert.IsType<EmitMessage>(result.Message);
        Assert.Equal(5, emit.Id);
        Assert.Equal("room:42", emit.Channel);
        Assert.Equal("""{"cursor":[10,20]}""", emit.Data.GetRawText());
    }

    [Theory]
    [InlineData("null", JsonValueKind.Null)]
    [InlineData("7", JsonValueKind.Number)]
    [InlineData("\"typing\"", JsonValueKind.String)]
    [InlineData("[1,2]", JsonValueKind.Array)]
    [InlineData("false", JsonValueKind.False)]
    public void Data_is_any_json_value_null_included(string data, JsonValueKind kind)
    {
        var emit = Assert.IsType<EmitMessage>(Parse($$"""{"type":"emit","id":1,"channel":"c","data":{{data}}}""").Message);

        Assert.Equal(kind, emit.Data.ValueKind);
    }

    [Theory]
    [InlineData("""{"type":"emit","channel":"c","data":1}""", "emit.id is required", null)]
    [InlineData("""{"type":"emit","id":2,"data":1}""", "emit.channel must be a string", 2L)]
    [InlineData("""{"type":"emit","id":2,"channel":7,"data":1}""", "emit.channel must be a string", 2L)]
    [InlineData("""{"type":"emit","id":3,"channel":"c"}""", "emit.data is required (any JSON value)", 3L)]
    public void A_missing_id_channel_or_data_is_invalid_message(string json, string message, long? id)
    {
        var result = Parse(json);

        Assert.False(result.IsSuccess);
        Assert.False(result.IsFatal);
        Assert.Equal(ErrorCodes.InvalidMessage, result.ErrorCode);
        Assert.Equal(message, result.ErrorMessage);
        Assert.Equal(id, result.Id);
    }

    [Fact]
    public void A_lone_surrogate_in_data_is_a_fatal_payload_error()
    {
        Assert.True(Parse("""{"type":"emit","id":1,"channel":"c","data":["\ud800"]}""").IsFatal);
    }

    [Fact]
    public void Event_and_message_are_written_as_the_contract_shows_them()
    {
        Assert.Equal(
            """{"type":"event","channel":"room:42","user":"u1","data":{"cursor":[10,20]},"ts":1764340000123}""",
            Text(new EventMessage("room:42", "u1", J("""{"cursor":[10,20]}"""), 1764340000123)));
        Assert.Equal(
            """{"type":"event","channel":"room:42","user":null,"data":null,"ts":5}""",
            Text(new EventMessage("room:42", null, J("null"), 5)));
        Assert.Equal(
            """{"type":"message","data":{"export":"ready"},"ts":6}""",
            Text(new DirectMessage(J("""{"export":"ready"}"""), 6)));
        Assert.Equal("""{"type":"reply","id":5,"ok":true}""", Text(new ReplyMessage(5, true)));
    }

    [Fact]
    public void The_client_parser_reads_event_and_message_and_keeps_null_data()
    {
        Assert.True(ServerMessageParser.TryParse("""{"type":"event","channel":"c","user":null,"data":null,"ts":5}"""u8.ToArray(), out var parsed, out var error), error);
        var ev = Assert.IsType<EventMessage>(parsed);
        Assert.Null(ev.User);
        Assert.Equal(JsonValueKind.Null, ev.Data.ValueKind);
        Assert.Equal(5, ev.Ts);

        Assert.True(ServerMessageParser.TryParse("""{"type":"message","data":[1],"ts":6}"""u8.ToArray(), out parsed, out error), error);
        Assert.Equal("[1]", Assert.IsType<DirectMessage>(parsed).Data.GetRawText());
    }

    [Theory]
    [InlineData("""{"type":"event","user":"u","data":1,"ts":1}""")]
    [InlineData("""{"type":"event","channel":"c","user":"u","ts":1}""")]
    [InlineData("""{"type":"message","ts":1}""")]
    public void An_event_or_message_missing_a_required_member_is_reported(string line)
    {
        Assert.False(ServerMessageParser.TryParse(Encoding.UTF8.GetBytes(line), out var message, out var error));
        Assert.Null(message);
        Assert.False(string.IsNullOrEmpty(error));
    }
}
