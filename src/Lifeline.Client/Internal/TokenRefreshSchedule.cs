namespace Lifeline.Client.Internal;

/// <summary>
/// When a token is refreshed (PROTOCOL.md "refresh", issue 14): after <c>ratio</c> of its lifetime, and at the latest
/// <c>margin</c> before it expires, but never before <c>min(ratio * lifetime, margin)</c> (a 31 s token is refreshed
/// at 24.8 s, not after 1 s); the browser client's <c>refreshDelayMs</c> is the same rule. And how long a failed
/// refresh waits before the next try, so that every try happens before the expiry.
/// </summary>
internal static class TokenRefreshSchedule
{
    /// <summary>
    /// The shortest wait between two refresh tries, whatever the retry policy says: a policy of zero delay must not
    /// turn a refused refresh into a request storm, and it ends the halving below before the expiry.
    /// </summary>
    public static readonly TimeSpan MinRetryDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>How long after the lifetime began (welcome or refresh reply received) the refresh is due.</summary>
    /// <param name="lifetime">The token's lifetime (<c>tokenExpiresInMs</c>); negative counts as zero.</param>
    /// <param name="ratio">The share of the lifetime, in (0, 1).</param>
    /// <param name="margin">The latest before the expiry; also the earliest, when the ratio comes later.</param>
    /// <returns>The delay from the start of the lifetime.</returns>
    public static TimeSpan RefreshDue(TimeSpan lifetime, double ratio, TimeSpan margin)
    {
        if (lifetime <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        var atRatio = TimeSpan.FromTicks((long)(lifetime.Ticks * ratio));
        var atMargin = lifetime - margin;
        var latest = atMargin < atRatio ? atMargin : atRatio; // ratio, or margin before the expiry, whichever is first
        var floor = margin < atRatio ? margin : atRatio; // never earlier than this: a lifetime just over the margin
        return latest > floor ? latest : floor;
    }

    /// <summary>
    /// The wait before the next refresh try: the policy's delay, at most half the time left (so a short-lived token still
    /// gets several tries), at least <see cref="MinRetryDelay"/>; null when no try fits before the expiry.
    /// </summary>
    /// <param name="policyDelay">The retry policy's delay, or null when it gave up.</param>
    /// <param name="remaining">The time left until the token expires.</param>
    /// <returns>The wait, or null to stop trying (the server closes with 4002 at the expiry).</returns>
    public static TimeSpan? RetryDelay(TimeSpan? policyDelay, TimeSpan remaining)
    {
        if (policyDelay is not { } delay || remaining <= TimeSpan.Zero)
        {
            return null;
        }

        var half = remaining / 2;
        var wait = delay < half ? delay : half;
        if (wait < MinRetryDelay)
        {
            wait = MinRetryDelay;
        }

        return wait < remaining ? wait : null;
    }
}
