using Lifeline.Engine;
using Lifeline.Protocol;

namespace Lifeline.Server.Tests.Infrastructure;

/// <summary>
/// A real <see cref="MemoryEngine"/> behind every <see cref="ILifelineEngine"/> member, each virtual: a test overrides only
/// the call it needs to hold, fail or watch (a recovery read held open, an engine that cannot count connection slots).
/// </summary>
public class DelegatingEngine : ILifelineEngine
{
    /// <summary>The engine everything goes to.</summary>
    protected MemoryEngine Inner { get; } = new();

    public virtual ValueTask<IAsyncDisposable> ObserveAsync(string channel, IChannelObserver observer, CancellationToken cancellationToken = default) => Inner.ObserveAsync(channel, observer, cancellationToken);

    public virtual ValueTask<RecoveryResult> RecoverAsync(string channel, Position? since, CancellationToken cancellationToken = default) => Inner.RecoverAsync(channel, since, cancellationToken);

    public virtual ValueTask<PublishResult> PublishAsync(PublishRequest request, CancellationToken cancellationToken = default) => Inner.PublishAsync(request, cancellationToken);

    public virtual ValueTask<ChannelSnapshot> GetSnapshotAsync(string channel, CancellationToken cancellationToken = default) => Inner.GetSnapshotAsync(channel, cancellationToken);

    public virtual ValueTask<bool> AddPresenceAsync(string channel, string user, string memberKey, CancellationToken cancellationToken = default) => Inner.AddPresenceAsync(channel, user, memberKey, cancellationToken);

    public virtual ValueTask<bool> RemovePresenceAsync(string channel, string user, string memberKey, string reason, CancellationToken cancellationToken = default) => Inner.RemovePresenceAsync(channel, user, memberKey, reason, cancellationToken);

    public virtual ValueTask<IReadOnlyList<string>> GetPresenceAsync(string channel, CancellationToken cancellationToken = default) => Inner.GetPresenceAsync(channel, cancellationToken);

    public virtual ValueTask StoreSessionAsync(SessionRecord session, DateTimeOffset expiresAt, CancellationToken cancellationToken = default) => Inner.StoreSessionAsync(session, expiresAt, cancellationToken);

    public virtual ValueTask<SessionRecord?> FindSessionAsync(string token, CancellationToken cancellationToken = default) => Inner.FindSessionAsync(token, cancellationToken);

    public virtual ValueTask EmitAsync(ChannelEvent channelEvent, CancellationToken cancellationToken = default) => Inner.EmitAsync(channelEvent, cancellationToken);

    public virtual ValueTask<IAsyncDisposable> ObserveUserAsync(string user, IUserObserver observer, CancellationToken cancellationToken = default) => Inner.ObserveUserAsync(user, observer, cancellationToken);

    public virtual ValueTask<int> SendToUserAsync(UserMessage message, CancellationToken cancellationToken = default) => Inner.SendToUserAsync(message, cancellationToken);

    public virtual ValueTask<int> DisconnectUserAsync(UserDisconnect disconnect, CancellationToken cancellationToken = default) => Inner.DisconnectUserAsync(disconnect, cancellationToken);

    public virtual ValueTask<bool> TryAcquireConnectionSlotAsync(ConnectionSlot slot, int max, CancellationToken cancellationToken = default) => Inner.TryAcquireConnectionSlotAsync(slot, max, cancellationToken);

    public virtual ValueTask ReleaseConnectionSlotAsync(ConnectionSlot slot, CancellationToken cancellationToken = default) => Inner.ReleaseConnectionSlotAsync(slot, cancellationToken);

    /// <summary>Addresses and users holding a connection slot (0: every acquire was released).</summary>
    internal int SlotNameCount => Inner.SlotNameCount;

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return Inner.DisposeAsync();
    }
}
