// The subscription lifecycle of one channel: whether the application wants it (_desired), the connection a subscribe
// is in flight on, the connection the server confirmed it on and the offset it reported (the sync target), the
// connection the channel is synchronized on, and the callers of SubscribeAsync waiting for that. It owns those fields
// and is their only writer. It has no lock of its own: LifelineChannel calls it under the channel's lock, together
// with ChannelReplica, and settles the returned WaiterBatch after releasing that lock, so no caller's continuation
// runs under it.
namespace Lifeline.Client.Internal;

/// <summary>Which connection a channel is subscribed on and who waits for it; not thread-safe (the owning channel's lock guards it).</summary>
internal sealed class ChannelSubscription
{
    private readonly List<Waiter> _waiters = [];
    private bool _desired;
    private long _syncTarget = -1;
    private ClientConnection? _subscribeInFlight;
    private ClientConnection? _subscribedOn;
    private ClientConnection? _syncedOn;

    /// <summary>Whether the application subscribed and has not unsubscribed (or been refused).</summary>
    public bool IsDesired => _desired;

    /// <summary>True when the subscribe in flight went out on <paramref name="conn"/> and has no reply yet.</summary>
    public bool IsInFlightOn(ClientConnection conn) => _subscribeInFlight == conn;

    /// <summary>
    /// The application wants the channel. Returns null when it is already synchronized on a live connection, else the
    /// task of a new waiter, bound to the subscribe in flight (if any), that completes once it is.
    /// </summary>
    public Task? Want()
    {
        _desired = true;
        if (_syncedOn is { IsEnded: false })
        {
            return null;
        }

        var waiter = new Waiter(_subscribeInFlight);
        _waiters.Add(waiter);
        return waiter.Completion.Task;
    }

    /// <summary>The application unsubscribed: no longer wanted nor subscribed anywhere; returns the waiters to cancel.</summary>
    public WaiterBatch Drop()
    {
        _desired = false;
        _syncedOn = null;
        _subscribedOn = null;
        return TakeAll();
    }

    /// <summary>Marks a subscribe as in flight on <paramref name="conn"/>; false when not wanted or already in flight there.</summary>
    public bool TryBegin(ClientConnection conn)
    {
        if (!_desired || _subscribeInFlight == conn || conn.IsEnded)
        {
            return false;
        }

        _subscribeInFlight = conn;
        _syncedOn = null;
        foreach (var w in _waiters)
        {
            if (w.Connection is null || w.Connection.IsEnded)
            {
                w.Connection = conn;
            }
        }

        return true;
    }

    /// <summary>The server confirmed the subscribe on <paramref name="conn"/>, as of <paramref name="offset"/>.</summary>
    public void OnSubscribed(ClientConnection conn, long offset)
    {
        _subscribedOn = conn;
        _syncTarget = offset;

        // The reply is in: from here deltas arrive in order, so a gap found now is a real one to recover from.
        if (_subscribeInFlight == conn)
        {
            _subscribeInFlight = null;
        }
    }

    /// <summary>
    /// When subscribed and <paramref name="replica"/> has caught up with the offset the server confirmed, the channel is
    /// synchronized on that connection: returns the waiters to complete.
    /// </summary>
    public WaiterBatch TakeWaitersIfSynced(ChannelReplica replica)
    {
        if (_subscribedOn is not { } conn || !replica.IsCaughtUpTo(_syncTarget))
        {
            return default;
        }

        _syncedOn = conn;
        return _waiters.Count == 0 ? default : TakeAll();
    }

    /// <summary>The subscribe sent on <paramref name="conn"/> got its reply or failed; refused, it is no longer wanted and its waiters fail.</summary>
    public WaiterBatch OnSubscribeEnded(ClientConnection conn, bool refused)
    {
        if (_subscribeInFlight == conn)
        {
            _subscribeInFlight = null;
        }

        if (!refused)
        {
            return default;
        }

        _desired = false;
        return TakeAll();
    }

    /// <summary>The connection ended: forgets it and returns the waiters bound to it; the channel stays wanted.</summary>
    public WaiterBatch OnConnectionEnded(ClientConnection conn)
    {
        if (_subscribeInFlight == conn)
        {
            _subscribeInFlight = null;
        }

        if (_subscribedOn == conn)
        {
            _subscribedOn = null;
        }

        if (_syncedOn == conn)
        {
            _syncedOn = null;
        }

        List<Waiter> failed = [];
        _waiters.RemoveAll(w =>
        {
            if (w.Connection != conn)
            {
                return false;
            }

            failed.Add(w);
            return true;
        });
        return new WaiterBatch(failed);
    }

    /// <summary>The client stopped: forgets every connection and returns every waiter; the channel stays wanted.</summary>
    public WaiterBatch Reset()
    {
        var all = TakeAll();
        _subscribeInFlight = null;
        _subscribedOn = null;
        _syncedOn = null;
        return all;
    }

    private WaiterBatch TakeAll()
    {
        List<Waiter> taken = [.. _waiters];
        _waiters.Clear();
        return new WaiterBatch(taken);
    }

    /// <summary>A caller of SubscribeAsync, bound to the connection its subscribe went out on (null while offline).</summary>
    internal sealed class Waiter(ClientConnection? connection)
    {
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ClientConnection? Connection { get; set; } = connection;
    }

    /// <summary>Waiters taken out under the channel's lock, to be settled after it is released; default holds none.</summary>
    internal readonly struct WaiterBatch(List<Waiter>? waiters)
    {
        /// <summary>The channel is synchronized: every waiter completes.</summary>
        public void Complete()
        {
            if (waiters is null)
            {
                return;
            }

            foreach (var w in waiters)
            {
                w.Completion.TrySetResult();
            }
        }

        /// <summary>Every waiter fails with <paramref name="error"/> (a new <see cref="LifelineDisconnectedException"/> each when null).</summary>
        public void Fail(Exception? error)
        {
            if (waiters is null)
            {
                return;
            }

            foreach (var w in waiters)
            {
                w.Completion.TrySetException(error ?? new LifelineDisconnectedException());
            }
        }

        /// <summary>The channel was unsubscribed: every waiter fails with its own <see cref="OperationCanceledException"/>.</summary>
        public void Cancel()
        {
            if (waiters is null)
            {
                return;
            }

            foreach (var w in waiters)
            {
                w.Completion.TrySetException(new OperationCanceledException("the channel was unsubscribed"));
            }
        }
    }
}
