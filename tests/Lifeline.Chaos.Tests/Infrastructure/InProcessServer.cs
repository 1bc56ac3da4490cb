using System.Collections.Concurrent;
using Lifeline.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lifeline.Chaos.Tests.Infrastructure;

/// <summary>
/// The real Lifeline server (Kestrel, <c>AddLifeline</c>, <c>MapLifeline</c>) in the test process on 127.0.0.1, for the
/// scenarios behind <see cref="FaultProxy"/>: heartbeat 1 s / 1 s like the namespace scenarios, tokens are user ids.
/// </summary>
public sealed class InProcessServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<(DisconnectedContext Context, long At)> _disconnects = new();

    private InProcessServer(WebApplication app, ConcurrentQueue<(DisconnectedContext, long)> disconnects)
    {
        _app = app;
        _disconnects = disconnects;
        Port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
    }

    public int Port { get; }

    public Uri Url => new($"ws://127.0.0.1:{Port}/ws");

    public LifelineServer Lifeline => _app.Services.GetRequiredService<LifelineServer>();

    /// <summary>Every teardown (the disconnected hook), with its <see cref="System.Diagnostics.Stopwatch"/> timestamp.</summary>
    public IReadOnlyList<(DisconnectedContext Context, long At)> Disconnects => [.. _disconnects];

    /// <summary>Starts the server; <paramref name="heartbeatTimeout"/> defaults to <see cref="Harness.Timeout"/> (1 s).</summary>
    public static async Task<InProcessServer> StartAsync(TimeSpan? heartbeatTimeout = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<ILifelineAuthenticator, DevTokenAuthenticator>();
        var disconnects = new ConcurrentQueue<(DisconnectedContext, long)>();
        builder.Services.AddLifeline(o =>
        {
            o.HeartbeatInterval = Harness.Interval;
            o.HeartbeatTimeout = heartbeatTimeout ?? Harness.Timeout;
            o.PresenceGracePeriod = TimeSpan.FromSeconds(2);
            o.Events.OnDisconnected = c =>
            {
                disconnects.Enqueue((c, System.Diagnostics.Stopwatch.GetTimestamp()));
                return ValueTask.CompletedTask;
            };
        });
        var app = builder.Build();
        app.MapLifeline("/ws");
        await app.StartAsync();
        return new InProcessServer(app, disconnects);
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }
}
