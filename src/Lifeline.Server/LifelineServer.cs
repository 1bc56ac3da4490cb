using Lifeline.Protocol;
using Lifeline.Server.Internal;

namespace Lifeline.Server;

/// <summary>
/// The application's handle on this node's Lifeline server (from DI): live connection figures, disconnecting
/// users, draining, and the test switch that pauses heartbeats.
/// </summary>
public sealed class LifelineServer
{
    private readonly LifelineRuntime _runtime;

    internal LifelineServer(LifelineRuntime runtime) => _runtime = runtime;

    /// <summary>Connections accepted and not yet torn down (including those still in their handshake).</summary>
    public int ConnectionCount => _runtime.Registry.Count;

    /// <summary>Connections that have deadlines in the heartbeat scheduler (equals <see cref="ConnectionCount"/> at rest; 0 when idle).</summary>
    public int ScheduledCount => _runtime.Scheduler.Count;

    /// <summary>True once shutdown began.</summary>
    public bool IsDraining => _runtime.Draining;

    /// <summary>
    /// Test switch: while true the server sends no pings and enforces no pong deadline, so clients can show that
    /// their receive watchdog detects a silent server. Never set this in production.
    /// </summary>
    public bool PingsPaused
    {
        get => _runtime.Scheduler.PingsPaused;
        set => _runtime.Scheduler.PingsPaused = value;
    }

    /// <summary>Closes every connection of <paramref name="userId"/> on this node with <paramref name="code"/>.</summary>
    /// <param name="userId">The user.</param>
    /// <param name="code">The close code (for example <see cref="CloseCode.PolicyViolation"/>).</param>
    /// <returns>How many connections were closed, once their teardown has finished.</returns>
    public async Task<int> DisconnectUserAsync(string userId, CloseCode code)
    {
        var targets = _runtime.Registry.All.Where(c => c.UserId == userId).ToList();
        await Task.WhenAll(targets.Select(c => c.TeardownAsync(code, DisconnectInitiator.Application)));
        return targets.Count;
    }

    /// <summary>
    /// Refuses new connections and closes every connection with 1001 and a <c>retry_after_ms</c> hint spread
    /// uniformly over <see cref="LifelineOptions.ShutdownRetrySpread"/>, in parallel, within
    /// <see cref="LifelineOptions.DrainTimeout"/>; connections still open after that are aborted. Called on host stop.
    /// </summary>
    /// <returns>When every connection is gone.</returns>
    public async Task DrainAsync()
    {
        _runtime.BeginDrain();
        var spreadMs = (int)_runtime.Options.ShutdownRetrySpread.TotalMilliseconds;
        var closing = _runtime.Registry.All.Select(c =>
        {
            var hint = Random.Shared.Next(0, spreadMs + 1);
            var code = CloseCode.GoingAway.WithReason(ProtocolConstants.RetryAfterPrefix + hint.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return c.TeardownAsync(code, DisconnectInitiator.Server);
        }).ToList();
        try
        {
            await Task.WhenAll(closing).WaitAsync(_runtime.Options.DrainTimeout, _runtime.Time);
        }
        catch (TimeoutException)
        {
            foreach (var c in _runtime.Registry.All)
            {
                c.StartTeardown(CloseCode.Abnormal, DisconnectInitiator.Server);
            }
        }
    }
}
