namespace Lifeline.Server.Prometheus.Tests;

/// <summary>The dashboard page is embedded in this assembly and polls the metrics path it is given.</summary>
public class DashboardPageTests
{
    [Fact]
    public void Render_FillsInTheMetricsPath_AsAJsonString()
    {
        var html = DashboardPage.Render("/custom/metrics\"x");

        Assert.StartsWith("<!", html.TrimStart(), StringComparison.Ordinal);
        Assert.DoesNotContain("__METRICS_PATH__", html, StringComparison.Ordinal);
        Assert.Contains("\"/custom/metrics\\u0022x\"", html, StringComparison.Ordinal);
    }
}
