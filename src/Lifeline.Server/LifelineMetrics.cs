using System.Diagnostics.Metrics;
using Lifeline.Protocol;

namespace Lifeline.Server;

/// <summary>
/// The one catalogue of Lifeline's instruments (System.Diagnostics.Metrics, meter <see cref="MeterName"/>).
/// Instrument names are the Prometheus names operators see; labels stay low-cardinality (close code, initiator).
/// </summary>
public sealed class LifelineMetrics : IDisposable
{
    /// <summary>The meter's name, for exporters and listeners.</summary>
    public const string MeterName = "Lifeline.Server";

    private readonly Meter _meter;
    private readonly UpDownCounter<long> _active;
    private readonly Counter<long> _closeCodes;
    private readonly Counter<long> _heartbeatTimeouts;
    private readonly Counter<long> _slowConsumers;
    private readonly Counter<long> _sessionsResumed;
    private readonly Histogram<double> _duration;
    private long _sendQueueDepth;

    /// <summary>Creates the instruments.</summary>
    /// <param name="meterFactory">The DI meter factory.</param>
    public LifelineMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _active = _meter.CreateUpDownCounter<long>("ws_connections_active", "{connection}", "WebSocket connections open now");
        _closeCodes = _meter.CreateCounter<long>("ws_close_codes_distribution", "{connection}", "Connections ended, by close code");
        _heartbeatTimeouts = _meter.CreateCounter<long>("ws_heartbeat_timeouts", "{connection}", "Connections closed with 4000: no pong within the heartbeat timeout");
        _slowConsumers = _meter.CreateCounter<long>("ws_slow_consumer_closes", "{connection}", "Connections closed with 1013 because their send queue overflowed");
        _sessionsResumed = _meter.CreateCounter<long>("ws_sessions_resumed", "{session}", "Sessions resumed by hello.resume");
        _duration = _meter.CreateHistogram<double>("ws_connection_duration_seconds", "s", "How long connections lived");
        _meter.CreateObservableGauge("ws_send_queue_depth", () => Interlocked.Read(ref _sendQueueDepth), "{message}", "Messages waiting in send queues, all connections");
    }

    internal void ConnectionOpened() => _active.Add(1);

    internal void ConnectionClosed(CloseCode code, bool wasOpen, TimeSpan duration)
    {
        if (wasOpen)
        {
            _active.Add(-1);
        }

        _closeCodes.Add(1, new KeyValuePair<string, object?>("code", code.Code.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        _duration.Record(duration.TotalSeconds);
        if (code.Code == CloseCode.HeartbeatTimeout.Code)
        {
            _heartbeatTimeouts.Add(1);
        }
        else if (code.Code == CloseCode.TryAgainLater.Code)
        {
            _slowConsumers.Add(1);
        }
    }

    internal void SessionResumed() => _sessionsResumed.Add(1);

    internal void SendQueueChanged(long delta) => Interlocked.Add(ref _sendQueueDepth, delta);

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
