using System.Collections.Concurrent;
using Lifeline.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lifeline.Server.Tests.Infrastructure;

/// <summary>A real Kestrel server with Lifeline mapped at /ws on 127.0.0.1 (port 0 unless given).</summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestServer(WebApplication app, int port, TestLogSink logs, DisconnectRecorder disconnects)
    {
        _app = app;
        Port = port;
        Logs = logs;
        Disconnects = disconnects;
    }

    public int Port { get; }

    public Uri WsUri => new($"ws://127.0.0.1:{Port}/ws");

    public TestLogSink Logs { get; }

    public DisconnectRecorder Disconnects { get; }

    public IServiceProvider Services => _app.Services;

    public LifelineServer Lifeline => _app.Services.GetRequiredService<LifelineServer>();

    internal Lifeline.Server.Connections.LifelineRuntime Runtime => _app.Services.GetRequiredService<Lifeline.Server.Connections.LifelineRuntime>();

    public static async Task<TestServer> StartAsync(Action<LifelineOptions>? configure = null, Action<IServiceCollection>? services = null, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var logs = new TestLogSink();
        var disconnects = new DisconnectRecorder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(logs);
        builder.Services.AddLifeline(o =>
        {
            o.Events.OnDisconnected = disconnects.RecordAsync;
            configure?.Invoke(o);
        });
        services?.Invoke(builder.Services);
        var app = builder.Build();
        app.MapLifeline("/ws");
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestServer(app, new Uri(address).Port, logs, disconnects);
    }

    public Task StopAsync() => _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Records every OnDisconnected call and lets tests await a count.</summary>
public sealed class DisconnectRecorder
{
    private readonly ConcurrentQueue<DisconnectedContext> _calls = new();
    private readonly Lock _lock = new();
    private readonly List<(int Count, TaskCompletionSource Tcs)> _waiters = [];

    public IReadOnlyCollection<DisconnectedContext> Calls => _calls;

    public ValueTask RecordAsync(DisconnectedContext context)
    {
        _calls.Enqueue(context);
        lock (_lock)
        {
            foreach (var w in _waiters.Where(w => _calls.Count >= w.Count).ToList())
            {
                w.Tcs.TrySetResult();
                _waiters.Remove(w);
            }
        }

        return ValueTask.CompletedTask;
    }

    public Task WaitForCountAsync(int count, TimeSpan? timeout = null)
    {
        lock (_lock)
        {
            if (_calls.Count >= count)
            {
                return Task.CompletedTask;
            }

            var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, tcs));
            return tcs.Task.WaitAsync(timeout ?? TestTimeouts.Default);
        }
    }

    public async Task<DisconnectedContext> WaitForAsync(string connectionId, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        while (true)
        {
            var found = _calls.FirstOrDefault(c => c.ConnectionId == connectionId);
            if (found is not null)
            {
                return found;
            }

            await WaitForCountAsync(_calls.Count + 1, timeout ?? TestTimeouts.Default);
        }
    }
}

public static class TestTimeouts
{
    /// <summary>Generous bound for anything that should happen "soon" on a loaded 2-core CI machine.</summary>
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(20);
}
