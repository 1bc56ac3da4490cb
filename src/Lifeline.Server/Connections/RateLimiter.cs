namespace Lifeline.Server.Connections;

/// <summary>What <see cref="RateLimiter.Take"/> decided.</summary>
internal enum RateDecision
{
    /// <summary>Within the rate.</summary>
    Allowed,

    /// <summary>Over the rate: refuse the message (<c>rate_limited</c>).</summary>
    Refused,

    /// <summary>Over the rate too often: close the connection (1008 <c>rate_limit_abused</c>).</summary>
    Abused,
}

/// <summary>
/// A connection's token bucket (<see cref="LifelineOptions.MaxMessagesPerSecond"/>, <see cref="LifelineOptions.MessageBurst"/>)
/// and the abuse rule (<see cref="LifelineOptions.RateLimitAbuseThreshold"/>). Only the receive loop calls it, so it
/// needs no lock.
/// </summary>
internal sealed class RateLimiter(LifelineOptions options, TimeProvider time)
{
    private double _tokens = double.NaN;
    private long _refilledAt;
    private int _refusals;
    private long _lastRefusalAt;

    /// <summary>Takes one token. Exempt messages (pongs) always pass, taking a token if there is one.</summary>
    /// <param name="exempt">True for messages that must never be refused.</param>
    /// <returns>The decision.</returns>
    public RateDecision Take(bool exempt)
    {
        var now = time.GetTimestamp();
        if (double.IsNaN(_tokens))
        {
            _tokens = options.MessageBurst;
        }
        else
        {
            var seconds = (now - _refilledAt) / (double)time.TimestampFrequency;
            _tokens = Math.Min(options.MessageBurst, _tokens + (seconds * options.MaxMessagesPerSecond));
        }

        _refilledAt = now;
        if (_tokens >= 1)
        {
            _tokens -= 1;
            return RateDecision.Allowed;
        }

        if (exempt)
        {
            return RateDecision.Allowed;
        }

        // Refusals with no full second free of refusals between them add up; past the threshold it is abuse.
        if (_refusals > 0 && now - _lastRefusalAt > time.TimestampFrequency)
        {
            _refusals = 0;
        }

        _refusals++;
        _lastRefusalAt = now;
        return _refusals > options.RateLimitAbuseThreshold ? RateDecision.Abused : RateDecision.Refused;
    }
}
