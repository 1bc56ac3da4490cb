using System.Text.Json;

namespace Lifeline.Server.Connections;

/// <summary>
/// What a connection's token grants until it is refreshed: its expiry (as a <see cref="TimeProvider"/> timestamp,
/// checked by <see cref="HeartbeatScheduler"/>'s sweep through <see cref="Connection.OnHeartbeatTick"/>: no timer per
/// connection) and its claims (for <see cref="IChannelPolicy"/>). Immutable: the hello and each successful refresh
/// replace the connection's whole value at once (<see cref="Connection.AcceptCredentials"/>), so expiry and claims are
/// always read as one pair without a lock; a token without expiry or claims holds no object at all (<see cref="None"/>).
/// Pure bookkeeping: it closes nothing itself.
/// </summary>
/// <param name="ExpiresAt">The expiry as a timestamp, 0 when the token does not expire.</param>
/// <param name="Claims">The claims of the accepted token, or null.</param>
internal sealed record ConnectionCredentials(long ExpiresAt, IReadOnlyDictionary<string, JsonElement>? Claims)
{
    /// <summary>No expiry, no claims (before the hello, or a token that carries neither).</summary>
    public static ConnectionCredentials None { get; } = new(0, null);

    /// <summary>True when the token has an expiry and <paramref name="now"/> (a timestamp) is at or past it.</summary>
    /// <param name="now">The current timestamp.</param>
    /// <returns>Whether the connection must close with 4002.</returns>
    public bool IsExpired(long now) => ExpiresAt != 0 && now >= ExpiresAt;
}
