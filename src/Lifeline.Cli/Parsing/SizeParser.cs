using System.Globalization;

namespace Lifeline.Cli.Parsing;

/// <summary>
/// Parses byte sizes: a whole number of bytes (<c>65536</c>, <c>65536B</c>) or binary multiples
/// (<c>64KiB</c>, <c>1MiB</c>). Decimal units (<c>KB</c>, <c>MB</c>) are refused rather than guessed: 64KB could
/// mean 64000 or 65536. The result must fit in an <see cref="int"/>.
/// </summary>
internal static class SizeParser
{
    /// <summary>How a size may be written, for help texts and error messages.</summary>
    public const string Syntax = "a whole number of bytes, or with a KiB or MiB suffix, e.g. 65536, 64KiB, 1MiB";

    /// <summary>Parses <paramref name="text"/>, or says why not.</summary>
    /// <param name="text">The text, e.g. <c>64KiB</c>.</param>
    /// <param name="value">The size in bytes when parsed.</param>
    /// <param name="error">Why the text is not a size, when not parsed.</param>
    /// <returns>True when parsed.</returns>
    public static bool TryParse(string? text, out int value, out string? error)
    {
        value = 0;
        error = null;
        var s = text?.Trim() ?? string.Empty;
        if (s.Length == 0)
        {
            error = $"empty size: expected {Syntax}";
            return false;
        }

        var unitStart = s.Length;
        while (unitStart > 0 && char.IsAsciiLetter(s[unitStart - 1]))
        {
            unitStart--;
        }

        var number = s[..unitStart].TrimEnd();
        var unit = s[unitStart..];
        long multiplier;
        switch (unit.ToUpperInvariant())
        {
            case "":
            case "B":
                multiplier = 1;
                break;
            case "KIB":
                multiplier = 1024;
                break;
            case "MIB":
                multiplier = 1024 * 1024;
                break;
            case "K" or "KB" or "M" or "MB":
                error = $"'{text}': write binary units, KiB or MiB (1 KiB = 1024 bytes)";
                return false;
            default:
                error = $"'{text}' has an unknown unit '{unit}': expected {Syntax}";
                return false;
        }

        if (!long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
        {
            error = $"'{text}' is not a size: '{number}' is not a whole non-negative number ({Syntax})";
            return false;
        }

        if (amount > int.MaxValue / multiplier)
        {
            error = $"'{text}' is too large (at most {int.MaxValue} bytes)";
            return false;
        }

        value = (int)(amount * multiplier);
        return true;
    }

    /// <summary>Parses <paramref name="text"/> or throws a <see cref="FormatException"/> with the reason.</summary>
    /// <param name="text">The text, e.g. <c>1MiB</c>.</param>
    /// <returns>The size in bytes.</returns>
    public static int Parse(string text) =>
        TryParse(text, out var value, out var error) ? value : throw new FormatException(error);

    /// <summary>Writes <paramref name="bytes"/> with the largest exact binary unit (<c>64KiB</c>, <c>1MiB</c>, <c>1000</c>).</summary>
    /// <param name="bytes">The size.</param>
    /// <returns>The text.</returns>
    public static string Format(int bytes) => bytes switch
    {
        > 0 when bytes % (1024 * 1024) == 0 => (bytes / (1024 * 1024)).ToString(CultureInfo.InvariantCulture) + "MiB",
        > 0 when bytes % 1024 == 0 => (bytes / 1024).ToString(CultureInfo.InvariantCulture) + "KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture),
    };
}
