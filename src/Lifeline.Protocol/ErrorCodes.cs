namespace Lifeline.Protocol;

/// <summary>The <c>error.code</c> and <c>reply.error.code</c> values of PROTOCOL.md.</summary>
public static class ErrorCodes
{
    /// <summary><c>type</c> is not one this server knows.</summary>
    public const string UnknownType = "unknown_type";

    /// <summary>A member is missing, of the wrong JSON type, or out of range.</summary>
    public const string InvalidMessage = "invalid_message";

    /// <summary>Channel name empty, too long, or with characters outside the allowed set.</summary>
    public const string InvalidChannel = "invalid_channel";

    /// <summary>The authorization hook refused the request.</summary>
    public const string Forbidden = "forbidden";

    /// <summary>The connection sends faster than its limit.</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>A per-connection limit was reached (subscriptions, pending requests, key length, patch size).</summary>
    public const string LimitExceeded = "limit_exceeded";

    /// <summary>The engine cannot serve now; retry later.</summary>
    public const string Unavailable = "unavailable";

    /// <summary>Unsubscribe for a channel this connection has not subscribed.</summary>
    public const string NotSubscribed = "not_subscribed";

    /// <summary>
    /// A conditional publish (<c>if</c>) found the channel at another position; the error carries the current
    /// <c>epoch</c> and <c>offset</c>, and nothing was applied.
    /// </summary>
    public const string Conflict = "conflict";
}
