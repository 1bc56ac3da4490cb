using System.Diagnostics.Metrics;
using Lifeline.Protocol;

namespace Lifeline.Server;

/// <summary>
/// The one catalogue of Lifeline's instruments (System.Diagnostics.Metrics, meter <see cref="MeterName"/>).
/// Instrument names are chosen so that the Prometheus exporter (<c>MapLifelineMetrics</c>, project
/// Lifeline.Server.Prometheus) exposes exactly the names in <see cref="PrometheusNames"/>: counters get the
/// <c>_total</c> suffix from the exporter, units in braces add nothing, and the unit <c>s</c> of a name already ending
/// in <c>_seconds</c> adds nothing either. Labels stay low-cardinality (close code, transport, sync phase). This library depends
/// on no exporter: Lifeline.Server.Prometheus adds the one instrument that reads the kernel,
/// <c>ws_tcp_close_wait_sockets</c>, to this same meter.
/// </summary>
public sealed class LifelineMetrics : IDisposable
{
    /// <summary>The meter's name, for exporters and listeners.</summary>
    public const string MeterName = "Lifeline.Server";

    /// <summary>The label of <c>state_sync_latency_seconds</c> for publish accepted -> delta written to a subscriber's socket.</summary>
    public const string PhaseDelivery = "delivery";

    /// <summary>The label of <c>state_sync_latency_seconds</c> for hello received -> a resubscribed channel's catch-up written.</summary>
    public const string PhaseResync = "resync";

    /// <summary>
    /// The bucket boundaries of <c>state_sync_latency_seconds</c>, in seconds: 0.5 ms to 10 s, dense where a healthy
    /// node sits (sub-millisecond to tens of milliseconds) and around the alert threshold (250 ms).
    /// </summary>
    public static readonly IReadOnlyList<double> SyncLatencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>
    /// Every metric name of meter <see cref="MeterName"/> as Prometheus shows it (DESIGN.md "Observability"), with its
    /// type. <c>ws_tcp_close_wait_sockets</c> is declared by Lifeline.Server.Prometheus on this meter.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> PrometheusNames = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["ws_connections_active"] = "gauge",
        ["ws_close_codes_distribution_total"] = "counter",
        ["state_sync_latency_seconds"] = "histogram",
        ["ws_heartbeat_timeouts_total"] = "counter",
        ["ws_sessions_resumed_total"] = "counter",
        ["ws_slow_consumer_closes_total"] = "counter",
        ["ws_send_queue_depth"] = "gauge",
        ["ws_tcp_close_wait_sockets"] = "gauge", // declared on this meter by Lifeline.Server.Prometheus (reads /proc/net/tcp)
        ["ws_connection_duration_seconds"] = "histogram",
        ["ws_token_refreshes_total"] = "counter",
        ["ws_events_dropped_total"] = "counter",
        ["ws_messages_dropped_total"] = "counter",
        ["ws_publishes_held_total"] = "counter",
        ["ws_publish_held_seconds_total"] = "counter",
    };

    /// <summary>The <c>result</c> label of <c>ws_token_refreshes_total</c> for an accepted refresh.</summary>
    public const string RefreshOk = "ok";

    /// <summary>The <c>result</c> label of <c>ws_token_refreshes_total</c> for a refused refresh (answered <c>forbidden</c>).</summary>
    public const string RefreshForbidden = "forbidden";

    private static readonly KeyValuePair<string, object?> DeliveryTag = new("phase", PhaseDelivery);
    private static readonly KeyValuePair<string, object?> ResyncTag = new("phase", PhaseResync);
    private static readonly KeyValuePair<string, object?> RefreshOkTag = new("result", RefreshOk);
    private static readonly KeyValuePair<string, object?> RefreshForbiddenTag = new("result", RefreshForbidden);

    private readonly Meter _meter;
    private readonly Counter<long> _closeCodes;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _syncLatency;
    private long _sendQueueDepth;
    private readonly long[] _active = new long[Transport.TransportNames.All.Length]; // by transport, in TransportNames.All order
    private readonly KeyValuePair<string, object?>[] _transportTags = [.. Transport.TransportNames.All.Select(t => new KeyValuePair<string, object?>("transport", t))];
    private long _heartbeatTimeouts;
    private long _slowConsumers;
    private long _sessionsResumed;
    private long _refreshesOk;
    private long _refreshesForbidden;
    private long _eventsDropped;
    private long _messagesDropped;
    private long _publishesHeld;
    private long _publishHeldTicks; // TimeSpan ticks

    /// <summary>Creates the instruments.</summary>
    /// <param name="meterFactory">The DI meter factory.</param>
    public LifelineMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        // Observable instruments where one series always exists: a scrape right after start shows 0, not nothing,
        // so rate() and the alert rules have a series from the first scrape on.
        _meter.CreateObservableGauge("ws_connections_active", ObserveActive, "{connection}", "Connections open now (hello accepted, teardown not finished), by transport (websocket, http-stream, http-poll)");
        _closeCodes = _meter.CreateCounter<long>("ws_close_codes_distribution", "{connection}", "Connections ended, by close code and transport");
        _meter.CreateObservableCounter("ws_heartbeat_timeouts", () => Interlocked.Read(ref _heartbeatTimeouts), "{connection}", "Connections closed with 4000: no pong within the heartbeat timeout");
        _meter.CreateObservableCounter("ws_slow_consumer_closes", () => Interlocked.Read(ref _slowConsumers), "{connection}", "Connections closed with 1013 because their send queue overflowed");
        _meter.CreateObservableCounter("ws_sessions_resumed", () => Interlocked.Read(ref _sessionsResumed), "{session}", "Sessions resumed by hello.resume");
        _meter.CreateObservableCounter("ws_token_refreshes", ObserveRefreshes, "{refresh}", "Token refreshes on live connections, by result (ok, forbidden)");
        _meter.CreateObservableCounter("ws_events_dropped", () => Interlocked.Read(ref _eventsDropped), "{event}", "Channel events not queued to a subscriber whose send queue was over half full (best-effort; the connection stays open)");
        _meter.CreateObservableCounter("ws_messages_dropped", () => Interlocked.Read(ref _messagesDropped), "{message}", "User messages not queued to a connection whose send queue was at least three quarters full (the connection stays open)");
        _meter.CreateObservableCounter("ws_publishes_held", () => Interlocked.Read(ref _publishesHeld), "{publish}", "Publishes whose publisher was held by flow control: most of the channel's subscribers on this node had more than PublishBacklogLimit messages waiting");
        _meter.CreateObservableCounter("ws_publish_held_seconds", () => TimeSpan.FromTicks(Interlocked.Read(ref _publishHeldTicks)).TotalSeconds, "s", "Time publishers spent held by flow control, summed over publishes");
        _duration = _meter.CreateHistogram<double>("ws_connection_duration_seconds", "s", "How long connections lived",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 10, 60, 300, 900, 3600, 14400, 86400] });
        _syncLatency = _meter.CreateHistogram<double>("state_sync_latency_seconds", "s",
            "State sync latency. phase=delivery: publish accepted by the engine to the delta written to a subscriber's socket; "
            + "phase=resync: hello received to a resubscribed channel's catch-up written to the socket",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [.. SyncLatencyBuckets] });
        _meter.CreateObservableGauge("ws_send_queue_depth", () => Interlocked.Read(ref _sendQueueDepth), "{message}", "Messages waiting in send queues, all connections");
    }

    /// <summary>One connection opened (welcomed) over <paramref name="transport"/> (a <c>TransportNames</c> value).</summary>
    internal void ConnectionOpened(string transport) => Interlocked.Increment(ref _active[TransportIndex(transport)]);

    /// <summary>Undoes <see cref="ConnectionOpened"/> for a connection whose teardown began before it could open.</summary>
    internal void ConnectionOpenAborted(string transport) => Interlocked.Decrement(ref _active[TransportIndex(transport)]);

    /// <summary>Connections open now over <paramref name="transport"/>.</summary>
    internal long ActiveOver(string transport) => Interlocked.Read(ref _active[TransportIndex(transport)]);

    private Measurement<long>[] ObserveActive()
    {
        var measurements = new Measurement<long>[_active.Length];
        for (var i = 0; i < _active.Length; i++)
        {
            measurements[i] = new Measurement<long>(Interlocked.Read(ref _active[i]), _transportTags[i]);
        }

        return measurements;
    }

    private static int TransportIndex(string transport) => Math.Max(0, Array.IndexOf(Transport.TransportNames.All, transport));

    /// <summary>
    /// One connection torn down. The close-code distribution counts every close; the heartbeat-timeout and
    /// slow-consumer counters count only the server's own decisions (a client may send 4000 or 1013 itself).
    /// </summary>
    internal void ConnectionClosed(CloseCode code, DisconnectInitiator initiator, bool wasOpen, TimeSpan duration, string transport)
    {
        var index = TransportIndex(transport);
        if (wasOpen)
        {
            Interlocked.Decrement(ref _active[index]);
        }

        _closeCodes.Add(1, new KeyValuePair<string, object?>("code", CodeLabel(code.Code)), _transportTags[index]);
        _duration.Record(duration.TotalSeconds);
        if (initiator != DisconnectInitiator.Server)
        {
            return;
        }

        if (code.Code == CloseCode.HeartbeatTimeout.Code)
        {
            Interlocked.Increment(ref _heartbeatTimeouts);
        }
        else if (code.Code == CloseCode.TryAgainLater.Code && code.Reason != Connections.Connection.EngineUnavailableReason)
        {
            // 1013 engine_unavailable (the engine could not count a connection slot) is not a slow consumer
            Interlocked.Increment(ref _slowConsumers);
        }
    }

    /// <summary>One <c>refresh</c> answered: accepted, or refused with <c>forbidden</c>.</summary>
    internal void TokenRefreshed(bool ok) => Interlocked.Increment(ref ok ? ref _refreshesOk : ref _refreshesForbidden);

    private Measurement<long>[] ObserveRefreshes() =>
    [
        new(Interlocked.Read(ref _refreshesOk), RefreshOkTag),
        new(Interlocked.Read(ref _refreshesForbidden), RefreshForbiddenTag),
    ];

    /// <summary>Events dropped so far (the value of <c>ws_events_dropped_total</c>; for tests and diagnostics).</summary>
    internal long EventsDropped => Interlocked.Read(ref _eventsDropped);

    /// <summary>User messages dropped so far (the value of <c>ws_messages_dropped_total</c>).</summary>
    internal long MessagesDropped => Interlocked.Read(ref _messagesDropped);

    /// <summary>One event not queued to one subscriber: its send queue was over half full (more than half its limit waiting).</summary>
    internal void EventDropped() => Interlocked.Increment(ref _eventsDropped);

    /// <summary>One user message not queued to one connection: its send queue was at least three quarters full.</summary>
    internal void MessageDropped() => Interlocked.Increment(ref _messagesDropped);

    /// <summary>Publishes held by flow control so far (the value of <c>ws_publishes_held_total</c>).</summary>
    internal long PublishesHeld => Interlocked.Read(ref _publishesHeld);

    /// <summary>One publish whose publisher was held by flow control for <paramref name="held"/>.</summary>
    internal void PublishHeld(TimeSpan held)
    {
        Interlocked.Increment(ref _publishesHeld);
        Interlocked.Add(ref _publishHeldTicks, held.Ticks);
    }

    internal void SessionResumed() => Interlocked.Increment(ref _sessionsResumed);

    internal void SendQueueChanged(long delta) => Interlocked.Add(ref _sendQueueDepth, delta);

    /// <summary>One delta written to a subscriber's socket, <paramref name="latency"/> after the publish was accepted. Allocation-free.</summary>
    internal void DeliveryWritten(TimeSpan latency) => _syncLatency.Record(latency.TotalSeconds, DeliveryTag);

    /// <summary>A resubscribed channel's catch-up written, <paramref name="sinceHello"/> after the hello was received.</summary>
    internal void ResyncWritten(TimeSpan sinceHello) => _syncLatency.Record(sinceHello.TotalSeconds, ResyncTag);

    /// <summary>
    /// The <c>code</c> label: a code of the close-code table (<see cref="CloseCode.All"/>), else <c>other</c>. A client
    /// may close with any code from 3000 to 4999; labelling each one would let clients grow the series without bound.
    /// </summary>
    internal static string CodeLabel(int code)
    {
        foreach (var known in CloseCode.All)
        {
            if (known.Code == code)
            {
                return known.Code.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return "other";
    }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
