using StackExchange.Redis;

namespace Lifeline.Redis.Internal;

/// <summary>
/// Key and pub/sub channel names. Every key of one channel carries the hash tag <c>{ch:NAME}</c>, so they live in one
/// Redis Cluster slot together with the channel's sharded pub/sub channel: a Lua script can touch all of them and
/// <c>SPUBLISH</c> from inside it.
/// </summary>
internal sealed class RedisKeys(string prefix)
{
    public string Prefix { get; } = prefix;

    private string Tag(string channel) => Prefix + "{ch:" + channel + "}";

    /// <summary>Hash: epoch, offset, ts (last publish time), so (offset of the stored snapshot), st (the stored snapshot).</summary>
    public RedisKey Meta(string channel) => Tag(channel) + ":meta";

    /// <summary>Stream: one entry per delta, id <c>OFFSET-0</c>, fields t (ts) and p (patch); bounded by count and age.</summary>
    public RedisKey History(string channel) => Tag(channel) + ":hist";

    /// <summary>List: the patches after the stored snapshot, in offset order (folded into it by compaction).</summary>
    public RedisKey Pending(string channel) => Tag(channel) + ":pend";

    /// <summary>Hash: presence member (user and member key) to the id of the node that holds it.</summary>
    public RedisKey Members(string channel) => Tag(channel) + ":pm";

    /// <summary>Hash: user to the number of its members.</summary>
    public RedisKey Users(string channel) => Tag(channel) + ":pu";

    /// <summary>The pub/sub channel of a Lifeline channel (sharded or classic).</summary>
    public string PubSub(string channel) => Tag(channel);

    /// <summary>
    /// Hash (ep, off, ts, exp): the result of the first publish with this idempotency key in this scope on this channel.
    /// In the channel's slot, so the publish script checks and records it atomically; the scope's length comes first,
    /// so no scope and key pair can collide.
    /// </summary>
    public RedisKey Idempotency(string channel, string scope, string key) =>
        Tag(channel) + ":idem:" + scope.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) + ":" + scope + key;

    /// <summary>String: a stored session.</summary>
    public RedisKey Session(string token) => Prefix + "session:" + token;

    /// <summary>Sorted set: node id to the time (Unix ms) its liveness key was last refreshed.</summary>
    public RedisKey Nodes() => Prefix + "nodes";

    /// <summary>String with a TTL: present while the node is alive.</summary>
    public RedisKey NodeAlive(string node) => Prefix + "{node:" + node + "}:alive";

    /// <summary>Set: the channels in which the node holds presence members (an index for cleaning up after it).</summary>
    public RedisKey NodeChannels(string node) => Prefix + "{node:" + node + "}:channels";

    /// <summary>String: set once by the node that cleans up after a dead node (so leaves go out once).</summary>
    public RedisKey NodeReaped(string node) => Prefix + "{node:" + node + "}:reaped";

    /// <summary>The sharded pub/sub channel of one user's messages and disconnect orders (hash tag <c>{user:NAME}</c>).</summary>
    public string UserPubSub(string user) => Prefix + "{user:" + user + "}";

    /// <summary>Hash: node id to the number of observers of the user that node registered (same slot as <see cref="UserPubSub"/>).</summary>
    public RedisKey UserNodes(string user) => UserPubSub(user) + ":nodes";

    /// <summary>Hash: node id to the number of connection slots of the address or user that node holds.</summary>
    public RedisKey Slot(string entry) => Prefix + "{slot:" + entry + "}";

    /// <summary>Set: the users the node has observers of (an index for cleaning up after it).</summary>
    public RedisKey NodeUsers(string node) => Prefix + "{node:" + node + "}:users";

    /// <summary>Set: the slot entries (<see cref="SlotEntry"/>) the node holds slots of (an index for cleaning up after it).</summary>
    public RedisKey NodeSlots(string node) => Prefix + "{node:" + node + "}:slots";

    /// <summary>A connection slot's name in the node's index and in its key: <c>a:</c> or <c>u:</c>, then the name.</summary>
    public static string SlotEntry(Lifeline.Engine.ConnectionSlot slot) =>
        (slot.Kind == Lifeline.Engine.ConnectionSlotKind.Address ? "a:" : "u:") + slot.Name;

    /// <summary>A presence member's field: the user's length first, so no user and member key pair can collide.</summary>
    public static string MemberField(string user, string memberKey) =>
        user.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) + ":" + user + memberKey;
}
