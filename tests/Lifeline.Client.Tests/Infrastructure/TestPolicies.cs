using System.Collections.Concurrent;

namespace Lifeline.Client.Tests.Infrastructure;

/// <summary>Records every decision of an inner policy.</summary>
internal sealed class RecordingPolicy(IRetryPolicy inner) : IRetryPolicy
{
    private readonly ConcurrentQueue<(RetryContext Context, TimeSpan? Delay)> _calls = new();

    public IReadOnlyList<(RetryContext Context, TimeSpan? Delay)> Calls => [.. _calls];

    public int CallCount => _calls.Count;

    public TimeSpan? NextRetryDelay(RetryContext context)
    {
        var delay = inner.NextRetryDelay(context);
        _calls.Enqueue((context, delay));
        return delay;
    }

    /// <summary>A fixed delay, recorded.</summary>
    public static RecordingPolicy Fixed(TimeSpan delay) => new(new FixedPolicy(delay));

    private sealed class FixedPolicy(TimeSpan delay) : IRetryPolicy
    {
        public TimeSpan? NextRetryDelay(RetryContext context) => delay;
    }
}

internal sealed class ThrowingPolicy : IRetryPolicy
{
    public int Calls;

    public TimeSpan? NextRetryDelay(RetryContext context)
    {
        Interlocked.Increment(ref Calls);
        throw new InvalidOperationException("policy bug");
    }
}

/// <summary>A fixed delay for a limited number of attempts.</summary>
internal sealed class LimitedPolicy(TimeSpan delay, int maxAttempts) : IRetryPolicy
{
    public TimeSpan? NextRetryDelay(RetryContext context) => context.PreviousRetryCount < maxAttempts ? delay : null;
}
