using System.Reflection;

namespace Lifeline.Server.Prometheus;

/// <summary>The dashboard page, an embedded resource (<c>dashboard.html</c>) with the metrics path filled in.</summary>
internal static class DashboardPage
{
    private const string ResourceName = "Lifeline.Server.Prometheus.dashboard.html";

    public static string Render(string metricsPath)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Replace("__METRICS_PATH__", "\"" + System.Text.Json.JsonEncodedText.Encode(metricsPath).ToString() + "\"", StringComparison.Ordinal);
    }
}
