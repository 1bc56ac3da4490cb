using System.Text;
using System.Text.Json;

namespace Lifeline.Protocol.Tests;

/// <summary>PROTOCOL.md "refresh": the message, the 4002 close code and the expiry fields of welcome and reply.</summary>
public sealed class RefreshMessageTests
{
    private static ParseResult Parse(string json) => ClientMessageParser.Parse(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void A_refresh_with_a_token_parses_with_its_id()
    {
        var result = Parse("{\"type\":\"refresh\",\"id\":6,\"token\":\"t2\"}");
        var refresh = Assert.IsType<RefreshMessage>(result.Message);
        Assert.Equal("t2", refresh.Token);
        Assert.Equal(6, refresh.Id);
    }

    [Theory]
    [InlineData("{\"type\":\"refresh\",\"id\":6}")]
    [InlineData("{\"type\":\"refresh\",\"id\":6,\"token\":5}")]
    [InlineData("{\"type\":\"refresh\",\"id\":6,\"token\":null}")]
    [InlineData("{\"type\":\"refresh\",\"id\":6,\"token\":{\"a\":1}}")]
    public void A_refresh_without_a_string_token_is_invalid_message_and_not_fatal(string json)
    {
        var result = Parse(json);
        Assert.False(result.IsSuccess);
        Assert.False(result.IsFatal);
        Assert.Equal(ErrorCodes.InvalidMessage, result.ErrorCode);
        Assert.Equal("refresh", result.Type);
        Assert.Equal(6, result.Id);
    }

    [Fact]
    public void Close_4002_is_token_expired_and_reconnects()
    {
        Assert.Equal(CloseCode.TokenExpired, CloseCode.FromCode(4002));
        Assert.Equal("token_expired", CloseCode.TokenExpired.Reason);
        Assert.True(CloseCode.TokenExpired.ShouldReconnect);
        Assert.Contains(CloseCode.TokenExpired, CloseCode.All);
    }

    [Fact]
    public void Welcome_and_reply_carry_tokenExpiresInMs_only_when_known()
    {
        var heartbeat = new HeartbeatInfo(20_000, 5_000);
        var without = JsonDocument.Parse(ProtocolSerializer.Serialize(new WelcomeMessage("s", "c", "u", false, heartbeat, 120_000))).RootElement;
        Assert.False(without.TryGetProperty("tokenExpiresInMs", out _));

        var with = JsonDocument.Parse(ProtocolSerializer.Serialize(new WelcomeMessage("s", "c", "u", false, heartbeat, 120_000) { TokenExpiresInMs = 3000 })).RootElement;
        Assert.Equal(3000, with.GetProperty("tokenExpiresInMs").GetInt64());

        var reply = JsonDocument.Parse(ProtocolSerializer.Serialize(new ReplyMessage(6, true) { TokenExpiresInMs = 2500 })).RootElement;
        Assert.Equal(2500, reply.GetProperty("tokenExpiresInMs").GetInt64());

        var refresh = JsonDocument.Parse(ProtocolSerializer.Serialize(new RefreshMessage("t") { Id = 7 })).RootElement;
        Assert.Equal("refresh", refresh.GetProperty("type").GetString());
        Assert.Equal("t", refresh.GetProperty("token").GetString());
    }
}
