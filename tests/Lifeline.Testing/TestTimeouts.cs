namespace Lifeline.Testing;

/// <summary>
/// Bounds for waits in tests. A passing test never waits this long: they turn a hang into a failure with a message
/// (SignalR's <c>.OrTimeout()</c>, STYLE.md point 12). Tests await events under these, they never sleep for them.
/// </summary>
public static class TestTimeouts
{
    /// <summary>Generous bound for anything that should happen "soon" on a loaded, shared 2-core CI machine.</summary>
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(20);

    /// <summary>How long a test watches for something that must not happen.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    /// <summary>The task, failing with <see cref="TimeoutException"/> after <see cref="Default"/> (or <paramref name="timeout"/>).</summary>
    public static Task DefaultTimeout(this Task task, TimeSpan? timeout = null) => task.WaitAsync(timeout ?? Default);

    /// <summary>The task, failing with <see cref="TimeoutException"/> after <see cref="Default"/> (or <paramref name="timeout"/>).</summary>
    public static Task<T> DefaultTimeout<T>(this Task<T> task, TimeSpan? timeout = null) => task.WaitAsync(timeout ?? Default);

    /// <summary>The task, failing with <see cref="TimeoutException"/> after <see cref="Default"/> (or <paramref name="timeout"/>).</summary>
    public static Task DefaultTimeout(this ValueTask task, TimeSpan? timeout = null) => task.AsTask().WaitAsync(timeout ?? Default);

    /// <summary>The task, failing with <see cref="TimeoutException"/> after <see cref="Default"/> (or <paramref name="timeout"/>).</summary>
    public static Task<T> DefaultTimeout<T>(this ValueTask<T> task, TimeSpan? timeout = null) => task.AsTask().WaitAsync(timeout ?? Default);

    /// <summary>The source's task, failing with <see cref="TimeoutException"/> after <see cref="Default"/> (or <paramref name="timeout"/>).</summary>
    public static Task DefaultTimeout(this TaskCompletionSource source, TimeSpan? timeout = null) => source.Task.WaitAsync(timeout ?? Default);

    /// <summary>The source's task, failing with <see cref="TimeoutException"/> after <see cref="Default"/> (or <paramref name="timeout"/>).</summary>
    public static Task<T> DefaultTimeout<T>(this TaskCompletionSource<T> source, TimeSpan? timeout = null) => source.Task.WaitAsync(timeout ?? Default);
}
