using Lifeline.Client.Tests.Infrastructure;
using Lifeline.NetLab;

namespace Lifeline.Client.Tests;

/// <summary>The client's reconnect delays, driven on fake time against a port where nothing listens.</summary>
public class BackoffOnFakeTimeTests
{
    [Fact]
    public async Task ReconnectDelays_FollowTheSeededPolicy_WithinJitterBounds_ForAttempts0To10()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var policy = new RecordingPolicy(new ExponentialBackoffRetryPolicy { Random = new Random(7) });
        var expected = new ExponentialBackoffRetryPolicy { Random = new Random(7) };
        var logger = new TestLogger();
        await using var client = new LifelineClient(new Uri($"ws://127.0.0.1:{UnusedPort()}/ws"), new LifelineClientOptions { TimeProvider = time, ReconnectPolicy = policy }, logger);
        var states = new StateRecorder(client);
        var connect = client.ConnectAsync();

        var elapsed = TimeSpan.Zero;
        for (var k = 0; k <= 10; k++)
        {
            // The delay timer exists once ReconnectScheduled is logged.
            var scheduled = await logger.WaitForAsync("ReconnectScheduled", k + 1);
            Assert.Equal(k + 1, scheduled.Values["Attempt"]);
            var (context, delay) = policy.Calls[k];
            Assert.Equal(k, context.PreviousRetryCount);
            Assert.InRange(context.ElapsedTime, elapsed - TimeSpan.FromMilliseconds(1), elapsed + TimeSpan.FromMilliseconds(1));
            Assert.Equal(1006, context.CloseCode);
            Assert.StartsWith("connect_failed", context.Reason, StringComparison.Ordinal);
            Assert.Equal(expected.NextRetryDelay(context), delay);
            Assert.InRange(delay!.Value, TimeSpan.Zero, expected.GetDelayCeiling(k) - TimeSpan.FromTicks(1));

            // Not a tick early...
            var attempts = logger.CountOf("Connecting");
            // (Fake timers have millisecond granularity: stop one millisecond short of the whole milliseconds.)
            var early = TimeSpan.FromMilliseconds(Math.Floor(delay.Value.TotalMilliseconds) - 1);
            if (early > TimeSpan.Zero)
            {
                time.Advance(early);
                await Task.Delay(30);
                Assert.Equal(attempts, logger.CountOf("Connecting"));
                time.Advance(delay.Value - early);
            }
            else
            {
                time.Advance(delay.Value);
            }

            // ...and on time.
            await logger.WaitForAsync("Connecting", attempts + 1);
            elapsed += delay.Value;
        }

        Assert.Equal([ClientState.Connecting, ClientState.Reconnecting], states.Events.Select(e => e.NewState).ToArray());
        Assert.False(connect.IsCompleted);
        await client.CloseAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connect);
    }

    private static int UnusedPort() => FreePorts.Next();
}
