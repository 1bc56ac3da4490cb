using System.Collections.Concurrent;
using System.Net;
using Lifeline.Bench.Measure;
using Lifeline.Bench.Net;

namespace Lifeline.Bench.Protocols;

/// <summary>What a bulk connect achieved.</summary>
internal sealed record ConnectResult(IReadOnlyList<BenchClient> Clients, int Failures, string? FirstError, TimeSpan Elapsed);

/// <summary>Opens many clients with bounded concurrency, each from a spread loopback source address.</summary>
internal static class ClientPool
{
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Opens <paramref name="count"/> clients (indexes <paramref name="firstIndex"/>.. for the source addresses).</summary>
    public static async Task<ConnectResult> ConnectAsync(
        IProtocolAdapter adapter, IPEndPoint server, int count, DeliverySink? sink, CancellationToken cancellationToken,
        int firstIndex = 0, int concurrency = 128, TimeSpan? timeout = null)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var clients = new ConcurrentBag<BenchClient>();
        var failures = 0;
        string? firstError = null;
        await Parallel.ForEachAsync(
            Enumerable.Range(firstIndex, count),
            new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                try
                {
                    clients.Add(await BenchClient.ConnectAsync(adapter, server, SourceAddresses.For(i), sink, timeout ?? DefaultConnectTimeout, ct));
                }
                catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    Interlocked.Increment(ref failures);
                    Interlocked.CompareExchange(ref firstError, ex.GetType().Name + ": " + ex.Message, null);
                }
            });
        return new ConnectResult(clients.ToArray(), failures, firstError, started.Elapsed);
    }

    public static void AbortAll(IEnumerable<BenchClient> clients)
    {
        foreach (var client in clients)
        {
            client.Abort();
        }
    }
}
