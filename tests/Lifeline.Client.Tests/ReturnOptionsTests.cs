namespace Lifeline.Client.Tests;

/// <summary>The options of issue 15: defaults and bad values.</summary>
public class ReturnOptionsTests
{
    [Fact]
    public void Defaults_NetworkAwarenessOn_OptimisticOff_TenUpdateRetries()
    {
        var o = new LifelineClientOptions();
        Assert.True(o.NetworkAwareness);
        Assert.False(o.Optimistic);
        Assert.Equal(LifelineClientOptions.DefaultUpdateRetryLimit, o.UpdateRetryLimit);
        Assert.Equal(10, o.UpdateRetryLimit);
    }

    [Fact]
    public void ANegativeUpdateRetryLimit_IsRejectedAtConstruction_AndZeroIsAllowed()
    {
        var url = new Uri("ws://127.0.0.1:1/ws");
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new LifelineClient(url, new LifelineClientOptions { UpdateRetryLimit = -1 }));
        Assert.Equal("UpdateRetryLimit", ex.ParamName);
        _ = new LifelineClient(url, new LifelineClientOptions { UpdateRetryLimit = 0 });
    }
}
