using Microsoft.Extensions.Hosting;

namespace Lifeline.Server.Connections;

/// <summary>
/// Drains the server when the host stops (SIGTERM, Ctrl+C, StopAsync). <see cref="IHostedLifecycleService.StoppingAsync"/>
/// runs before Kestrel stops, so every client gets its 1001 before the listener goes away.
/// </summary>
internal sealed class ShutdownService(LifelineServer server, HeartbeatScheduler scheduler) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => server.DrainAsync();

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        scheduler.Dispose();
        return Task.CompletedTask;
    }
}
