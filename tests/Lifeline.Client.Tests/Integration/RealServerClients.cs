using Lifeline.Client.Tests.Infrastructure;

namespace Lifeline.Client.Tests.Integration;

/// <summary>
/// A real server (heartbeat 500 ms / 500 ms unless the suite says otherwise) and the .NET clients a test creates, each
/// with its own logger; at the end every client is disposed, the server stopped, and no client may have logged an
/// error. A test can stop the server and start a new one on the same port (<see cref="StopServerAsync"/>,
/// <see cref="StartServerAsync"/>).
/// </summary>
public abstract class RealServerClients : IAsyncLifetime
{
    private readonly TrackedClients _clients = new();
    private readonly TimeSpan _heartbeatInterval;
    private readonly TimeSpan _heartbeatTimeout;
    private bool _running;

    /// <summary>A suite with the default heartbeat: 500 ms / 500 ms.</summary>
    protected RealServerClients()
        : this(TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(500))
    {
    }

    /// <summary>A suite whose server runs this heartbeat.</summary>
    protected RealServerClients(TimeSpan heartbeatInterval, TimeSpan heartbeatTimeout)
    {
        _heartbeatInterval = heartbeatInterval;
        _heartbeatTimeout = heartbeatTimeout;
    }

    /// <summary>The server of the test (the latest one, after a restart).</summary>
    protected TestServer Server { get; private set; } = null!;

    /// <inheritdoc />
    public Task InitializeAsync() => StartServerAsync();

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        await _clients.DisposeAllAsync();
        await StopServerAsync();
        _clients.AssertNoErrors();
    }

    /// <summary>Starts the server (on <paramref name="port"/>: the port of the one stopped before; 0: any free port).</summary>
    protected async Task StartServerAsync(int port = 0)
    {
        Server = await RealServer.StartAsync(_heartbeatInterval, _heartbeatTimeout, port);
        _running = true;
    }

    /// <summary>Stops the server gracefully (its clients get 1001); returns its port, for <see cref="StartServerAsync"/>.</summary>
    protected async Task<int> StopServerAsync()
    {
        var port = Server.Port;
        if (_running)
        {
            _running = false;
            await Server.DisposeAsync();
        }

        return port;
    }

    /// <summary>Creates a client of the server (or of <paramref name="url"/>), disposed at the end of the test.</summary>
    private protected LifelineClient CreateClient(LifelineClientOptions options, TestLogger? logger = null, Uri? url = null) =>
        _clients.Create(url ?? Server.Url, options, logger);

    /// <summary>
    /// Connects a client whose token is <paramref name="user"/> (the user id), retrying every 20 ms unless
    /// <paramref name="configure"/> says otherwise.
    /// </summary>
    protected async Task<LifelineClient> ConnectAsync(string user, Action<LifelineClientOptions>? configure = null)
    {
        var options = new LifelineClientOptions { Token = user, ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(20)) };
        configure?.Invoke(options);
        var client = CreateClient(options);
        await client.ConnectAsync().DefaultTimeout();
        return client;
    }
}
