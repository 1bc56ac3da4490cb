using System.Collections.Concurrent;
using Lifeline.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lifeline.Client.Tests.Integration;

/// <summary>The real Lifeline server (AddLifeline/MapLifeline) in process on 127.0.0.1.</summary>
internal sealed class RealServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _disposed;

    private readonly ConcurrentQueue<ConnectedContext> _connected;
    private readonly ConcurrentQueue<DisconnectedContext> _disconnected;

    private RealServer(WebApplication app, int port, ConcurrentQueue<ConnectedContext> connected, ConcurrentQueue<DisconnectedContext> disconnected)
    {
        _app = app;
        Port = port;
        _connected = connected;
        _disconnected = disconnected;
    }

    public int Port { get; }

    public Uri Url => new($"ws://127.0.0.1:{Port}/ws");

    public LifelineServer Lifeline => _app.Services.GetRequiredService<LifelineServer>();

    /// <summary>Starts a server; tokens are user ids, and the token <c>bad</c> is refused with 4001.</summary>
    public static async Task<RealServer> StartAsync(TimeSpan heartbeatInterval, TimeSpan heartbeatTimeout, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<ILifelineAuthenticator, TestAuthenticator>();
        var connected = new ConcurrentQueue<ConnectedContext>();
        var disconnected = new ConcurrentQueue<DisconnectedContext>();
        builder.Services.AddLifeline(o =>
        {
            o.HeartbeatInterval = heartbeatInterval;
            o.HeartbeatTimeout = heartbeatTimeout;
            o.ShutdownRetrySpread = TimeSpan.FromMilliseconds(100);
            o.DrainTimeout = TimeSpan.FromSeconds(2);
            o.Events.OnConnected = c =>
            {
                connected.Enqueue(c);
                return ValueTask.CompletedTask;
            };
            o.Events.OnDisconnected = c =>
            {
                disconnected.Enqueue(c);
                return ValueTask.CompletedTask;
            };
        });
        var app = builder.Build();
        app.MapLifeline("/ws");
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new RealServer(app, new Uri(address).Port, connected, disconnected);
    }

    public int ConnectedCount => _connected.Count;

    public IReadOnlyList<ConnectedContext> Connects => [.. _connected];

    public IReadOnlyList<DisconnectedContext> Disconnects => [.. _disconnected];

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }

    private sealed class TestAuthenticator : ILifelineAuthenticator
    {
        public ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(context.Token switch
            {
                null or "" => AuthenticationResult.Anonymous,
                "bad" => AuthenticationResult.Fail("bad_token"),
                var token => AuthenticationResult.Success(token),
            });
    }
}
