using Microsoft.Extensions.Time.Testing;

namespace Lifeline.Client.Tests.Infrastructure;

/// <summary>A scripted server and helpers to make clients against it; everything is disposed after each test.</summary>
public abstract class ClientTestBase : IAsyncLifetime
{
    private readonly TrackedClients _clients = new();

    /// <summary>
    /// Event names of Error-level logs a test expects. Any other Error or Critical log line fails the test: it catches
    /// the quiet failures (a supervisor or receive loop that died) that otherwise only show up as a hang later.
    /// </summary>
    internal HashSet<string> ExpectedErrors { get; } = [];

    internal ScriptedServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await ScriptedServer.StartAsync();

    public async Task DisposeAsync()
    {
        // The server goes first: with a fake clock a client's close handshake is only bounded by fake time,
        // so the peers are aborted rather than left to answer.
        await Server.DisposeAsync();
        await _clients.DisposeAllAsync();
        _clients.AssertNoErrors(ExpectedErrors);
    }

    /// <summary>A client with a fast fixed reconnect delay (override with <paramref name="configure"/>).</summary>
    internal LifelineClient CreateClient(Action<LifelineClientOptions>? configure = null, TestLogger? logger = null, Uri? url = null)
    {
        var options = new LifelineClientOptions
        {
            ReconnectPolicy = RecordingPolicy.Fixed(TimeSpan.FromMilliseconds(20)),
            CloseTimeout = TimeSpan.FromSeconds(2),
        };
        configure?.Invoke(options);
        return _clients.Create(url ?? Server.Url, options, logger);
    }

    /// <summary>Connects <paramref name="client"/> and plays the server's side of the handshake.</summary>
    internal async Task<(ScriptedPeer Peer, System.Text.Json.JsonElement Hello)> ConnectAsync(LifelineClient client, string session = "s1", long intervalMs = 30_000, long timeoutMs = 5_000)
    {
        var connect = client.ConnectAsync();
        var peer = await Server.AcceptAsync();
        var hello = await peer.HandshakeAsync(session, intervalMs, timeoutMs);
        await connect.DefaultTimeout();
        return (peer, hello);
    }

    internal static FakeTimeProvider NewFakeTime() => new(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));

    /// <summary>Asserts that nothing satisfies <paramref name="condition"/> during a short quiet period.</summary>
    internal static async Task AssertStaysFalseAsync(Func<bool> condition, string because)
    {
        var until = DateTime.UtcNow + TestTimeouts.Quiet;
        while (DateTime.UtcNow < until)
        {
            Assert.False(condition(), because);
            await Task.Delay(20);
        }
    }
}
