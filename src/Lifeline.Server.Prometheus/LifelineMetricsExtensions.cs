using Lifeline.Server.Prometheus;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Metrics;

// Namespace Lifeline.Server, not Lifeline.Server.Prometheus: the `using Lifeline.Server;` that finds AddLifeline and
// MapLifeline finds these too, so an application that moves to this package changes a project reference, not its code.
namespace Lifeline.Server;

/// <summary>
/// Exposes <see cref="LifelineMetrics"/>, <c>ws_tcp_close_wait_sockets</c> and the process and .NET runtime metrics in
/// the Prometheus text format through the OpenTelemetry Prometheus exporter, and serves the operator dashboard
/// (package Lifeline.Server.Prometheus; the core Lifeline.Server only emits System.Diagnostics.Metrics).
/// </summary>
public static class LifelineMetricsExtensions
{
    /// <summary>The default path of the scraping endpoint.</summary>
    public const string DefaultMetricsPath = "/metrics";

    /// <summary>The default path of the dashboard page.</summary>
    public const string DefaultDashboardPath = "/dashboard";

    /// <summary>
    /// Registers OpenTelemetry metrics with the Prometheus exporter: the <see cref="LifelineMetrics.MeterName"/> meter
    /// (with <c>ws_tcp_close_wait_sockets</c>), the process instrumentation (resident memory
    /// <c>process_memory_usage_bytes</c>, CPU time, threads) and the .NET runtime instrumentation (GC heap, thread-pool
    /// queue, allocations). Scrapes are not cached (each scrape reads the instruments and /proc/net/tcp afresh). Call
    /// <see cref="MapLifelineMetrics"/> to expose the endpoint.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddLifelineMetrics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton<CloseWaitGauge>();
        services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            metrics
                .AddMeter(LifelineMetrics.MeterName)
                .AddProcessInstrumentation()
                .AddRuntimeInstrumentation();
            foreach (var (instrument, name) in CountRenames)
            {
                metrics.AddView(instrument, name);
            }

            metrics.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
        });
        return services;
    }

    /// <summary>
    /// Gauges of the process and runtime instrumentation whose OpenTelemetry names end in <c>.count</c>: exported as
    /// they are they would end in <c>_count</c>, which Prometheus reserves for histograms and summaries
    /// (<c>promtool check metrics</c> reports each one). They are exported under the plural of their unit instead.
    /// </summary>
    internal static readonly IReadOnlyList<(string Instrument, string Name)> CountRenames =
    [
        ("process.thread.count", "process.threads"),
        ("process.unix.file_descriptor.count", "process.unix.file_descriptors"),
        ("dotnet.thread_pool.thread.count", "dotnet.thread_pool.threads"),
        ("dotnet.process.cpu.count", "dotnet.process.cpus"),
        ("dotnet.assembly.count", "dotnet.assemblies"),
        ("dotnet.timer.count", "dotnet.timers"),
    ];

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
        var closeWait = endpoints.ServiceProvider.GetRequiredService<CloseWaitGauge>();
        var server = endpoints.ServiceProvider.GetService<IServer>();
        if (server is not null)
        {
            closeWait.ListeningPorts = () => ListeningPorts(server);
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
