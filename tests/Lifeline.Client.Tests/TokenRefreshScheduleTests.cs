using Lifeline.Client.Internal;

namespace Lifeline.Client.Tests;

/// <summary>When a token is refreshed and how failed refreshes are spaced (issue 14), as pure arithmetic.</summary>
public class TokenRefreshScheduleTests
{
    private static readonly TimeSpan Margin = LifelineClientOptions.DefaultTokenRefreshMargin;

    [Theory]
    [InlineData(3_000, 2_400)]             // short token: 80% alone (the 30 s margin does not fit)
    [InlineData(30_000, 24_000)]           // not longer than the margin: 80%
    [InlineData(31_000, 24_800)]           // just over the margin: not 1 s after the welcome, but at 80% (the floor)
    [InlineData(40_000, 30_000)]           // 30 s before would be 10 s: the floor min(80%, 30 s) = 30 s
    [InlineData(60_000, 30_000)]           // 30 s before comes first
    [InlineData(149_000, 119_000)]         // still the margin
    [InlineData(150_000, 120_000)]         // both agree
    [InlineData(3_600_000, 2_880_000)]     // long token: 80% comes first
    [InlineData(0, 0)]                     // already expired: at once
    [InlineData(-5, 0)]
    public void RefreshDue_IsTheEarlierOf80PercentAnd30sBefore_NeverBeforeTheSmallerOfThem(long lifetimeMs, long expectedMs)
    {
        var due = TokenRefreshSchedule.RefreshDue(TimeSpan.FromMilliseconds(lifetimeMs), LifelineClientOptions.DefaultTokenRefreshRatio, Margin);
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), due);
    }

    [Theory]
    [InlineData(200, 600, 200)]      // the policy's delay fits
    [InlineData(1_000, 600, 300)]    // capped at half the time left
    [InlineData(0, 600, 100)]        // never below the floor
    [InlineData(0, 100, null)]       // the floor does not fit before the expiry: stop
    [InlineData(200, 0, null)]       // expired: stop
    [InlineData(-1, 600, 100)]
    public void RetryDelay_FitsBeforeTheExpiry(long policyMs, long remainingMs, int? expectedMs)
    {
        var delay = TokenRefreshSchedule.RetryDelay(TimeSpan.FromMilliseconds(policyMs), TimeSpan.FromMilliseconds(remainingMs));
        Assert.Equal(expectedMs is { } e ? TimeSpan.FromMilliseconds(e) : null, delay);
    }

    [Fact]
    public void RetryDelay_StopsWhenThePolicyGivesUp() =>
        Assert.Null(TokenRefreshSchedule.RetryDelay(null, TimeSpan.FromSeconds(10)));

    [Fact]
    public void RetryDelay_HalvingEnds_AFiniteNumberOfTriesBeforeTheExpiry()
    {
        // A policy that always asks for 30 s against a 3 s token refreshed at 2.4 s: the tries crowd towards the expiry
        // but stop (the floor), instead of halving forever.
        var remaining = TimeSpan.FromMilliseconds(600);
        var tries = 0;
        while (TokenRefreshSchedule.RetryDelay(TimeSpan.FromSeconds(30), remaining) is { } wait)
        {
            Assert.True(wait < remaining);
            remaining -= wait;
            tries++;
            Assert.True(tries < 10);
        }

        Assert.InRange(tries, 2, 5);
    }
}
