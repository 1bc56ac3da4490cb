// Channel events (emit / event): published on the channel's own pub/sub channel, beside its deltas and presence events,
// so an event reaches exactly the nodes that observe the channel, in the order Redis received it relative to the
// channel's deltas; nothing is stored and no offset is taken. ObservedChannel (RedisEngine.Observe.cs) hands events to
// its observers without touching its delta bookkeeping. Declares no fields.
using Lifeline.Engine;
using Lifeline.Redis.Internal;
using StackExchange.Redis;

namespace Lifeline.Redis;

public sealed partial class RedisEngine
{
    /// <inheritdoc />
    /// <remarks>One <c>SPUBLISH</c> (or <c>PUBLISH</c>) on the channel's pub/sub channel; a channel no node observes costs
    /// that one command and creates nothing.</remarks>
    public async ValueTask EmitAsync(ChannelEvent channelEvent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(channelEvent);
        Check(channelEvent.Channel, cancellationToken);
        var payload = MessageCodec.EncodeEvent(channelEvent);
        var pubSub = PubSubChannel(_keys.PubSub(channelEvent.Channel));
        await CallAsync(() => _redis.GetSubscriber().PublishAsync(pubSub, payload)).ConfigureAwait(false);
    }

    /// <summary>A pub/sub channel by name: sharded when the engine uses sharded pub/sub, else classic.</summary>
    private RedisChannel PubSubChannel(string name) => UsesShardedPubSub ? RedisChannel.Sharded(name) : RedisChannel.Literal(name);
}
