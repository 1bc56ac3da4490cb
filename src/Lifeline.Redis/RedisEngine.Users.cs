// Messages and disconnect orders to one user, anywhere in the cluster. A node subscribes to the user's sharded pub/sub
// channel ({user:NAME}) only while it has at least one local observer of that user (the first one subscribes, the last
// one unsubscribes, under the user's lock in _userStripes, as channel observation does under its gate), and writes how many it has into the user's hash
// ({user:NAME}:nodes, one field per node). A send is one script in the user's slot: it sums the fields of the live
// nodes and publishes only when there is someone to reach. Declares and writes _users, _userStripes, _userIndex and
// _userRepairs; the node loop (RedisEngine.Nodes.cs) prunes the index and repairs counts whose write failed.
using System.Collections.Concurrent;
using Lifeline.Engine;
using Lifeline.Redis.Internal;
using StackExchange.Redis;

namespace Lifeline.Redis;

public sealed partial class RedisEngine
{
    private readonly ConcurrentDictionary<string, ObservedUser> _users = new(StringComparer.Ordinal);
    private readonly AsyncStripes _userStripes = new(32);
    private readonly ConcurrentDictionary<string, byte> _userRepairs = new(StringComparer.Ordinal);
    private NodeIndex? _userIndex;

    /// <summary>This node's index of the users it observes ({node:ID}:users).</summary>
    private NodeIndex UserIndex => LazyInitializer.EnsureInitialized(ref _userIndex, () => new NodeIndex(_calls, _keys.NodeUsers(NodeId)));

    /// <summary>Users with at least one observer on this node. For tests and diagnostics.</summary>
    internal int ObservedUserCount => _users.Count;

    /// <inheritdoc />
    /// <exception cref="EngineUnavailableException">Redis cannot be reached (nothing is registered).</exception>
    public async ValueTask<IAsyncDisposable> ObserveUserAsync(string user, IUserObserver observer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(observer);
        Check(user, cancellationToken);
        var gate = _userStripes.For(user);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_users.TryGetValue(user, out var observed))
            {
                observed = await StartObservingUserAsync(user).ConfigureAwait(false);
                _users[user] = observed;
            }

            observed.Add(observer);
            try
            {
                await WriteUserCountAsync(user, observed.Count).ConfigureAwait(false);
            }
            catch
            {
                await RemoveUserObserverAsync(observed, observer).ConfigureAwait(false);
                throw;
            }

            return new UserRegistration(this, observed, observer);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <inheritdoc />
    /// <remarks>One script in the user's slot; nothing is published when no live node registered an observer of the user.</remarks>
    public async ValueTask<int> SendToUserAsync(UserMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        Check(message.User, cancellationToken);
        return await SendToUserCoreAsync(message.User, MessageCodec.EncodeMessage(message)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<int> DisconnectUserAsync(UserDisconnect disconnect, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(disconnect);
        Check(disconnect.User, cancellationToken);
        return await SendToUserCoreAsync(disconnect.User, MessageCodec.EncodeDisconnect(disconnect)).ConfigureAwait(false);
    }

    private async Task<int> SendToUserCoreAsync(string user, string payload)
    {
        RedisValue[] args = [_publishCommand, _keys.UserPubSub(user), payload, .. DeadNodeArgs()];
        var count = await EvalAsync(RedisScripts.SendToUser, [_keys.UserNodes(user)], args).ConfigureAwait(false);
        return (int)(long)count;
    }

    /// <summary>Indexes the user first (so a dead node's registrations can be found), then subscribes.</summary>
    private async Task<ObservedUser> StartObservingUserAsync(string user)
    {
        await UserIndex.AddAsync(user).ConfigureAwait(false);
        var observed = new ObservedUser(user, _logger);
        try
        {
            var queue = await CallAsync(() => _redis.GetSubscriber().SubscribeAsync(PubSubChannel(_keys.UserPubSub(user)))).ConfigureAwait(false);
            observed.Queue = queue;
            queue.OnMessage(observed.Handle);
            return observed;
        }
        catch
        {
            await UserIndex.RemoveAsync(user).ConfigureAwait(false);
            throw;
        }
    }

    private async ValueTask UnobserveUserAsync(ObservedUser observed, IUserObserver observer)
    {
        var gate = _userStripes.For(observed.Name);
        await gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await RemoveUserObserverAsync(observed, observer).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Under the user's lock: removes the observer, writes the new count, and stops at the last one. Never throws.</summary>
    private async Task RemoveUserObserverAsync(ObservedUser observed, IUserObserver observer)
    {
        var remaining = observed.Remove(observer);
        var last = remaining == 0 && _users.TryRemove(KeyValuePair.Create(observed.Name, observed));
        try
        {
            await WriteUserCountAsync(observed.Name, remaining).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is EngineUnavailableException or RedisException or ObjectDisposedException)
        {
            RedisLog.RegistrationWriteFailed(_logger, "observers of user", observed.Name, ex);
            _userRepairs[observed.Name] = 0;
        }

        if (last)
        {
            await observed.StopAsync().ConfigureAwait(false);
            await UserIndex.RemoveAsync(observed.Name).ConfigureAwait(false);
        }
    }

    /// <summary>This node's field in the user's hash: the number of its observers, removed at 0.</summary>
    private Task<bool> WriteUserCountAsync(string user, int count) => count > 0
        ? CallAsync(() => Db.HashSetAsync(_keys.UserNodes(user), NodeId, count))
        : CallAsync(() => Db.HashDeleteAsync(_keys.UserNodes(user), NodeId));

    /// <summary>On the node loop: writes again the counts whose write failed (or every count, after the node was presumed dead).</summary>
    private async Task RepairUserCountsAsync()
    {
        foreach (var user in _userRepairs.Keys)
        {
            var gate = _userStripes.For(user);
            await gate.WaitAsync().ConfigureAwait(false);
            try
            {
                _userRepairs.TryRemove(user, out _);
                var count = _users.TryGetValue(user, out var observed) ? observed.Count : 0;
                try
                {
                    await WriteUserCountAsync(user, count).ConfigureAwait(false);
                }
                catch
                {
                    _userRepairs[user] = 0;
                    throw;
                }
            }
            finally
            {
                gate.Release();
            }
        }
    }

    /// <summary>Stops every user subscription (on disposal).</summary>
    private async Task UnobserveAllUsersAsync()
    {
        foreach (var observed in _users.Values)
        {
            await observed.StopAsync().ConfigureAwait(false);
        }

        _users.Clear();
    }

    /// <summary>The handle returned by <see cref="ObserveUserAsync"/>; disposing it twice is harmless.</summary>
    private sealed class UserRegistration(RedisEngine engine, ObservedUser observed, IUserObserver observer) : IAsyncDisposable
    {
        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                await engine.UnobserveUserAsync(observed, observer).ConfigureAwait(false);
            }
        }
    }
}
