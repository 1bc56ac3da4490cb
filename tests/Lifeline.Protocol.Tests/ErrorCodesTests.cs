using System.Reflection;

namespace Lifeline.Protocol.Tests;

/// <summary>The error codes, checked against PROTOCOL.md ("error codes").</summary>
public sealed class ErrorCodesTests
{
    // Copied from PROTOCOL.md's table, in its order.
    private static readonly string[] ProtocolTable =
    [
        "unknown_type", "invalid_message", "invalid_channel", "forbidden", "rate_limited", "limit_exceeded", "unavailable",
        "not_subscribed", "conflict",
    ];

    [Fact]
    public void ErrorCodes_AreExactlyTheProtocolTable()
    {
        var constants = typeof(ErrorCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral)
            .Select(f => (string)f.GetRawConstantValue()!)
            .Order(StringComparer.Ordinal);

        Assert.Equal(ProtocolTable.Order(StringComparer.Ordinal), constants);
        Assert.Equal("conflict", ErrorCodes.Conflict);
    }
}
