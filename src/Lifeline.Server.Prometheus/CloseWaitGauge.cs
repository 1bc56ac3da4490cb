using System.Diagnostics.Metrics;

namespace Lifeline.Server.Prometheus;

/// <summary>
/// <c>ws_tcp_close_wait_sockets</c>: the sockets in CLOSE_WAIT on the server's listening ports, read from
/// /proc/net/tcp and tcp6 (<see cref="TcpSocketTable"/>) at each collection. Declared on the core's meter
/// (<see cref="LifelineMetrics.MeterName"/>, through the same <see cref="IMeterFactory"/>, which hands back the one
/// meter of that name), so the exported name and its <c>otel_scope_name</c> label are those of the other Lifeline
/// instruments. The core only counts; reading the kernel's socket table is this project's concern.
/// </summary>
internal sealed class CloseWaitGauge
{
    /// <summary>The instrument's name (Prometheus shows it as is: a gauge, and a unit in braces adds no suffix).</summary>
    public const string Name = "ws_tcp_close_wait_sockets";

    private volatile Func<IReadOnlyCollection<int>>? _listeningPorts;

    /// <summary>Creates the observable gauge on the Lifeline meter.</summary>
    /// <param name="meterFactory">The DI meter factory (the one <see cref="LifelineMetrics"/> uses).</param>
    public CloseWaitGauge(IMeterFactory meterFactory)
    {
        // The factory owns (and disposes) the meter; LifelineMetrics may already have created it under the same name.
        var meter = meterFactory.Create(LifelineMetrics.MeterName);
        meter.CreateObservableGauge(Name, Observe, "{socket}",
            "TCP sockets in CLOSE_WAIT on the server's listening ports (/proc/net/tcp and tcp6): the peer closed, this process has not");
    }

    /// <summary>
    /// Where the gauge looks: the listening ports, read at each collection (so port 0 resolved by Kestrel after start
    /// is seen). Set by <c>MapLifelineMetrics</c>; null reports nothing.
    /// </summary>
    public Func<IReadOnlyCollection<int>>? ListeningPorts
    {
        get => _listeningPorts;
        set => _listeningPorts = value;
    }

    private IEnumerable<Measurement<int>> Observe()
    {
        var ports = _listeningPorts?.Invoke();
        if (ports is null || ports.Count == 0)
        {
            return [];
        }

        var count = TcpSocketTable.Read().Count(e => e.State == TcpState.CloseWait && ports.Contains(e.Local.Port));
        return [new Measurement<int>(count)];
    }
}
