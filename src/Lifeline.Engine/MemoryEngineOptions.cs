namespace Lifeline.Engine;

/// <summary>Settings of <see cref="MemoryEngine"/>. Values are read once, when the engine is created.</summary>
public sealed class MemoryEngineOptions
{
    /// <summary>The default of <see cref="HistorySize"/>: 1000 deltas per channel.</summary>
    public const int DefaultHistorySize = 1000;

    /// <summary>The default of <see cref="HistoryAge"/> in seconds: 5 minutes.</summary>
    public const int DefaultHistoryAgeSeconds = 5 * 60;

    /// <summary>The default of <see cref="IdempotencyWindow"/> in seconds: 120 (the protocol's default resume window).</summary>
    public const int DefaultIdempotencyWindowSeconds = 120;

    /// <summary>
    /// The most deltas kept per channel for recovery; a subscriber further behind gets a snapshot.
    /// Must be at least 1. The default is 1000.
    /// </summary>
    public int HistorySize { get; set; } = DefaultHistorySize;

    /// <summary>
    /// How long a delta stays in the history for recovery; a subscriber whose position is older gets a snapshot.
    /// Must be positive. The default is 5 minutes.
    /// </summary>
    public TimeSpan HistoryAge { get; set; } = TimeSpan.FromSeconds(DefaultHistoryAgeSeconds);

    /// <summary>
    /// How long a publish idempotency key (per scope) is remembered; a repeat within it returns the first result.
    /// Must be positive. The default is 120 seconds.
    /// </summary>
    public TimeSpan IdempotencyWindow { get; set; } = TimeSpan.FromSeconds(DefaultIdempotencyWindowSeconds);

    /// <summary>Throws when a value is impossible (a history of no entries, a zero or negative duration).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(HistorySize, 1, nameof(HistorySize));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(HistoryAge, TimeSpan.Zero, nameof(HistoryAge));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(IdempotencyWindow, TimeSpan.Zero, nameof(IdempotencyWindow));
    }
}
