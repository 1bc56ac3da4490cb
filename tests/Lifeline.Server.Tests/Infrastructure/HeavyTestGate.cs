namespace Lifeline.Server.Tests.Infrastructure;

/// <summary>
/// CPU-heavy tests (the seeded fuzz run, the flat-out publisher load test) take this gate so that they never run at
/// the same time: on a 2-core machine one would starve the other's clients into slow-consumer closes (1013).
/// </summary>
public static class HeavyTestGate
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static async Task<IDisposable> EnterAsync()
    {
        if (!await Gate.WaitAsync(TimeSpan.FromMinutes(5)))
        {
            throw new TimeoutException("another CPU-heavy test held the gate for 5 minutes");
        }

        return new Releaser();
    }

    private sealed class Releaser : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                Gate.Release();
            }
        }
    }
}
