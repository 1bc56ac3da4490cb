using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace Lifeline.Server;

/// <summary>
/// Exposes <see cref="LifelineMetrics"/> in the Prometheus text format through the OpenTelemetry Prometheus exporter,
/// and serves the operator dashboard.
/// </summary>
public static class LifelineMetricsExtensions
{
    /// <summary>The default path of the scraping endpoint.</summary>
    public const string DefaultMetricsPath = "/metrics";

    /// <summary>The default path of the dashboard page.</summary>
    public const string DefaultDashboardPath = "/dashboard";

    /// <summary>
    /// Registers OpenTelemetry metrics for the <see cref="LifelineMetrics.MeterName"/> meter with the Prometheus
    /// exporter. Scrapes are not cached (each scrape reads the instruments and /proc/net/tcp afresh). Call
    /// <see cref="MapLifelineMetrics"/> to expose the endpoint.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddLifelineMetrics(this IServiceCollection services)
    {
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(LifelineMetrics.MeterName)
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        return services;
    }

    /// <summary>
    /// Maps the Prometheus scraping endpoint at <paramref name="pattern"/> and points <c>ws_tcp_close_wait_sockets</c>
    /// at the ports Kestrel listens on (read at each scrape, so port 0 works). Needs <see cref="AddLifelineMetrics"/>
    /// and <c>AddLifeline</c>.
    /// </summary>
    /// <param name="endpoints">The route builder.</param>
    /// <param name="pattern">The path; <see cref="DefaultMetricsPath"/> by default.</param>
    /// <returns>The endpoint convention builder.</returns>
    public static IEndpointConventionBuilder MapLifelineMetrics(this IEndpointRouteBuilder endpoints, string pattern = DefaultMetricsPath)
    {
        var metrics = endpoints.ServiceProvider.GetRequiredService<LifelineMetrics>();
        var server = endpoints.ServiceProvider.GetService<IServer>();
        if (server is not null)
        {
            metrics.ListeningPorts = () => ListeningPorts(server);
        }

        return endpoints.MapPrometheusScrapingEndpoint(pattern);
    }

    /// <summary>
    /// Serves the dashboard at <paramref name="pattern"/>: one self-contained HTML page (no external scripts) that
    /// polls <paramref name="metricsPath"/> and charts active connections, close codes, sync latency and CLOSE_WAIT.
    /// </summary>
    /// <param name="endpoints">The route builder.</param>
    /// <param name="pattern">The page's path; <see cref="DefaultDashboardPath"/> by default.</param>
    /// <param name="metricsPath">The scraping endpoint the page polls; <see cref="DefaultMetricsPath"/> by default.</param>
    /// <returns>The endpoint convention builder.</returns>
    public static IEndpointConventionBuilder MapLifelineDashboard(this IEndpointRouteBuilder endpoints, string pattern = DefaultDashboardPath, string metricsPath = DefaultMetricsPath)
    {
        var html = DashboardPage.Render(metricsPath);
        return endpoints.MapGet(pattern, () => Results.Content(html, "text/html; charset=utf-8")).WithDisplayName("Lifeline dashboard");
    }

    internal static IReadOnlyCollection<int> ListeningPorts(IServer server)
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses;
        if (addresses is null)
        {
            return [];
        }

        var ports = new HashSet<int>();
        foreach (var address in addresses)
        {
            try
            {
                var port = BindingAddress.Parse(address).Port;
                if (port > 0)
                {
                    ports.Add(port);
                }
            }
            catch (FormatException)
            {
                // a unix socket or an address Kestrel has not resolved yet
            }
        }

        return ports;
    }
}
