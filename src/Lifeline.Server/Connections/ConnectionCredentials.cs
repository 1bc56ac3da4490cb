using System.Text.Json;

namespace Lifeline.Server.Connections;

/// <summary>
/// What a connection's token grants until it is refreshed: its expiry (as a <see cref="TimeProvider"/> timestamp,
/// checked by <see cref="HeartbeatScheduler"/>'s sweep through <see cref="Connection.OnHeartbeatTick"/>: no timer per
/// connection) and its claims (for <see cref="IChannelPolicy"/>). Written by the hello and by each successful refresh,
/// read by the sweep and by the channel requests; pure bookkeeping: it closes nothing itself.
/// </summary>
internal sealed class ConnectionCredentials
{
    // Both fields are written together under lock (this): the class is private to its connection.
    private long _expiresAt; // a timestamp; 0: the token does not expire
    private IReadOnlyDictionary<string, JsonElement>? _claims;

    /// <summary>The claims of the last accepted token, or null.</summary>
    public IReadOnlyDictionary<string, JsonElement>? Claims
    {
        get
        {
            lock (this)
            {
                return _claims;
            }
        }
    }

    /// <summary>The expiry as a timestamp, 0 when the token does not expire.</summary>
    public long ExpiresAt
    {
        get
        {
            lock (this)
            {
                return _expiresAt;
            }
        }
    }

    /// <summary>Takes an accepted token's expiry (a timestamp, 0: none) and claims; the old ones no longer count.</summary>
    /// <param name="expiresAt">The expiry timestamp, or 0.</param>
    /// <param name="claims">The claims, or null.</param>
    public void Accept(long expiresAt, IReadOnlyDictionary<string, JsonElement>? claims)
    {
        lock (this)
        {
            _expiresAt = expiresAt;
            _claims = claims;
        }
    }

    /// <summary>True when the token has an expiry and <paramref name="now"/> (a timestamp) is at or past it.</summary>
    /// <param name="now">The current timestamp.</param>
    /// <returns>Whether the connection must close with 4002.</returns>
    public bool IsExpired(long now)
    {
        var expiresAt = ExpiresAt;
        return expiresAt != 0 && now >= expiresAt;
    }
}
