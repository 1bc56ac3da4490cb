using Microsoft.Extensions.Logging;

namespace Lifeline.Redis.Internal;

/// <summary>Log events of <see cref="RedisEngine"/> (event ids 1200-1299; never reuse one: 1209, RedisIdempotencyKeyReused, was retired when keys became per channel).</summary>
internal static partial class RedisLog
{
    [LoggerMessage(EventId = 1200, EventName = "RedisEngineStarted", Level = LogLevel.Information,
        Message = "Redis engine started: node {NodeId}, server {Server} version {Version}, sharded pub/sub {Sharded}")]
    public static partial void Started(ILogger logger, string nodeId, string server, string version, bool sharded);

    [LoggerMessage(EventId = 1201, EventName = "RedisObserverFailed", Level = LogLevel.Error,
        Message = "An observer of channel {Channel} threw from {Callback}; the other observers were still called")]
    public static partial void ObserverFailed(ILogger logger, string channel, string callback, Exception exception);

    [LoggerMessage(EventId = 1202, EventName = "RedisDeltaGapFilled", Level = LogLevel.Debug,
        Message = "Channel {Channel}: deltas {From}..{To} missed on pub/sub were read from the history")]
    public static partial void GapFilled(ILogger logger, string channel, long from, long to);

    [LoggerMessage(EventId = 1203, EventName = "RedisDeltaGapUnrecoverable", Level = LogLevel.Warning,
        Message = "Channel {Channel}: deltas {From}..{To} are no longer in the history; observers resynchronize")]
    public static partial void GapUnrecoverable(ILogger logger, string channel, long from, long to);

    [LoggerMessage(EventId = 1204, EventName = "RedisEpochChanged", Level = LogLevel.Warning,
        Message = "Channel {Channel}: epoch changed from {OldEpoch} to {NewEpoch} (Redis lost the channel or it expired); observers resynchronize")]
    public static partial void EpochChanged(ILogger logger, string channel, string oldEpoch, string newEpoch);

    [LoggerMessage(EventId = 1205, EventName = "RedisMessageFailed", Level = LogLevel.Error,
        Message = "Channel {Channel}: handling a pub/sub message failed")]
    public static partial void MessageFailed(ILogger logger, string channel, Exception exception);

    [LoggerMessage(EventId = 1206, EventName = "RedisCompactionFailed", Level = LogLevel.Warning,
        Message = "Channel {Channel}: folding patches into the stored snapshot failed")]
    public static partial void CompactionFailed(ILogger logger, string channel, Exception exception);

    [LoggerMessage(EventId = 1207, EventName = "RedisConnectionFailed", Level = LogLevel.Warning,
        Message = "Redis connection failed ({FailureType}); publishes fail with unavailable until it is back")]
    public static partial void ConnectionFailed(ILogger logger, string failureType);

    [LoggerMessage(EventId = 1208, EventName = "RedisConnectionRestored", Level = LogLevel.Information,
        Message = "Redis connection restored; checking the continuity of {Channels} observed channels")]
    public static partial void ConnectionRestored(ILogger logger, int channels);

    [LoggerMessage(EventId = 1210, EventName = "RedisNodeHeartbeatFailed", Level = LogLevel.Warning,
        Message = "Refreshing the liveness key of node {NodeId} failed")]
    public static partial void NodeHeartbeatFailed(ILogger logger, string nodeId, Exception exception);

    [LoggerMessage(EventId = 1211, EventName = "RedisNodeReaped", Level = LogLevel.Warning,
        Message = "Node {DeadNodeId} stopped refreshing its liveness key; node {NodeId} removed its {Members} presence members")]
    public static partial void NodeReaped(ILogger logger, string deadNodeId, string nodeId, int members);

    [LoggerMessage(EventId = 1212, EventName = "RedisContinuityCheckFailed", Level = LogLevel.Warning,
        Message = "Channel {Channel}: checking continuity after a reconnect failed; observers resynchronize")]
    public static partial void ContinuityCheckFailed(ILogger logger, string channel, Exception exception);

    [LoggerMessage(EventId = 1213, EventName = "RedisUserObserverFailed", Level = LogLevel.Error,
        Message = "An observer of user {User} threw from {Callback}; the other observers were still called")]
    public static partial void UserObserverFailed(ILogger logger, string user, string callback, Exception exception);

    [LoggerMessage(EventId = 1214, EventName = "RedisUserMessageFailed", Level = LogLevel.Error,
        Message = "User {User}: handling a pub/sub message failed")]
    public static partial void UserMessageFailed(ILogger logger, string user, Exception exception);

    [LoggerMessage(EventId = 1215, EventName = "RedisRegistrationWriteFailed", Level = LogLevel.Warning,
        Message = "Writing this node's count of {What} {Name} to Redis failed; it is written again on the next node loop round")]
    public static partial void RegistrationWriteFailed(ILogger logger, string what, string name, Exception exception);

    [LoggerMessage(EventId = 1216, EventName = "RedisConnectionSlotReleaseFailed", Level = LogLevel.Warning,
        Message = "Giving back a connection slot of {Slot} failed; it is given back on the next node loop round with Redis, or when this node's liveness key expires")]
    public static partial void SlotReleaseFailed(ILogger logger, string slot, Exception exception);

    [LoggerMessage(EventId = 1217, EventName = "RedisNodePresumedDead", Level = LogLevel.Warning,
        Message = "Node {NodeId} found its liveness key expired (Redis was out of reach or lost its data); it writes its user observers and connection slots again")]
    public static partial void NodePresumedDead(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 1218, EventName = "RedisNodeRegistrationsReaped", Level = LogLevel.Warning,
        Message = "Node {DeadNodeId} stopped refreshing its liveness key; node {NodeId} removed its observers of {Users} users and its connection slots of {Slots} addresses and users")]
    public static partial void NodeRegistrationsReaped(ILogger logger, string deadNodeId, string nodeId, int users, int slots);
}
