using System.Globalization;

namespace Lifeline.Cli.Parsing;

/// <summary>
/// Parses durations as people write them on a command line: a non-negative number and a unit,
/// <c>500ms</c>, <c>5s</c>, <c>2m</c>, <c>1h</c> (decimals allowed: <c>1.5s</c>), or a .NET TimeSpan such as
/// <c>00:00:05</c> (what <c>appsettings.json</c> files usually hold). Zero parses; whether zero is allowed is the
/// option validator's call. Every failure comes with a message that says what was expected.
/// </summary>
internal static class DurationParser
{
    /// <summary>How a duration may be written, for help texts and error messages.</summary>
    public const string Syntax = "a number and a unit (ms, s, m, h), e.g. 500ms, 5s, 2m, 1h, or a TimeSpan such as 00:00:05";

    private static readonly (string Suffix, double TicksPerUnit)[] Units =
    [
        // "ms" before "m" and "s": the longest suffix that matches wins.
        ("ms", TimeSpan.TicksPerMillisecond),
        ("s", TimeSpan.TicksPerSecond),
        ("m", TimeSpan.TicksPerMinute),
        ("h", TimeSpan.TicksPerHour),
    ];

    /// <summary>Parses <paramref name="text"/>, or says why not.</summary>
    /// <param name="text">The text, e.g. <c>500ms</c>.</param>
    /// <param name="value">The duration when parsed.</param>
    /// <param name="error">Why the text is not a duration, when not parsed.</param>
    /// <returns>True when parsed.</returns>
    public static bool TryParse(string? text, out TimeSpan value, out string? error)
    {
        value = default;
        error = null;
        var s = text?.Trim() ?? string.Empty;
        if (s.Length == 0)
        {
            error = $"empty duration: expected {Syntax}";
            return false;
        }

        if (s.Contains(':', StringComparison.Ordinal))
        {
            if (TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out var span))
            {
                if (span < TimeSpan.Zero)
                {
                    error = $"'{text}' is negative: a duration must not be negative";
                    return false;
                }

                value = span;
                return true;
            }

            error = $"'{text}' is not a duration: expected {Syntax}";
            return false;
        }

        var unitStart = s.Length;
        while (unitStart > 0 && char.IsAsciiLetter(s[unitStart - 1]))
        {
            unitStart--;
        }

        var number = s[..unitStart].TrimEnd();
        var unit = s[unitStart..];
        if (unit.Length == 0)
        {
            error = $"'{text}' has no unit: write e.g. {number}s or {number}ms ({Syntax})";
            return false;
        }

        var ticksPerUnit = 0d;
        foreach (var (suffix, ticks) in Units)
        {
            if (string.Equals(unit, suffix, StringComparison.OrdinalIgnoreCase))
            {
                ticksPerUnit = ticks;
                break;
            }
        }

        if (ticksPerUnit == 0)
        {
            error = $"'{text}' has an unknown unit '{unit}': expected {Syntax}";
            return false;
        }

        if (number.Length == 0)
        {
            error = $"'{text}' has no number: expected {Syntax}";
            return false;
        }

        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var amount)
            || double.IsNaN(amount) || double.IsInfinity(amount))
        {
            error = $"'{text}' is not a duration: '{number}' is not a number ({Syntax})";
            return false;
        }

        if (amount < 0)
        {
            error = $"'{text}' is negative: a duration must not be negative";
            return false;
        }

        var totalTicks = amount * ticksPerUnit;
        if (totalTicks >= TimeSpan.MaxValue.Ticks)
        {
            error = $"'{text}' is too long a duration";
            return false;
        }

        value = TimeSpan.FromTicks((long)Math.Round(totalTicks));
        return true;
    }

    /// <summary>Parses <paramref name="text"/> or throws a <see cref="FormatException"/> with the reason.</summary>
    /// <param name="text">The text, e.g. <c>5s</c>.</param>
    /// <returns>The duration.</returns>
    public static TimeSpan Parse(string text) =>
        TryParse(text, out var value, out var error) ? value : throw new FormatException(error);

    /// <summary>Writes <paramref name="value"/> the way <see cref="TryParse"/> reads it back (the largest exact unit).</summary>
    /// <param name="value">The duration.</param>
    /// <returns>For example <c>30s</c>, <c>500ms</c>, <c>2m</c>.</returns>
    public static string Format(TimeSpan value)
    {
        var ticks = value.Ticks;
        if (ticks != 0)
        {
            if (ticks % TimeSpan.TicksPerHour == 0)
            {
                return (ticks / TimeSpan.TicksPerHour).ToString(CultureInfo.InvariantCulture) + "h";
            }

            if (ticks % TimeSpan.TicksPerMinute == 0)
            {
                return (ticks / TimeSpan.TicksPerMinute).ToString(CultureInfo.InvariantCulture) + "m";
            }

            if (ticks % TimeSpan.TicksPerSecond == 0)
            {
                return (ticks / TimeSpan.TicksPerSecond).ToString(CultureInfo.InvariantCulture) + "s";
            }
        }

        return value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + "ms";
    }
}
