using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lifeline.Server.Internal;

/// <summary>The node-wide services every connection shares, resolved once.</summary>
internal sealed class LifelineRuntime(
    IOptions<LifelineOptions> options,
    TimeProvider time,
    ILoggerFactory loggerFactory,
    ConnectionRegistry registry,
    HeartbeatScheduler scheduler,
    ILifelineAuthenticator authenticator,
    LifelineMetrics metrics)
{
    private volatile bool _draining;

    public LifelineOptions Options { get; } = options.Value;

    public TimeProvider Time { get; } = time;

    public ILogger Logger { get; } = loggerFactory.CreateLogger("Lifeline.Server.Connection");

    public ConnectionRegistry Registry { get; } = registry;

    public HeartbeatScheduler Scheduler { get; } = scheduler;

    public ILifelineAuthenticator Authenticator { get; } = authenticator;

    public LifelineMetrics Metrics { get; } = metrics;

    /// <summary>True once shutdown began: new upgrades are refused and every connection is closed with 1001.</summary>
    public bool Draining => _draining;

    public void BeginDrain() => _draining = true;

    public long ToTimestampTicks(TimeSpan duration) => (long)(duration.TotalSeconds * Time.TimestampFrequency);
}
