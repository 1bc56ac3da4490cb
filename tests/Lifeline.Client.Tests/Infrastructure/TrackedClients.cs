using Lifeline.Client.Internal;

namespace Lifeline.Client.Tests.Infrastructure;

/// <summary>
/// The .NET clients a test creates, each with its logger: disposed at the end of the test, after which no client may
/// have logged an error. What worked is remembered per URL for the process (<see cref="TransportLadder"/>): the URLs
/// are forgotten too, so that a later test's server on the same port starts fresh.
/// </summary>
internal sealed class TrackedClients
{
    private readonly List<LifelineClient> _clients = [];
    private readonly List<TestLogger> _loggers = [];
    private readonly HashSet<Uri> _urls = [];

    /// <summary>Creates a client of <paramref name="url"/>, logging to <paramref name="logger"/> (a new one when null).</summary>
    public LifelineClient Create(Uri url, LifelineClientOptions options, TestLogger? logger = null)
    {
        logger ??= new TestLogger();
        _loggers.Add(logger);
        _urls.Add(url);
        var client = new LifelineClient(url, options, logger);
        _clients.Add(client);
        return client;
    }

    /// <summary>Disposes every client (each within the default timeout) and forgets their URLs' transports.</summary>
    public async Task DisposeAllAsync()
    {
        foreach (var client in _clients)
        {
            await client.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Default);
        }

        foreach (var url in _urls)
        {
            TransportLadder.Forget(url);
        }
    }

    /// <summary>Fails when any client logged an error, other than the event names in <paramref name="expected"/>.</summary>
    public void AssertNoErrors(IReadOnlySet<string>? expected = null)
    {
        var unexpected = _loggers
            .SelectMany(l => l.Entries)
            .Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error && expected?.Contains(e.EventName) != true)
            .Select(e => $"{e.EventName}: {e.Message} {e.Exception}")
            .ToList();
        Assert.True(unexpected.Count == 0, "unexpected error logs:\n" + string.Join('\n', unexpected));
    }
}
