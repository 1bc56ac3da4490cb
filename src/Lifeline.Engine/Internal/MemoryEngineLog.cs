using Microsoft.Extensions.Logging;

namespace Lifeline.Engine.Internal;

/// <summary>Log events of <see cref="MemoryEngine"/> (event ids 1100-1199; never reuse one: 1101, IdempotencyKeyReused, was retired when keys became per channel).</summary>
internal static partial class MemoryEngineLog
{
    [LoggerMessage(EventId = 1100, EventName = "ObserverFailed", Level = LogLevel.Error,
        Message = "An observer of channel {Channel} threw from {Callback}; the other observers were still called")]
    public static partial void ObserverFailed(ILogger logger, string channel, string callback, Exception exception);

    [LoggerMessage(EventId = 1102, EventName = "UserObserverFailed", Level = LogLevel.Error,
        Message = "An observer of user {User} threw from {Callback}; the other observers were still called")]
    public static partial void UserObserverFailed(ILogger logger, string user, string callback, Exception exception);
}
