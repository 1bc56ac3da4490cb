namespace Lifeline.Server.Connections;

/// <summary>
/// The node-local limit: connections still waiting for their hello (a pending handshake costs this node only). The
/// per-address and per-user limits are cluster-wide, counted by the engine's connection slots (<see cref="ConnectionCounts"/>).
/// </summary>
internal sealed class ConnectionLimits
{
    private int _pendingHandshakes;

    public int PendingHandshakes => Volatile.Read(ref _pendingHandshakes);

    public bool TryEnterHandshake(int max)
    {
        if (Interlocked.Increment(ref _pendingHandshakes) > max)
        {
            Interlocked.Decrement(ref _pendingHandshakes);
            return false;
        }

        return true;
    }

    public void ExitHandshake() => Interlocked.Decrement(ref _pendingHandshakes);

    /// <summary>True when no handshake slot is held (tests: nothing leaked).</summary>
    public bool IsEmpty => PendingHandshakes == 0;
}
