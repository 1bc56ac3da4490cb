// A fixed set of async locks picked by a name's hash: operations on one name run one at a time on this node, operations
// on different names mostly do not wait for each other (unlike one gate for all, which would serialize a reconnect
// storm's registrations behind one Redis round trip each).
namespace Lifeline.Redis.Internal;

/// <summary>Async locks striped by name.</summary>
#pragma warning disable CA1001 // the semaphores never allocate a wait handle (only WaitAsync is used), so there is nothing to dispose
internal sealed class AsyncStripes(int count)
#pragma warning restore CA1001
{
    private readonly SemaphoreSlim[] _stripes = [.. Enumerable.Range(0, count).Select(_ => new SemaphoreSlim(1, 1))];

    /// <summary>The lock of <paramref name="name"/>.</summary>
    public SemaphoreSlim For(string name) =>
        _stripes[(int)((uint)StringComparer.Ordinal.GetHashCode(name) % (uint)_stripes.Length)];
}
