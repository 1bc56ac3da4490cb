using Lifeline.Protocol;
using System.Diagnostics.Metrics;
using Lifeline.Server.Tests.Infrastructure;
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
    [InlineData(4002, "4002")]
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

        metrics.ConnectionClosed(CloseCode.HeartbeatTimeout, initiator, wasOpen: false, TimeSpan.FromSeconds(1), "websocket");
        metrics.ConnectionClosed(CloseCode.TryAgainLater, initiator, wasOpen: false, TimeSpan.FromSeconds(1), "websocket");

        Assert.Equal(expected, Observe<long>(factory, "ws_heartbeat_timeouts"));
        Assert.Equal(expected, Observe<long>(factory, "ws_slow_consumer_closes"));
    }

    [Fact]
    public void Token_refreshes_are_counted_by_result_and_both_series_exist_from_the_start()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var metrics = new LifelineMetrics(factory);
        Assert.Equal(new Dictionary<string, long> { ["ok"] = 0, ["forbidden"] = 0 }, ObserveByTag(factory, "ws_token_refreshes", "result"));

        metrics.TokenRefreshed(ok: true);
        metrics.TokenRefreshed(ok: true);
        metrics.TokenRefreshed(ok: false);

        Assert.Equal(new Dictionary<string, long> { ["ok"] = 2, ["forbidden"] = 1 }, ObserveByTag(factory, "ws_token_refreshes", "result"));
        Assert.Equal("counter", LifelineMetrics.PrometheusNames["ws_token_refreshes_total"]);
    }

    [Fact]
    public void Dropped_events_and_messages_are_counted_apart_and_both_series_exist_from_the_start()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var metrics = new LifelineMetrics(factory);
        Assert.Equal(0, Observe<long>(factory, "ws_events_dropped"));
        Assert.Equal(0, Observe<long>(factory, "ws_messages_dropped"));

        metrics.EventDropped();
        metrics.EventDropped();
        metrics.MessageDropped();

        Assert.Equal(2, Observe<long>(factory, "ws_events_dropped"));
        Assert.Equal(1, Observe<long>(factory, "ws_messages_dropped"));
        Assert.Equal("counter", LifelineMetrics.PrometheusNames["ws_events_dropped_total"]);
        Assert.Equal("counter", LifelineMetrics.PrometheusNames["ws_messages_dropped_total"]);
    }

    [Fact]
    public void A_1013_for_an_unavailable_engine_is_not_a_slow_consumer()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var metrics = new LifelineMetrics(factory);

        metrics.ConnectionClosed(CloseCode.TryAgainLater.WithReason("engine_unavailable"), DisconnectInitiator.Server, wasOpen: false, TimeSpan.FromSeconds(1), "websocket");
        Assert.Equal(0, Observe<long>(factory, "ws_slow_consumer_closes"));
        metrics.ConnectionClosed(CloseCode.TryAgainLater.WithReason("slow_consumer"), DisconnectInitiator.Server, wasOpen: false, TimeSpan.FromSeconds(1), "websocket");
        Assert.Equal(1, Observe<long>(factory, "ws_slow_consumer_closes"));
    }

    [Fact]
    public async Task A_refresh_and_an_expiry_show_in_the_refresh_counter_and_the_close_code_distribution()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var closeCodes = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var server = await TestServer.StartAsync(
            o =>
            {
                o.HeartbeatInterval = TimeSpan.FromMinutes(10);
                o.HeartbeatTimeout = TimeSpan.FromMinutes(1);
            },
            s =>
            {
                s.AddSingleton<TimeProvider>(time);
                s.AddSingleton<ILifelineAuthenticator>(new ExpiresIn10s(time));
            });
        var factory = server.Services.GetRequiredService<IMeterFactory>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name == "ws_close_codes_distribution")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "code")
                {
                    closeCodes.Enqueue((string)tag.Value!);
                }
            }
        });
        listener.Start();

        var (client, _) = await RawClient.ConnectAndHelloAsync(server.WsUri, "alice");
        await using var _c = client;
        await client.SendJsonAsync(new { type = "refresh", id = 1, token = "alice" });
        Assert.True((await client.ReceiveTypeAsync("reply")).GetProperty("ok").GetBoolean());
        await client.SendJsonAsync(new { type = "refresh", id = 2, token = "bob" });
        Assert.False((await client.ReceiveTypeAsync("reply")).GetProperty("ok").GetBoolean());
        time.Advance(TimeSpan.FromSeconds(10));
        server.Runtime.Scheduler.Sweep();
        Assert.Equal(4002, (int)(await client.WaitForCloseAsync())!);
        await server.Disconnects.WaitForCountAsync(1);

        Assert.Equal(new Dictionary<string, long> { ["ok"] = 1, ["forbidden"] = 1 }, ObserveByTag(factory, "ws_token_refreshes", "result"));
        Assert.Contains("4002", closeCodes);
    }

    private sealed class ExpiresIn10s(TimeProvider time) : ILifelineAuthenticator
    {
        public ValueTask<AuthenticationResult> AuthenticateAsync(AuthenticationContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(AuthenticationResult.Success(context.Token!) with { ExpiresAt = time.GetUtcNow().AddSeconds(10) });
    }

    private static Dictionary<string, long> ObserveByTag(IMeterFactory factory, string name, string tag)
    {
        var values = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Meter.Name == LifelineMetrics.MeterName && instrument.Name == name)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, measurement, tags, _) =>
        {
            foreach (var t in tags)
            {
                if (t.Key == tag)
                {
                    values[(string)t.Value!] = measurement;
                }
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return values;
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
