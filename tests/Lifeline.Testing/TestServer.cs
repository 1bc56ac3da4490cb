using Lifeline.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lifeline.Testing;

/// <summary>
/// The real Lifeline server (<c>AddLifeline</c>, <c>MapLifeline("/ws")</c>) on <see cref="TestKestrel"/>: 127.0.0.1, port 0
/// unless given; with <c>lean</c>, the endpoint also has the lean listener (<c>UseLifeline("/ws")</c>), which then takes
/// the WebSocket upgrades while everything else (the HTTP transport) still goes through <c>MapLifeline</c>. It records every connect and disconnect (<see cref="Connects"/>, <see cref="Disconnects"/>; a test that
/// sets its own hook replaces the recorder), captures the log (<see cref="Logs"/>), and on dispose fails the test when the
/// server logged an Error event not listed in <c>expectedErrors</c> or its pipeline threw.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly TestKestrel _kestrel;
    private int _disposed;

    private TestServer(TestKestrel kestrel, TestLogSink logs, ConnectRecorder connects, DisconnectRecorder disconnects)
    {
        _kestrel = kestrel;
        Logs = logs;
        Connects = connects;
        Disconnects = disconnects;
    }

    /// <summary>The port it listens on.</summary>
    public int Port => _kestrel.Port;

    /// <summary><c>ws://127.0.0.1:{Port}/ws</c>.</summary>
    public Uri WsUri => _kestrel.WebSocketUri();

    /// <summary>The same as <see cref="WsUri"/>.</summary>
    public Uri Url => WsUri;

    /// <summary>The server's log.</summary>
    public TestLogSink Logs { get; }

    /// <summary>Every <c>OnConnected</c> call.</summary>
    public ConnectRecorder Connects { get; }

    /// <summary>Every <c>OnDisconnected</c> call.</summary>
    public DisconnectRecorder Disconnects { get; }

    /// <summary>The application's services.</summary>
    public IServiceProvider Services => _kestrel.Services;

    /// <summary>The server's API (publish, channels, drain).</summary>
    public LifelineServer Lifeline => Services.GetRequiredService<LifelineServer>();

    /// <summary>
    /// Starts a server. <paramref name="configure"/> sets options after the recorders are installed;
    /// <paramref name="services"/> adds or replaces services; <paramref name="authenticator"/> (for example
    /// <see cref="TokenIsUserAuthenticator"/>) replaces the default one; <paramref name="expectedErrors"/> names the Error
    /// events (by EventId.Name) that are the point of the test; <paramref name="minimumLevel"/> bounds what the log keeps;
    /// <paramref name="lean"/> adds the lean listener on the endpoint.
    /// </summary>
    public static async Task<TestServer> StartAsync(
        Action<LifelineOptions>? configure = null,
        Action<IServiceCollection>? services = null,
        int port = 0,
        ILifelineAuthenticator? authenticator = null,
        IEnumerable<string>? expectedErrors = null,
        LogLevel minimumLevel = LogLevel.Debug,
        bool lean = false)
    {
        var logs = new TestLogSink { MinimumLevel = minimumLevel };
        logs.ExpectError([.. expectedErrors ?? []]);
        var connects = new ConnectRecorder();
        var disconnects = new DisconnectRecorder();
        var kestrel = await TestKestrel.StartAsync(
            builder =>
            {
                builder.Services.AddLifeline(o =>
                {
                    o.Events.OnConnected = connects.RecordAsync;
                    o.Events.OnDisconnected = disconnects.RecordAsync;
                    configure?.Invoke(o);
                });
                if (authenticator is not null)
                {
                    builder.Services.AddSingleton(authenticator);
                }

                services?.Invoke(builder.Services);
            },
            app => app.MapLifeline("/ws"),
            logs,
            minimumLevel,
            port,
            lean ? listen => listen.UseLifeline("/ws") : null);
        return new TestServer(kestrel, logs, connects, disconnects);
    }

    /// <summary>Stops the server (graceful: Lifeline drains); dispose afterwards still checks the log.</summary>
    public Task StopAsync() => _kestrel.StopAsync();

    /// <summary>Stops and disposes the server, then fails on unexpected Error events or pipeline exceptions.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _kestrel.DisposeAsync();
        Logs.AssertNoUnexpectedErrors();
    }
}
