using Lifeline.Engine;

namespace Lifeline.Server.Connections;

/// <summary>What <see cref="ConnectionCounts.TryAcquireAsync"/> found.</summary>
internal enum SlotOutcome
{
    /// <summary>The slot is held; <see cref="ConnectionCounts.ReleaseAsync"/> gives it back.</summary>
    Acquired,

    /// <summary>The address or user already holds its limit across the cluster (close 1008 <c>too_many_connections</c>).</summary>
    AtLimit,

    /// <summary>The engine could not count (close 1013 <c>engine_unavailable</c>: the client retries with backoff).</summary>
    Unavailable,
}

/// <summary>
/// One connection's share of the limits: the node-local pending-handshake slot it holds from the upgrade until its
/// hello is accepted, and the cluster-wide per-address and per-user connection slots it took from the engine
/// (<see cref="ILifelineEngine.TryAcquireConnectionSlotAsync"/>). Each is given back exactly once, whichever of the hello,
/// the acquire or the teardown comes last: an acquire that completes after the teardown released gives its slot back itself.
/// </summary>
/// <param name="limits">The node-wide pending-handshake count.</param>
internal sealed class ConnectionCounts(ConnectionLimits limits)
{
    private int _holdsHandshakeSlot = 1; // the upgrade took the slot before the connection existed
    private int _released; // set by ReleaseAsync: a slot acquired later is given back at once
    private string? _address; // the address whose slot is held (null: none)
    private string? _user; // the user whose slot is held (null: none)

    /// <summary>Gives the pending-handshake slot back (once): the hello was accepted, or teardown began.</summary>
    public void LeaveHandshakeSlot()
    {
        if (Interlocked.Exchange(ref _holdsHandshakeSlot, 0) == 1)
        {
            limits.ExitHandshake();
        }
    }

    /// <summary>Takes the connection's cluster-wide slot for its address or its user.</summary>
    /// <param name="engine">The engine that counts the slots.</param>
    /// <param name="kind">Address or user.</param>
    /// <param name="name">The address or the user id.</param>
    /// <param name="max">The limit.</param>
    /// <returns>What happened.</returns>
    public async ValueTask<SlotOutcome> TryAcquireAsync(ILifelineEngine engine, ConnectionSlotKind kind, string name, int max)
    {
        try
        {
            // Not cancelled by the connection's teardown: an acquire cut short might have counted without our knowing;
            // once it completes, the check below gives a late slot back.
            if (!await engine.TryAcquireConnectionSlotAsync(new ConnectionSlot(kind, name), max, CancellationToken.None))
            {
                return SlotOutcome.AtLimit;
            }
        }
        catch (Exception ex) when (ex is EngineUnavailableException or ObjectDisposedException)
        {
            return SlotOutcome.Unavailable;
        }

        if (kind == ConnectionSlotKind.Address)
        {
            Interlocked.Exchange(ref _address, name); // full fences: the write and the read below cannot be reordered
        }
        else
        {
            Interlocked.Exchange(ref _user, name);
        }

        if (Volatile.Read(ref _released) != 0)
        {
            await ReleaseHeldAsync(engine); // the teardown released before this slot was recorded
        }

        return SlotOutcome.Acquired;
    }

    /// <summary>Gives the per-address and per-user slots back (each once); later acquires give theirs back at once.</summary>
    /// <param name="engine">The engine that counts the slots.</param>
    /// <returns>When released (an engine failure is swallowed: the engine gives a dead node's slots back on its own).</returns>
    public ValueTask ReleaseAsync(ILifelineEngine engine)
    {
        Interlocked.Exchange(ref _released, 1);
        return ReleaseHeldAsync(engine);
    }

    private async ValueTask ReleaseHeldAsync(ILifelineEngine engine)
    {
        if (Interlocked.Exchange(ref _address, null) is { } address)
        {
            await ReleaseOneAsync(engine, new ConnectionSlot(ConnectionSlotKind.Address, address));
        }

        if (Interlocked.Exchange(ref _user, null) is { } user)
        {
            await ReleaseOneAsync(engine, new ConnectionSlot(ConnectionSlotKind.User, user));
        }
    }

    private static async ValueTask ReleaseOneAsync(ILifelineEngine engine, ConnectionSlot slot)
    {
        try
        {
            await engine.ReleaseConnectionSlotAsync(slot, CancellationToken.None);
        }
        catch (Exception ex) when (ex is EngineUnavailableException or ObjectDisposedException or OperationCanceledException)
        {
            // The engine is down or gone: its slots of this node are given back when the node's registrations expire.
        }
    }
}
