using Lifeline.Protocol;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;

namespace Lifeline.Server.Tests;

/// <summary>The metrics catalogue: the CLOSE_WAIT gauge reads the kernel's socket table; close-code labels stay bounded.</summary>
public class MetricsTests
{
    [Fact]
    public async Task CloseWaitGauge_CountsSocketsThePeerClosedButWeHoldOpen_OnTheListeningPortOnly()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var metrics = new LifelineMetrics(factory);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        metrics.ListeningPorts = () => [port];

        Assert.Equal(0, Observe<int>(factory, "ws_tcp_close_wait_sockets"));

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
            while (Observe<int>(factory, "ws_tcp_close_wait_sockets") != 2)
            {
                Assert.True(DateTime.UtcNow < deadline, $"gauge says {Observe<int>(factory, "ws_tcp_close_wait_sockets")}, expected 2 sockets in CLOSE_WAIT");
                await Task.Delay(20); // polling /proc/net/tcp, bounded
            }

            metrics.ListeningPorts = () => [port + 1];
            Assert.Equal(0, Observe<int>(factory, "ws_tcp_close_wait_sockets"));
        }
        finally
        {
            foreach (var s in held)
            {
                s.Dispose();
            }
        }
    }

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
