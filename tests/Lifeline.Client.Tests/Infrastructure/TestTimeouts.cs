namespace Lifeline.Client.Tests.Infrastructure;

internal static class TestTimeouts
{
    /// <summary>Generous: the machine is small and shared; a passing test never waits this long.</summary>
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(15);

    /// <summary>How long a test watches for something that must not happen.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    public static Task<T> DefaultTimeout<T>(this Task<T> task) => task.WaitAsync(Default);

    public static Task DefaultTimeout(this Task task) => task.WaitAsync(Default);
}
