namespace Lifeline.Client.Tests;

public class RetryPolicyTests
{
    private static RetryContext Attempt(int k) => new(k, TimeSpan.Zero, "test", 1006);

    [Fact]
    public void Defaults_AreBase1sCap30sUnlimited()
    {
        var policy = new ExponentialBackoffRetryPolicy();
        Assert.Equal(TimeSpan.FromSeconds(1), policy.BaseDelay);
        Assert.Equal(TimeSpan.FromSeconds(30), policy.MaxDelay);
        Assert.Null(policy.MaxAttempts);
        Assert.IsType<ExponentialBackoffRetryPolicy>(new LifelineClientOptions().ReconnectPolicy);
    }

    [Fact]
    public void DelayCeiling_DoublesFromBaseAndIsCapped_ForAttempts0To10()
    {
        var policy = new ExponentialBackoffRetryPolicy();
        double[] expectedSeconds = [1, 2, 4, 8, 16, 30, 30, 30, 30, 30, 30];
        for (var k = 0; k <= 10; k++)
        {
            Assert.Equal(TimeSpan.FromSeconds(expectedSeconds[k]), policy.GetDelayCeiling(k));
        }

        Assert.Equal(TimeSpan.FromSeconds(30), policy.GetDelayCeiling(1_000_000));
    }

    [Fact]
    public void Jitter_StaysWithinZeroAndTheCeiling_AndSpreadsOverTheWholeWindow_ForAttempts0To10()
    {
        var policy = new ExponentialBackoffRetryPolicy { Random = new Random(1234) };
        for (var k = 0; k <= 10; k++)
        {
            var ceiling = policy.GetDelayCeiling(k);
            var samples = Enumerable.Range(0, 2000).Select(_ => policy.NextRetryDelay(Attempt(k))!.Value).ToList();
            Assert.All(samples, d => Assert.InRange(d, TimeSpan.Zero, ceiling - TimeSpan.FromTicks(1)));

            // Full jitter: the delays cover the window from (almost) zero to (almost) the ceiling.
            Assert.True(samples.Min() < ceiling * 0.05, $"k={k}: min {samples.Min()} not near 0");
            Assert.True(samples.Max() > ceiling * 0.95, $"k={k}: max {samples.Max()} not near {ceiling}");
        }
    }

    [Fact]
    public void Jitter_IsReproducibleWithASeededRandom()
    {
        var a = new ExponentialBackoffRetryPolicy { Random = new Random(42) };
        var b = new ExponentialBackoffRetryPolicy { Random = new Random(42) };
        for (var k = 0; k <= 10; k++)
        {
            Assert.Equal(a.NextRetryDelay(Attempt(k)), b.NextRetryDelay(Attempt(k)));
        }
    }

    [Fact]
    public void MaxAttempts_GivesUpAfterTheLimit()
    {
        var policy = new ExponentialBackoffRetryPolicy { MaxAttempts = 3, Random = new Random(1) };
        Assert.NotNull(policy.NextRetryDelay(Attempt(0)));
        Assert.NotNull(policy.NextRetryDelay(Attempt(2)));
        Assert.Null(policy.NextRetryDelay(Attempt(3)));
        Assert.Null(policy.NextRetryDelay(Attempt(10)));
        Assert.Null(new ExponentialBackoffRetryPolicy { MaxAttempts = 0 }.NextRetryDelay(Attempt(0)));
    }

    [Fact]
    public void Unlimited_NeverGivesUp()
    {
        var policy = new ExponentialBackoffRetryPolicy();
        Assert.InRange(policy.NextRetryDelay(Attempt(100_000))!.Value, TimeSpan.Zero, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void CustomBaseAndCap_AreUsed()
    {
        var policy = new ExponentialBackoffRetryPolicy { BaseDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromMilliseconds(500) };
        Assert.Equal(TimeSpan.FromMilliseconds(100), policy.GetDelayCeiling(0));
        Assert.Equal(TimeSpan.FromMilliseconds(400), policy.GetDelayCeiling(2));
        Assert.Equal(TimeSpan.FromMilliseconds(500), policy.GetDelayCeiling(3));
    }

    [Fact]
    public void ImpossibleValues_AreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ExponentialBackoffRetryPolicy { BaseDelay = TimeSpan.Zero });
        Assert.Throws<ArgumentOutOfRangeException>(() => new ExponentialBackoffRetryPolicy { MaxDelay = TimeSpan.FromSeconds(-1) });
        Assert.Throws<ArgumentOutOfRangeException>(() => new ExponentialBackoffRetryPolicy { MaxAttempts = -1 });
        Assert.Throws<ArgumentNullException>(() => new ExponentialBackoffRetryPolicy { Random = null! });
    }
}
