using System.Text;

namespace Lifeline.Protocol.Tests;

/// <summary>The close-code table, checked row by row against PROTOCOL.md ("Close codes").</summary>
public sealed class CloseCodeTests
{
    // Copied from PROTOCOL.md, in its order: code, client should reconnect?
    private static readonly (int Code, bool Reconnect)[] ProtocolTable =
    [
        (1000, false), // normal close: only if the application asked for it
        (1001, true),  // server going away
        (1002, false), // protocol violation
        (1003, false), // binary frame received
        (1007, false), // invalid payload
        (1008, false), // policy violation
        (1009, false), // message too big
        (1011, true),  // server internal error
        (1013, true),  // try again later
        (4000, true),  // heartbeat timeout
        (4001, false), // unauthorized
        (4002, true),  // token expired: at once, with a fresh token
        (1006, true),  // abnormal closure, observed locally
    ];

    [Fact]
    public void All_IsThePrototolTable_InItsOrder()
    {
        Assert.Equal(ProtocolTable, CloseCode.All.Select(c => (c.Code, c.ShouldReconnect)));
    }

    [Fact]
    public void NamedCodes_HaveTheirNumbersAndReconnectRules()
    {
        Assert.Equal((1000, false), (CloseCode.Normal.Code, CloseCode.Normal.ShouldReconnect));
        Assert.Equal((1001, true), (CloseCode.GoingAway.Code, CloseCode.GoingAway.ShouldReconnect));
        Assert.Equal((1002, false), (CloseCode.ProtocolError.Code, CloseCode.ProtocolError.ShouldReconnect));
        Assert.Equal((1003, false), (CloseCode.UnsupportedData.Code, CloseCode.UnsupportedData.ShouldReconnect));
        Assert.Equal((1006, true), (CloseCode.Abnormal.Code, CloseCode.Abnormal.ShouldReconnect));
        Assert.Equal((1007, false), (CloseCode.InvalidPayload.Code, CloseCode.InvalidPayload.ShouldReconnect));
        Assert.Equal((1008, false), (CloseCode.PolicyViolation.Code, CloseCode.PolicyViolation.ShouldReconnect));
        Assert.Equal((1009, false), (CloseCode.MessageTooBig.Code, CloseCode.MessageTooBig.ShouldReconnect));
        Assert.Equal((1011, true), (CloseCode.InternalError.Code, CloseCode.InternalError.ShouldReconnect));
        Assert.Equal((1013, true), (CloseCode.TryAgainLater.Code, CloseCode.TryAgainLater.ShouldReconnect));
        Assert.Equal((4000, true), (CloseCode.HeartbeatTimeout.Code, CloseCode.HeartbeatTimeout.ShouldReconnect));
        Assert.Equal((4001, false), (CloseCode.Unauthorized.Code, CloseCode.Unauthorized.ShouldReconnect));
        Assert.Equal("heartbeat_timeout", CloseCode.HeartbeatTimeout.Reason);
    }

    [Fact]
    public void Reasons_AreDistinct_AndFitACloseFrame()
    {
        Assert.Equal(CloseCode.All.Count, CloseCode.All.Select(c => c.Reason).Distinct().Count());
        Assert.Equal(CloseCode.All.Count, CloseCode.All.Select(c => c.Code).Distinct().Count());
        Assert.All(CloseCode.All, c => Assert.InRange(Encoding.UTF8.GetByteCount(c.Reason), 1, 123));
    }

    [Fact]
    public void FromCode_FindsEveryRow()
    {
        foreach (var row in CloseCode.All)
        {
            Assert.Equal(row, CloseCode.FromCode(row.Code));
        }
    }

    [Theory]
    [InlineData(1012, true)]
    [InlineData(1014, true)]
    [InlineData(4003, true)]
    [InlineData(4099, true)]
    [InlineData(1004, false)]
    [InlineData(1010, false)]
    [InlineData(1015, false)]
    [InlineData(3000, false)]
    [InlineData(4100, false)]
    [InlineData(0, false)]
    public void FromCode_UnknownCodes_RetryOnlyInTheTransientRanges(int code, bool reconnect)
    {
        var row = CloseCode.FromCode(code);

        Assert.Equal(code, row.Code);
        Assert.Equal("unknown", row.Reason);
        Assert.Equal(reconnect, row.ShouldReconnect);
    }

    [Fact]
    public void WithReason_KeepsTheCodeAndRule()
    {
        var hinted = CloseCode.GoingAway.WithReason(ProtocolConstants.RetryAfterPrefix + "1200");

        Assert.Equal(1001, hinted.Code);
        Assert.True(hinted.ShouldReconnect);
        Assert.Equal("retry_after_ms=1200", hinted.Reason);
        Assert.Equal("1001 (retry_after_ms=1200)", hinted.ToString());
    }
}
