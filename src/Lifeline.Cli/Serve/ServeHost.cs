using Lifeline.Engine;
using Lifeline.Cli.Logging;
using Lifeline.Cli.Parsing;
using Lifeline.Redis;
using Lifeline.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lifeline.Cli.Serve;

/// <summary>A built, not yet started, <c>lifeline serve</c> application and the settings it was built from.</summary>
/// <param name="App">The web application.</param>
/// <param name="Settings">The resolved settings.</param>
internal sealed record ServeApp(WebApplication App, ServeSettings Settings);

/// <summary>
/// Builds the web application behind <c>lifeline serve</c>: configuration, Kestrel on <c>http://{bind}:{port}</c>,
/// logging, <c>AddLifeline</c>, <c>MapLifeline(path)</c>, <c>GET /healthz</c>, <c>GET /metrics</c> (Prometheus),
/// <c>GET /dashboard</c>, the browser client and demo (<see cref="BrowserAssets"/>) and, when asked, the test endpoints.
/// </summary>
internal static class ServeHost
{
    /// <summary>The health endpoint's path.</summary>
    public const string HealthPath = "/healthz";

    /// <summary>The Prometheus scraping endpoint's path.</summary>
    public const string MetricsPath = LifelineMetricsExtensions.DefaultMetricsPath;

    /// <summary>The dashboard page's path.</summary>
    public const string DashboardPath = LifelineMetricsExtensions.DefaultDashboardPath;

    /// <summary>Test-only endpoint that pauses the server's pings (<see cref="LifelineServer.PingsPaused"/>).</summary>
    public const string PausePingsPath = "/_test/pause-pings";

    /// <summary>Test-only endpoint that resumes the server's pings.</summary>
    public const string ResumePingsPath = "/_test/resume-pings";

    /// <summary>
    /// Log levels when configuration says nothing: Information for Lifeline, Warning for the framework. They are the
    /// lowest-precedence configuration source, so <c>Logging__LogLevel__Lifeline=Debug</c> and appsettings.json win.
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, string?> DefaultLogLevels = new Dictionary<string, string?>
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Lifeline"] = "Information",
        ["Logging:LogLevel:Microsoft"] = "Warning",
        ["Logging:LogLevel:System"] = "Warning",
    };

    /// <summary>Builds the application without starting it.</summary>
    /// <param name="flags">What the command line said.</param>
    /// <param name="contentRoot">Where the overriding appsettings.json is read; the current directory by default.</param>
    /// <param name="configFile">The file of <c>--config</c> (<see cref="ServeConfigFile"/>), or null.</param>
    /// <returns>The application and its settings.</returns>
    /// <exception cref="ServeSettingsException">A setting cannot be used (unreadable configuration, a bad <c>--config</c> file, or refused by <see cref="LifelineOptionsValidator"/>).</exception>
    public static ServeApp Build(ServeFlags flags, string? contentRoot = null, string? configFile = null)
    {
        // Read and checked before anything is built: a bad file stops the start with every problem named.
        var fileValues = configFile is null ? null : ServeConfigFile.Read(configFile);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            // The command line belongs to System.CommandLine; the host must not read it as configuration.
            Args = [],
            ContentRootPath = contentRoot ?? Directory.GetCurrentDirectory(),
        });
        AddLowPrecedenceSources(builder.Configuration, builder.Environment.ContentRootPath);
        if (fileValues is not null)
        {
            AddConfigFileSource(builder.Configuration, fileValues);
        }

        var settings = ServeSettings.Resolve(builder.Configuration, flags);

        builder.WebHost.UseUrls(settings.ListenUrl);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            ApplyConnectionLimits(kestrel.Limits, settings.Get(ServeSettingTable.HandshakeTimeout));
            if (settings.Get(ServeSettingTable.Listener) == ListenerKind.Lean)
            {
                // Every endpoint of --bind/--port (UseUrls): the lean listener takes the upgrades, MapLifeline the rest.
                kestrel.ConfigureEndpointDefaults(listen => listen.UseLifeline(settings.Get(ServeSettingTable.Path)));
            }
        });
        ConsoleLogging.Configure(builder.Logging, settings.Get(ServeSettingTable.LogFormat));
        builder.Services.Configure<HostOptions>(o =>
        {
            // The drain runs inside the host's stop; give it its whole timeout and a margin.
            if (o.ShutdownTimeout < settings.ShutdownTimeout)
            {
                o.ShutdownTimeout = settings.ShutdownTimeout;
            }
        });
        if (settings.Get(ServeSettingTable.Auth) == AuthMode.Dev)
        {
            builder.Services.AddSingleton<ILifelineAuthenticator, DevTokenAuthenticator>();
        }
        else if (settings.Get(ServeSettingTable.Auth) == AuthMode.Jwt)
        {
            // The token's claims reach the policy through ChannelRequest.Claims (AuthenticationResult.Claims, kept per connection).
            builder.Services.AddSingleton<ILifelineAuthenticator>(JwtAuthentication.Create(settings));
            builder.Services.AddSingleton<IChannelPolicy, ChannelsClaimPolicy>();
        }

        // Read and checked before the host is built: an empty file or a bad key stops the start.
        var apiKeys = settings.Get(ServeSettingTable.ApiKeyFile) is { } keyFile ? Api.ApiKeys.Load(keyFile) : null;
        if (apiKeys is not null)
        {
            Api.ServerApi.AddServices(builder.Services);
        }

        builder.Services.Configure<MemoryEngineOptions>(settings.Apply);
        builder.Services.AddLifeline(settings.Apply);
        builder.Services.AddLifelineMetrics();
        if (settings.Get(ServeSettingTable.Redis) is not null)
        {
            // The engine's other settings (NodeTtl, HistorySize, ...) come from configuration section Lifeline:RedisEngine.
            var engineSection = builder.Configuration.GetSection(ServeSettings.SectionName + ":RedisEngine");
            builder.Services.AddLifelineRedis(o =>
            {
                engineSection.Bind(o);
                settings.Apply(o);
            });
        }

        var app = builder.Build();
        app.MapGet(HealthPath, (LifelineServer server, Lifeline.Engine.ILifelineEngine engine) => server.IsDraining
            ? Results.Json(new HealthReport("draining", null), CliJsonContext.Default.HealthReport, statusCode: StatusCodes.Status503ServiceUnavailable)
            : Results.Json(
                // Redis down: the node keeps its connections (and says so); publishes fail with unavailable until it returns.
                new HealthReport(engine is Lifeline.Redis.RedisEngine { IsConnected: false } ? "degraded" : "ok", server.ConnectionCount),
                CliJsonContext.Default.HealthReport));
        try
        {
            // MapLifeline resolves the server's options: impossible values (zero durations, tiny sizes) fail here.
            app.MapLifeline(settings.Get(ServeSettingTable.Path));
            app.MapLifelineMetrics(MetricsPath);
            app.MapLifelineDashboard(DashboardPath, MetricsPath);
        }
        catch (OptionsValidationException ex)
        {
            ((IDisposable)app).Dispose();
            throw new ServeSettingsException(string.Join(Environment.NewLine, ex.Failures), ex);
        }

        if (apiKeys is not null)
        {
            Api.ServerApi.Map(app, apiKeys);
        }

        BrowserAssets.Map(app, settings.Get(ServeSettingTable.Path));
        if (settings.Get(ServeSettingTable.TestEndpoints))
        {
            MapTestEndpoints(app);
        }

        return new ServeApp(app, settings);
    }

    /// <summary>
    /// Bounds what Kestrel holds before a connection reaches Lifeline by the hello's own bound, the handshake timeout
    /// (default 10 s): a TCP connection that sends no request (Kestrel's <see cref="Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerLimits.KeepAliveTimeout"/>,
    /// 130 s by default, applies to it) or whose request headers do not all arrive
    /// (<see cref="Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerLimits.RequestHeadersTimeout"/>, 30 s by default)
    /// is closed after that long. Such connections are what a reconnect attempt leaves behind when its client vanishes
    /// between the TCP handshake and the upgrade request (its reset or FIN lost on the way): the server never hears of
    /// it and, with Kestrel's defaults, holds an ESTABLISHED socket for 130 s. Kestrel checks these limits once a second.
    /// </summary>
    /// <param name="limits">Kestrel's limits.</param>
    /// <param name="handshakeTimeout">The handshake timeout (<see cref="LifelineOptions.HandshakeTimeout"/>).</param>
    internal static void ApplyConnectionLimits(Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerLimits limits, TimeSpan handshakeTimeout)
    {
        limits.KeepAliveTimeout = handshakeTimeout;
        limits.RequestHeadersTimeout = handshakeTimeout;
    }

    /// <summary>Starts <paramref name="serve"/>, logs the startup line, waits for SIGTERM/Ctrl+C (or <paramref name="cancellationToken"/>), stops gracefully.</summary>
    /// <param name="serve">The built application.</param>
    /// <param name="cancellationToken">Stops the server when cancelled (the host also stops on SIGTERM and Ctrl+C).</param>
    /// <returns>When the host has stopped and every connection is drained.</returns>
    public static async Task RunAsync(ServeApp serve, CancellationToken cancellationToken)
    {
        var (app, settings) = serve;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(ServeLog.Category);
        if (settings.Get(ServeSettingTable.Auth) == AuthMode.Dev)
        {
            ServeLog.DevAuthenticator(logger);
        }

        if (settings.Get(ServeSettingTable.TestEndpoints))
        {
            ServeLog.TestEndpointsEnabled(logger);
        }

        var server = app.Services.GetRequiredService<LifelineServer>();
        using var stopping = app.Lifetime.ApplicationStopping.Register(() =>
            ServeLog.Stopping(logger, server.ConnectionCount, DurationParser.Format(settings.Get(ServeSettingTable.DrainTimeout))));

        await app.StartAsync(cancellationToken);
        var urls = ListeningUrls(app);
        ServeLog.Listening(
            logger,
            string.Join(' ', urls),
            string.Join(' ', urls.Select(u => "ws" + u[4..] + settings.Get(ServeSettingTable.Path))),
            string.Join(' ', urls.Select(u => u + HealthPath)),
            ServeSettingTable.Auth.Kind.Format(settings.Get(ServeSettingTable.Auth)),
            DurationParser.Format(settings.Get(ServeSettingTable.HeartbeatInterval)),
            DurationParser.Format(settings.Get(ServeSettingTable.HeartbeatTimeout)));

        await app.WaitForShutdownAsync(cancellationToken);
        ServeLog.Stopped(logger);
    }

    /// <summary>The addresses Kestrel actually listens on (port 0 resolved).</summary>
    /// <param name="app">A started application.</param>
    /// <returns>For example <c>http://127.0.0.1:8080</c>.</returns>
    public static IReadOnlyList<string> ListeningUrls(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];

    private static void AddLowPrecedenceSources(ConfigurationManager configuration, string contentRoot)
    {
        var sources = configuration.Sources;
        var index = 0;
        sources.Insert(index++, new MemoryConfigurationSource { InitialData = DefaultLogLevels });

        // appsettings.json next to the binary, below the one in the current directory (and below the environment).
        var baseDir = AppContext.BaseDirectory;
        if (!string.Equals(Path.GetFullPath(baseDir).TrimEnd(Path.DirectorySeparatorChar), Path.GetFullPath(contentRoot).TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal))
        {
            var json = new JsonConfigurationSource { Path = Path.Combine(baseDir, "appsettings.json"), Optional = true, ReloadOnChange = false };
            json.ResolveFileProvider();
            sources.Insert(index, json);
        }
    }

    /// <summary>
    /// The <c>--config</c> file's values go just below the (unprefixed) environment variables: above both
    /// <c>appsettings.json</c> files, below <c>Lifeline__*</c> variables and flags.
    /// </summary>
    private static void AddConfigFileSource(ConfigurationManager configuration, IReadOnlyDictionary<string, string?> values)
    {
        var sources = configuration.Sources;
        var source = new MemoryConfigurationSource { InitialData = values };
        var environment = sources.ToList().FindIndex(s => s is Microsoft.Extensions.Configuration.EnvironmentVariables.EnvironmentVariablesConfigurationSource { Prefix: null or "" });
        if (environment < 0)
        {
            sources.Add(source);
        }
        else
        {
            sources.Insert(environment, source);
        }
    }

    private static void MapTestEndpoints(WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(ServeLog.Category);
        app.MapPost(PausePingsPath, (LifelineServer server) =>
        {
            server.PingsPaused = true;
            ServeLog.PingsSwitched(logger, "paused");
            return Results.NoContent();
        });
        app.MapPost(ResumePingsPath, (LifelineServer server) =>
        {
            server.PingsPaused = false;
            ServeLog.PingsSwitched(logger, "resumed");
            return Results.NoContent();
        });
    }
}
