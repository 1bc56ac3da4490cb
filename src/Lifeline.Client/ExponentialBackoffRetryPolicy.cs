namespace Lifeline.Client;

/// <summary>
/// Capped exponential backoff with full jitter (PROTOCOL.md "Reconnection"): before attempt k (k = 0, 1, ...) the
/// ceiling is <c>min(MaxDelay, BaseDelay * 2^k)</c> and the delay is drawn uniformly from <c>[0, ceiling)</c>, so a
/// crowd of clients cut off at once spreads over the whole window instead of hitting a restarted server together.
/// </summary>
/// <remarks>Thread-safe: one instance may serve many clients.</remarks>
public sealed class ExponentialBackoffRetryPolicy : IRetryPolicy
{
    /// <summary>The default <see cref="BaseDelay"/>: 1 second.</summary>
    public static readonly TimeSpan DefaultBaseDelay = TimeSpan.FromSeconds(1);

    /// <summary>The default <see cref="MaxDelay"/>: 30 seconds.</summary>
    public static readonly TimeSpan DefaultMaxDelay = TimeSpan.FromSeconds(30);

    private readonly Lock _randomLock = new();
    private readonly TimeSpan _baseDelay = DefaultBaseDelay;
    private readonly TimeSpan _maxDelay = DefaultMaxDelay;
    private readonly int? _maxAttempts;
    private readonly Random _random = Random.Shared;

    /// <summary>The ceiling of the first retry's delay; it doubles with every attempt. The default is 1 second.</summary>
    public TimeSpan BaseDelay
    {
        get => _baseDelay;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            _baseDelay = value;
        }
    }

    /// <summary>The cap on the delay ceiling. The default is 30 seconds.</summary>
    public TimeSpan MaxDelay
    {
        get => _maxDelay;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            _maxDelay = value;
        }
    }

    /// <summary>
    /// The give-up limit: how many attempts are made after a connection is lost before the client stops
    /// (<see cref="ClientState.Closed"/> with reason <c>retry_gave_up</c>); null means never give up. The default is null (unlimited).
    /// </summary>
    public int? MaxAttempts
    {
        get => _maxAttempts;
        init
        {
            if (value is { } v)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(v);
            }

            _maxAttempts = value;
        }
    }

    /// <summary>
    /// The jitter source. Inject a seeded <see cref="System.Random"/> to make delays reproducible in tests.
    /// The default is <see cref="Random.Shared"/>.
    /// </summary>
    public Random Random
    {
        get => _random;
        init => _random = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The delay ceiling for attempt <paramref name="attempt"/>: <c>min(MaxDelay, BaseDelay * 2^attempt)</c>.</summary>
    /// <param name="attempt">The attempt number k, from 0.</param>
    /// <returns>The upper bound (exclusive) of the jittered delay.</returns>
    public TimeSpan GetDelayCeiling(int attempt)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(attempt);

        // 2^k overflows long ticks long before k reaches 62; anything past the cap is the cap.
        if (attempt >= 40)
        {
            return MaxDelay;
        }

        var ticks = (double)BaseDelay.Ticks * Math.Pow(2, attempt);
        return ticks >= MaxDelay.Ticks ? MaxDelay : TimeSpan.FromTicks((long)ticks);
    }

    /// <inheritdoc />
    public TimeSpan? NextRetryDelay(RetryContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (MaxAttempts is { } max && context.PreviousRetryCount >= max)
        {
            return null;
        }

        var ceiling = GetDelayCeiling(context.PreviousRetryCount);
        double sample;
        lock (_randomLock)
        {
            // Random is not thread-safe (Random.Shared is, but an injected one may not be).
            sample = _random.NextDouble();
        }

        return TimeSpan.FromTicks((long)(sample * ceiling.Ticks));
    }
}
