using System.Globalization;

namespace Lifeline.Server.Connections;

/// <summary>
/// The millisecond UTC timestamp of a lifecycle event, carried in its structured state as <c>At</c>. A struct that is
/// formatted only when a provider renders it: a disabled level builds no string.
/// </summary>
/// <param name="value">The instant.</param>
internal readonly struct LogTime(DateTimeOffset value)
{
    /// <summary>The instant.</summary>
    public DateTimeOffset Value { get; } = value;

    /// <summary>Now on <paramref name="time"/>'s clock.</summary>
    /// <param name="time">The clock.</param>
    /// <returns>The timestamp.</returns>
    public static LogTime Now(TimeProvider time) => new(time.GetUtcNow());

    /// <summary>ISO 8601 UTC with milliseconds, e.g. <c>2026-12-06T03:43:26.123Z</c>.</summary>
    /// <returns>The formatted instant.</returns>
    public override string ToString() => Value.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
}
