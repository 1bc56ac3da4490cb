using Lifeline.Engine;
using Lifeline.Server.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lifeline.Server.Connections;

/// <summary>The node-wide services every connection shares, resolved once.</summary>
internal sealed class LifelineRuntime(
    IOptions<LifelineOptions> options,
    TimeProvider time,
    ILoggerFactory loggerFactory,
    ConnectionRegistry registry,
    HeartbeatScheduler scheduler,
    ILifelineAuthenticator authenticator,
    LifelineMetrics metrics,
    ILifelineEngine engine,
    ChannelHub hub,
    PresenceTracker presence,
    IChannelPolicy channelPolicy)
{
    private volatile bool _draining;

    public LifelineOptions Options { get; } = options.Value;

    public TimeProvider Time { get; } = time;

    public ILogger Logger { get; } = loggerFactory.CreateLogger("Lifeline.Server.Connection");

    public ConnectionRegistry Registry { get; } = registry;

    public HeartbeatScheduler Scheduler { get; } = scheduler;

    public ILifelineAuthenticator Authenticator { get; } = authenticator;

    public LifelineMetrics Metrics { get; } = metrics;

    public ILifelineEngine Engine { get; } = engine;

    public ChannelHub Hub { get; } = hub;

    public PresenceTracker Presence { get; } = presence;

    public IChannelPolicy ChannelPolicy { get; } = channelPolicy;

    /// <summary>The one rule set for publish content (client publishes and <see cref="LifelineServer.PublishAsync"/>).</summary>
    public PublishValidator PublishValidator { get; } = new(options.Value);

    /// <summary>Seams for tests (never set in production): see <see cref="ConnectionTestHooks"/>.</summary>
    public ConnectionTestHooks TestHooks { get; } = new();

    /// <summary>Counters behind the per-address, per-user and pending-handshake limits.</summary>
    public ConnectionLimits Limits { get; } = new();

    /// <summary>Logs of the upgrade path (origin refusals, overload).</summary>
    public ILogger UpgradeLogger { get; } = loggerFactory.CreateLogger("Lifeline.Server.Upgrade");

    /// <summary>The live HTTP-transport connections by send capability.</summary>
    public Transport.HttpConnectionTable HttpConnections { get; } = new();

    /// <summary>True once shutdown began: new upgrades are refused and every connection is closed with 1001.</summary>
    public bool Draining => _draining;

    public void BeginDrain() => _draining = true;

    public long ToTimestampTicks(TimeSpan duration) => (long)(duration.TotalSeconds * Time.TimestampFrequency);
}
