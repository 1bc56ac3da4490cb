using Lifeline.Protocol;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests;

/// <summary>
/// The metrics catalogue: close-code labels stay bounded; the counters count the server's own decisions. (The CLOSE_WAIT
/// gauge, which reads the kernel's socket table, is tested in Lifeline.Server.Prometheus.Tests.)
/// </summary>
public class MetricsTests
{
    [Theory]
    [InlineData(1000, "1000")]
    [InlineData(1006, "1006")]
    [InlineData(4000, "4000")]
    [InlineData(4001, "4001")]
    [InlineData(4321, "other")]
    [InlineData(3000, "other")]
    public void CloseCodeLabel_IsATableCode_OrOther(int code, string label) => Assert.Equal(label, LifelineMetrics.CodeLabel(code));

    [Theory]
    [InlineData(DisconnectInitiator.Server, 1)]
    [InlineData(DisconnectInitiator.Client, 0)]
    [InlineData(DisconnectInitiator.Application, 0)]
    public void HeartbeatTimeoutAndSlowConsumerCounters_CountOnlyTheServersOwnDecisions(DisconnectInitiator initiator, long expected)
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var metrics = new LifelineMetrics(factory);

        metrics.ConnectionClosed(CloseCode.HeartbeatTimeout, initiator, wasOpen: false, TimeSpan.FromSeconds(1));
        metrics.ConnectionClosed(CloseCode.TryAgainLater, initiator, wasOpen: false, TimeSpan.FromSeconds(1));

        Assert.Equal(expected, Observe<long>(factory, "ws_heartbeat_timeouts"));
        Assert.Equal(expected, Observe<long>(factory, "ws_slow_consumer_closes"));
    }

    /// <summary>Reads the observable instrument <paramref name="name"/> of the instance made by <paramref name="factory"/> (other tests' servers run in parallel).</summary>
    private static T Observe<T>(IMeterFactory factory, string name)
        where T : struct
    {
        T? value = null;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Meter.Name == LifelineMetrics.MeterName && instrument.Name == name)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<T>((_, measurement, _, _) => value = measurement);
        listener.Start();
        listener.RecordObservableInstruments();
        return value ?? throw new InvalidOperationException($"instrument {name} reported nothing");
    }
}
