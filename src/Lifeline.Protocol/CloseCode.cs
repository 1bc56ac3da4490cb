namespace Lifeline.Protocol;

/// <summary>
/// One row of the close-code table in PROTOCOL.md: the WebSocket close status, its canonical reason
/// and whether a client should reconnect after receiving it. Teardown, metrics labels and log lines
/// all take a <see cref="CloseCode"/>, never a bare integer.
/// </summary>
/// <param name="Code">The WebSocket close status code.</param>
/// <param name="Reason">The canonical reason text sent in the close frame.</param>
/// <param name="ShouldReconnect">Whether a client reconnects (with backoff) after this close.</param>
public readonly record struct CloseCode(int Code, string Reason, bool ShouldReconnect)
{
    /// <summary>1000: normal close. Clients reconnect only if the application asks.</summary>
    public static readonly CloseCode Normal = new(1000, "normal", false);

    /// <summary>1001: server going away (shutdown, drain); the reason may hold <c>retry_after_ms=N</c>.</summary>
    public static readonly CloseCode GoingAway = new(1001, "going_away", true);

    /// <summary>1002: protocol violation (bad hello, wrong version).</summary>
    public static readonly CloseCode ProtocolError = new(1002, "protocol_error", false);

    /// <summary>1003: a binary frame was received.</summary>
    public static readonly CloseCode UnsupportedData = new(1003, "binary_not_supported", false);

    /// <summary>1006: abnormal closure, connection lost. Never sent on the wire; observed locally.</summary>
    public static readonly CloseCode Abnormal = new(1006, "connection_lost", true);

    /// <summary>1007: invalid payload (not UTF-8, not JSON, not an object).</summary>
    public static readonly CloseCode InvalidPayload = new(1007, "invalid_payload", false);

    /// <summary>1008: policy violation (origin not allowed, rate limit abused, handshake timeout).</summary>
    public static readonly CloseCode PolicyViolation = new(1008, "policy_violation", false);

    /// <summary>1009: message too big.</summary>
    public static readonly CloseCode MessageTooBig = new(1009, "message_too_big", false);

    /// <summary>1011: server internal error.</summary>
    public static readonly CloseCode InternalError = new(1011, "internal_error", true);

    /// <summary>1013: try again later (overloaded, or this client was too slow to read).</summary>
    public static readonly CloseCode TryAgainLater = new(1013, "try_again_later", true);

    /// <summary>4000: no pong within the heartbeat timeout.</summary>
    public static readonly CloseCode HeartbeatTimeout = new(4000, "heartbeat_timeout", true);

    /// <summary>4001: the authenticator refused the client. Clients do not retry.</summary>
    public static readonly CloseCode Unauthorized = new(4001, "unauthorized", false);

    /// <summary>
    /// 4002: the token expired (at <c>hello</c>, or on a live connection with no successful <c>refresh</c>). Clients
    /// reconnect at once with a fresh token from the application's token provider (one immediate attempt, then the usual backoff).
    /// </summary>
    public static readonly CloseCode TokenExpired = new(4002, "token_expired", true);

    /// <summary>Every code of the table, in the order PROTOCOL.md lists them.</summary>
    public static IReadOnlyList<CloseCode> All { get; } =
    [
        Normal, GoingAway, ProtocolError, UnsupportedData, InvalidPayload, PolicyViolation,
        MessageTooBig, InternalError, TryAgainLater, HeartbeatTimeout, Unauthorized, TokenExpired, Abnormal,
    ];

    /// <summary>
    /// Looks a numeric close status up in the table. Codes the table does not know keep their number,
    /// get the reason <c>unknown</c> and are treated as retryable only in the 1011-1014 and 4000-4099 ranges
    /// (server trouble and application-level transient errors), never otherwise.
    /// </summary>
    /// <param name="code">The numeric WebSocket close status.</param>
    /// <returns>The matching table row, or a synthesized row for unknown codes.</returns>
    public static CloseCode FromCode(int code)
    {
        foreach (var c in All)
        {
            if (c.Code == code)
            {
                return c;
            }
        }

        var retry = code is >= 1011 and <= 1014 or >= 4000 and <= 4099 and not 4001;
        return new CloseCode(code, "unknown", retry);
    }

    /// <summary>Returns this code with another reason text (for example <c>retry_after_ms=1200</c>).</summary>
    /// <param name="reason">The reason to send in the close frame (at most 123 UTF-8 bytes).</param>
    /// <returns>A copy carrying <paramref name="reason"/>.</returns>
    public CloseCode WithReason(string reason) => this with { Reason = reason };

    /// <inheritdoc />
    public override string ToString() => $"{Code} ({Reason})";
}
