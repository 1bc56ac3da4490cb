using System.Text;
using Lifeline.Protocol;
using Lifeline.Server.Connections;

namespace Lifeline.Server.Tests;

/// <summary>
/// The heartbeat's bytes without the serializer (<see cref="HeartbeatFrames"/>) and the lock-free deadlines
/// (<see cref="ConnectionHeartbeat"/>): the same bytes and the same decisions as the general path.
/// </summary>
public sealed class HeartbeatFramesTests
{
    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(17L)]
    [InlineData(4096L)]
    [InlineData(4097L)]
    [InlineData(ProtocolConstants.MaxSafeInteger)]
    public void A_ping_is_byte_for_byte_what_the_serializer_writes(long n)
    {
        Assert.Equal(ProtocolSerializer.Serialize(new ServerPing(n)), HeartbeatFrames.Ping(n));
        if (n <= HeartbeatFrames.CachedPings)
        {
            Assert.Same(HeartbeatFrames.Ping(n), HeartbeatFrames.Ping(n)); // formatted once, shared
        }
    }

    [Theory]
    [InlineData("{\"type\":\"pong\",\"n\":0}", 0L)]
    [InlineData("{\"type\":\"pong\",\"n\":17}", 17L)]
    [InlineData("{\"type\":\"pong\",\"n\":9007199254740991}", ProtocolConstants.MaxSafeInteger)]
    public void A_canonical_pong_is_recognised_with_its_counter(string json, long expected)
    {
        Assert.True(HeartbeatFrames.TryReadPong(Encoding.UTF8.GetBytes(json), out var n));
        Assert.Equal(expected, n);
        Assert.Equal(expected, Assert.IsType<PongMessage>(ClientMessageParser.Parse(Encoding.UTF8.GetBytes(json)).Message).N);
    }

    [Theory]
    [InlineData("{\"type\":\"pong\",\"n\":9007199254740992}")] // 2^53: the parser refuses it (invalid_message)
    [InlineData("{\"type\":\"pong\",\"n\":-1}")]
    [InlineData("{\"type\":\"pong\",\"n\":01}")] // not JSON
    [InlineData("{\"type\":\"pong\",\"n\":1.0}")]
    [InlineData("{\"type\":\"pong\",\"n\":1e3}")]
    [InlineData("{\"type\":\"pong\",\"n\":}")]
    [InlineData("{\"type\":\"pong\",\"n\":\"1\"}")]
    [InlineData("{\"type\":\"pong\",\"n\":1,\"id\":2}")]
    [InlineData("{\"type\":\"pong\",\"n\":1}\n")]
    [InlineData("{\"type\":\"pong\", \"n\":1}")]
    [InlineData("{\"type\":\"pong\",\"n\":12345678901234567}")]
    [InlineData("{\"type\":\"ping\",\"n\":1}")]
    [InlineData("{\"type\":\"pong\",\"n\":1")]
    [InlineData("")]
    public void Anything_else_is_left_to_the_parser(string json)
    {
        Assert.False(HeartbeatFrames.TryReadPong(Encoding.UTF8.GetBytes(json), out _));
    }

    [Fact]
    public void A_pong_clears_only_the_deadline_of_the_ping_it_echoes()
    {
        const long interval = 1000, timeout = 500;
        var heartbeat = default(ConnectionHeartbeat);
        heartbeat.Arm(now: 0, interval);
        Assert.Equal(HeartbeatAction.Ping, heartbeat.Tick(2000, interval, timeout, out var first));
        Assert.Equal(1, first);
        Assert.Equal(HeartbeatAction.None, heartbeat.Tick(2100, interval, timeout, out _)); // awaiting pong 1

        heartbeat.OnPong(0); // stale
        Assert.Equal(HeartbeatAction.Timeout, heartbeat.Tick(2500, interval, timeout, out _));

        heartbeat.OnPong(1);
        Assert.Equal(HeartbeatAction.None, heartbeat.Tick(2600, interval, timeout, out _)); // next ping at 3000
        Assert.Equal(HeartbeatAction.Ping, heartbeat.Tick(3000, interval, timeout, out var second));
        Assert.Equal(2, second);
        heartbeat.OnPong(1); // a duplicate of the previous pong clears nothing
        Assert.Equal(HeartbeatAction.Timeout, heartbeat.Tick(3500, interval, timeout, out _));
        Assert.Equal(2, heartbeat.PingCounter);
    }
}
