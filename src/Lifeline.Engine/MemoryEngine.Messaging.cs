// What is sent and never stored, on one node: channel events, user messages and disconnect orders, and the
// connection slots of the per-address and per-user limits.
using Lifeline.Engine.Internal;

namespace Lifeline.Engine;

public sealed partial class MemoryEngine
{
    private UserObservers? _users;
    private readonly SlotCounts _slots = new();

    private UserObservers Users => LazyInitializer.EnsureInitialized(ref _users, () => new UserObservers(_logger));

    /// <summary>Users with at least one observer. For tests and diagnostics.</summary>
    internal int ObservedUserCount => _users?.UserCount ?? 0;

    /// <summary>Addresses and users holding at least one connection slot. For tests and diagnostics.</summary>
    internal int SlotNameCount => _slots.Count;

    /// <inheritdoc />
    public ValueTask EmitAsync(ChannelEvent channelEvent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(channelEvent);
        Check(channelEvent.Channel, cancellationToken);

        // An absent channel has no observers: nothing to do, and nothing is created. A channel dropped between the
        // lookup and the call has none either (observers keep a channel alive).
        if (_channels.TryGetValue(channelEvent.Channel, out var ch))
        {
            ch.EmitEvent(channelEvent with { Data = channelEvent.Data.Clone() });
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<IAsyncDisposable> ObserveUserAsync(string user, IUserObserver observer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(observer);
        Check(user, cancellationToken);
        Users.Add(user, observer);
        return new ValueTask<IAsyncDisposable>(new UserRegistration(Users, user, observer));
    }

    /// <inheritdoc />
    public ValueTask<int> SendToUserAsync(UserMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        Check(message.User, cancellationToken);
        var copy = message with { Data = message.Data.Clone() };
        return new ValueTask<int>(_users?.Deliver(copy.User, copy, static (o, m) => o.OnMessage(m), nameof(IUserObserver.OnMessage)) ?? 0);
    }

    /// <inheritdoc />
    public ValueTask<int> DisconnectUserAsync(UserDisconnect disconnect, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(disconnect);
        Check(disconnect.User, cancellationToken);
        return new ValueTask<int>(_users?.Deliver(disconnect.User, disconnect, static (o, d) => o.OnDisconnect(d), nameof(IUserObserver.OnDisconnect)) ?? 0);
    }

    /// <inheritdoc />
    public ValueTask<bool> TryAcquireConnectionSlotAsync(ConnectionSlot slot, int max, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(slot);
        Check(slot.Name, cancellationToken);
        return new ValueTask<bool>(_slots.TryAcquire(slot, max));
    }

    /// <inheritdoc />
    public ValueTask ReleaseConnectionSlotAsync(ConnectionSlot slot, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(slot);
        _slots.Release(slot);
        return ValueTask.CompletedTask;
    }

    private sealed class UserRegistration(UserObservers users, string user, IUserObserver observer) : IAsyncDisposable
    {
        private int _disposed;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                users.Remove(user, observer);
            }

            return ValueTask.CompletedTask;
        }
    }
}
