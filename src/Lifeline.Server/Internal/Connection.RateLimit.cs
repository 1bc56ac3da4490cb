using Lifeline.Protocol;

namespace Lifeline.Server.Internal;

/// <summary>
/// The per-connection token bucket (<see cref="LifelineOptions.MaxMessagesPerSecond"/>, <see cref="LifelineOptions.MessageBurst"/>)
/// and the abuse rule (<see cref="LifelineOptions.RateLimitAbuseThreshold"/>: close 1008). Only the receive loop
/// touches these fields, so they need no lock.
/// </summary>
internal sealed partial class Connection
{
    private double _rateTokens = double.NaN;
    private long _rateRefilledAt;
    private int _rateRefusals;
    private long _lastRateRefusalAt;

    /// <summary>Takes one token; false when the message is over the rate (pongs always pass, taking a token if any).</summary>
    private bool TakeRateToken(bool exempt)
    {
        var options = _runtime.Options;
        var now = _runtime.Time.GetTimestamp();
        if (double.IsNaN(_rateTokens))
        {
            _rateTokens = options.MessageBurst;
        }
        else
        {
            var seconds = (now - _rateRefilledAt) / (double)_runtime.Time.TimestampFrequency;
            _rateTokens = Math.Min(options.MessageBurst, _rateTokens + (seconds * options.MaxMessagesPerSecond));
        }

        _rateRefilledAt = now;
        if (_rateTokens >= 1)
        {
            _rateTokens -= 1;
            return true;
        }

        if (exempt)
        {
            return true;
        }

        // Refusals with no full second free of refusals between them add up; past the threshold it is abuse.
        if (_rateRefusals > 0 && now - _lastRateRefusalAt > _runtime.Time.TimestampFrequency)
        {
            _rateRefusals = 0;
        }

        _rateRefusals++;
        _lastRateRefusalAt = now;
        if (_rateRefusals > options.RateLimitAbuseThreshold)
        {
            Log.RateLimitAbused(_runtime.Logger, Now(), Id, UserId, RemoteEndPoint);
            StartTeardown(CloseCode.PolicyViolation.WithReason("rate_limit_abused"), DisconnectInitiator.Server);
        }

        return false;
    }
}
