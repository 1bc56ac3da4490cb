using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Prometheus.Tests;

/// <summary>
/// <c>ws_tcp_close_wait_sockets</c> reads the kernel's socket table for the listening ports only, and sits on the core's
/// meter (same name, same factory) so that Prometheus shows it beside the other Lifeline metrics.
/// </summary>
public class CloseWaitGaugeTests
{
    [Fact]
    public async Task CloseWaitGauge_CountsSocketsThePeerClosedButWeHoldOpen_OnTheListeningPortOnly()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        var gauge = new CloseWaitGauge(factory);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        gauge.ListeningPorts = () => [port];

        Assert.Equal(0, Observe(factory));

        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                held.Add(await listener.AcceptSocketAsync());
                client.Close();
            }

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (Observe(factory) != 2)
            {
                Assert.True(DateTime.UtcNow < deadline, $"gauge says {Observe(factory)}, expected 2 sockets in CLOSE_WAIT");
                await Task.Delay(20); // polling /proc/net/tcp, bounded
            }

            gauge.ListeningPorts = () => [port + 1];
            Assert.Equal(0, Observe(factory));
        }
        finally
        {
            foreach (var s in held)
            {
                s.Dispose();
            }
        }
    }

    [Fact]
    public void CloseWaitGauge_WithoutListeningPorts_ReportsNothing()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        _ = new CloseWaitGauge(factory);

        Assert.Null(TryObserve(factory));
    }

    [Fact]
    public void CloseWaitGauge_SharesTheLifelineMeter_WithTheCoreInstruments()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var core = new LifelineMetrics(factory);
        _ = new CloseWaitGauge(factory);

        var meters = new List<Meter>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name is CloseWaitGauge.Name or "ws_connections_active")
            {
                meters.Add(instrument.Meter);
            }
        };
        listener.Start();

        Assert.Equal(2, meters.Count);
        Assert.Same(meters[0], meters[1]);
        Assert.Equal(LifelineMetrics.MeterName, meters[0].Name);
    }

    private static int Observe(IMeterFactory factory) =>
        TryObserve(factory) ?? throw new InvalidOperationException($"instrument {CloseWaitGauge.Name} reported nothing");

    /// <summary>Reads the gauge of the instance made by <paramref name="factory"/> (other tests' instances run in parallel).</summary>
    private static int? TryObserve(IMeterFactory factory)
    {
        int? value = null;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Meter.Name == LifelineMetrics.MeterName && instrument.Name == CloseWaitGauge.Name)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<int>((_, measurement, _, _) => value = measurement);
        listener.Start();
        listener.RecordObservableInstruments();
        return value;
    }
}
