using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lifeline.Testing;

/// <summary>
/// The one place tests start Kestrel: a slim <see cref="WebApplication"/> on 127.0.0.1 (port 0 unless given: real sockets
/// on an ephemeral port, STYLE.md point 14). An exception that escapes the request pipeline is kept and rethrown on dispose
/// (aspnetcore's <c>KestrelWebSocketHelpers</c>), so a server-side failure fails the test that caused it.
/// <see cref="TestServer"/> maps Lifeline on it; a test that plays the server itself maps its own endpoint.
/// </summary>
public sealed class TestKestrel : IAsyncDisposable
{
    private readonly ConcurrentQueue<Exception> _serverExceptions;
    private int _disposed;

    private TestKestrel(WebApplication app, ConcurrentQueue<Exception> serverExceptions)
    {
        App = app;
        _serverExceptions = serverExceptions;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Port = new Uri(address).Port;
    }

    /// <summary>The running application.</summary>
    public WebApplication App { get; }

    /// <summary>The port it listens on.</summary>
    public int Port { get; }

    /// <summary>The application's services.</summary>
    public IServiceProvider Services => App.Services;

    /// <summary>Exceptions that escaped the request pipeline so far.</summary>
    public IReadOnlyCollection<Exception> ServerExceptions => _serverExceptions;

    /// <summary><c>ws://127.0.0.1:{Port}{path}</c>.</summary>
    public Uri WebSocketUri(string path = "/ws") => new($"ws://127.0.0.1:{Port}{path}");

    /// <summary>
    /// Builds and starts the application. <paramref name="logging"/> receives every log event (the providers are cleared
    /// first, so nothing reaches the console); <paramref name="configureBuilder"/> adds services; <paramref name="configureApp"/>
    /// maps endpoints; <paramref name="listen"/>, when given, configures the endpoint (for example <c>UseLifeline</c>, the
    /// lean listener).
    /// </summary>
    public static async Task<TestKestrel> StartAsync(
        Action<WebApplicationBuilder>? configureBuilder,
        Action<WebApplication> configureApp,
        ILoggerProvider? logging = null,
        LogLevel minimumLevel = LogLevel.Debug,
        int port = 0,
        Action<Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions>? listen = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        if (listen is null)
        {
            builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        }
        else
        {
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, port, listen));
        }

        builder.Logging.ClearProviders();
        if (logging is not null)
        {
            builder.Logging.SetMinimumLevel(minimumLevel);
            builder.Logging.AddProvider(logging);
        }

        configureBuilder?.Invoke(builder);
        var app = builder.Build();
        var exceptions = new ConcurrentQueue<Exception>();
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (Exception ex)
            {
                exceptions.Enqueue(ex);
                throw;
            }
        });
        configureApp(app);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync(); // e.g. options validation failed: nothing is left listening or running
            throw;
        }

        return new TestKestrel(app, exceptions);
    }

    /// <summary>Stops the server (graceful, bounded to 30 s); a test may do this before dispose.</summary>
    public async Task StopAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await App.StopAsync(cts.Token);
    }

    /// <summary>Stops and disposes the server, then rethrows what escaped its pipeline.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync();
        await App.DisposeAsync();
        if (!_serverExceptions.IsEmpty)
        {
            throw new AggregateException("the server's request pipeline threw", _serverExceptions);
        }
    }
}
