namespace Lifeline.Server.Connections;

/// <summary>
/// One connection's share of the node-wide limits (<see cref="ConnectionLimits"/>): the pending-handshake slot it
/// holds from the upgrade until its hello is accepted, and the per-address and per-user counts it took. Each is given
/// back exactly once, whichever of the hello or the teardown comes first.
/// </summary>
/// <param name="limits">The node-wide counters.</param>
internal sealed class ConnectionCounts(ConnectionLimits limits)
{
    private int _holdsHandshakeSlot = 1; // the upgrade took the slot before the connection existed
    private string? _countedAddress;
    private string? _countedUser;

    /// <summary>Gives the pending-handshake slot back (once): the hello was accepted, or teardown began.</summary>
    public void LeaveHandshakeSlot()
    {
        if (Interlocked.Exchange(ref _holdsHandshakeSlot, 0) == 1)
        {
            limits.ExitHandshake();
        }
    }

    /// <summary>Counts this connection against its remote address; false when the address is at its limit.</summary>
    public bool TryAcquireAddress(string address, int max)
    {
        if (!limits.TryAcquireAddress(address, max))
        {
            return false;
        }

        _countedAddress = address;
        return true;
    }

    /// <summary>Counts this connection against its user; false when the user is at its limit.</summary>
    public bool TryAcquireUser(string user, int max)
    {
        if (!limits.TryAcquireUser(user, max))
        {
            return false;
        }

        _countedUser = user;
        return true;
    }

    /// <summary>Gives the per-address and per-user counts back (each once).</summary>
    public void Release()
    {
        if (Interlocked.Exchange(ref _countedAddress, null) is { } address)
        {
            limits.ReleaseAddress(address);
        }

        if (Interlocked.Exchange(ref _countedUser, null) is { } user)
        {
            limits.ReleaseUser(user);
        }
    }
}
