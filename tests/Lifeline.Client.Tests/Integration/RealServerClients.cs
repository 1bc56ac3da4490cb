using Lifeline.Client.Tests.Infrastructure;

namespace Lifeline.Client.Tests.Integration;

/// <summary>
/// A real server (heartbeat 500 ms / 500 ms) and the .NET clients a test connects to it, each with its own logger; at
/// the end every client is disposed, the server stopped, and no client may have logged an error.
/// </summary>
public abstract class RealServerClients : IAsyncLifetime
{
    private readonly List<LifelineClient> _clients = [];
    private readonly List<TestLogger> _loggers = [];

    /// <summary>The server of the test.</summary>
    protected TestServer Server { get; private set; } = null!;

    /// <inheritdoc />
    public async Task InitializeAsync() => Server = await RealServer.StartAsync(TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(500));

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        foreach (var client in _clients)
        {
            await client.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Default);
        }

        await Server.DisposeAsync();
        Assert.DoesNotContain(_loggers.SelectMany(l => l.Entries), e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
    }

    /// <summary>Connects a client whose token is <paramref name="user"/> (the user id), retrying every 20 ms.</summary>
    protected async Task<LifelineClient> ConnectAsync(string user)
    {
        var logger = new TestLogger();
        _loggers.Add(logger);
        var client = new LifelineClient(Server.Url, new LifelineClientOptions { Token = user, ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(20)) }, logger);
        _clients.Add(client);
        await client.ConnectAsync().DefaultTimeout();
        return client;
    }
}
