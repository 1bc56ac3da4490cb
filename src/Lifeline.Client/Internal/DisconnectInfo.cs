using System.Globalization;
using Lifeline.Protocol;

namespace Lifeline.Client.Internal;

/// <summary>How one connection (or attempt) ended, and what the client should do about it.</summary>
/// <param name="CloseCode">The close code (the server's, or 1006 when the connection was lost locally).</param>
/// <param name="Reason">Why it ended.</param>
/// <param name="ShouldReconnect">Whether the close-code table allows a reconnect.</param>
/// <param name="RetryAfter">The server's <c>retry_after_ms</c> hint on 1001, if any.</param>
/// <param name="Exception">The transport exception behind it, if any.</param>
internal sealed record DisconnectInfo(int? CloseCode, string Reason, bool ShouldReconnect, TimeSpan? RetryAfter = null, Exception? Exception = null)
{
    /// <summary>Set by the supervisor: whether the connection reached <c>welcome</c> before it ended.</summary>
    public bool WasOpen { get; init; }

    public static DisconnectInfo Lost(string reason, Exception? exception = null) =>
        new(Protocol.CloseCode.Abnormal.Code, reason, true, null, exception);

    /// <summary>The token provider failed before a connection attempt: a failed attempt, retried per the policy (issue 14).</summary>
    public static DisconnectInfo TokenProviderFailed(Exception exception) => new(null, "token_provider_failed", true, null, exception);

    public static DisconnectInfo ClientClosed { get; } = new(Protocol.CloseCode.Normal.Code, "client_closed", false);

    /// <summary>Reads a close frame received from the server against PROTOCOL.md's close-code table.</summary>
    public static DisconnectInfo FromServerClose(int? status, string? description, bool reconnectOnNormalClose)
    {
        if (status is null or 1005)
        {
            // A close frame without a status: the server went away without saying why; treat it as a lost connection.
            return Lost(string.IsNullOrEmpty(description) ? "closed_without_status" : description);
        }

        var code = Protocol.CloseCode.FromCode(status.Value);
        var reason = string.IsNullOrEmpty(description) ? code.Reason : description;
        var reconnect = code.Code == Protocol.CloseCode.Normal.Code ? reconnectOnNormalClose : code.ShouldReconnect;
        TimeSpan? retryAfter = null;
        if (code.Code == Protocol.CloseCode.GoingAway.Code
            && description is not null
            && description.StartsWith(ProtocolConstants.RetryAfterPrefix, StringComparison.Ordinal)
            && long.TryParse(description.AsSpan(ProtocolConstants.RetryAfterPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
        {
            retryAfter = TimeSpan.FromMilliseconds(Math.Min(ms, (long)TimeSpan.FromHours(1).TotalMilliseconds));
        }

        return new DisconnectInfo(code.Code, reason, reconnect, retryAfter);
    }
}
