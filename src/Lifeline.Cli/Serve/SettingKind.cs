using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Lifeline.Cli.Parsing;

namespace Lifeline.Cli.Serve;

/// <summary>
/// How one kind of <c>lifeline serve</c> setting is read and written: from configuration text (with the problem worded
/// for the error message), as a System.CommandLine option, and back to text for help and docs (<see cref="Format"/>).
/// The kinds are in <see cref="SettingKinds"/>; each entry of <see cref="ServeSettingTable"/> names one.
/// </summary>
/// <typeparam name="T">The setting's value type.</typeparam>
internal sealed class SettingKind<T>
{
    /// <summary>
    /// Reads a configuration value (never null). Given the text and the full key (<c>Lifeline:Port</c>); returns false
    /// and the whole error line (<c>configuration Lifeline:Port='x' is not a whole number</c>) when it cannot.
    /// </summary>
    public required TryRead FromConfiguration { get; init; }

    /// <summary>Creates the option for a flag name (its parser, for the kinds that need one, words the errors).</summary>
    public required Func<string, Option> CreateOption { get; init; }

    /// <summary>Reads the value of a flag that was given.</summary>
    public required Func<ParseResult, Option, T> ReadOption { get; init; }

    /// <summary>Writes a value as help texts and docs show it (<c>30s</c>, <c>64KiB</c>, <c>anonymous</c>, <c>off</c>, <c>none</c>).</summary>
    public required Func<T, string> Format { get; init; }

    /// <summary>The flag's value placeholder in help (<c>duration</c>, <c>anonymous|dev</c>); null: the entry's own, or none.</summary>
    public string? HelpName { get; init; }

    /// <summary>Appended to every help text of this kind (how durations are written), or null.</summary>
    public string? HelpSuffix { get; init; }

    /// <summary>Reads a configuration value.</summary>
    /// <param name="text">The value as configuration holds it.</param>
    /// <param name="key">The full key, e.g. <c>Lifeline:Port</c>.</param>
    /// <param name="value">The value, when read.</param>
    /// <param name="error">The error line, when not.</param>
    /// <returns>True when read.</returns>
    public delegate bool TryRead(string text, string key, out T value, out string? error);
}

/// <summary>The kinds of <c>lifeline serve</c> settings, with the exact parsing and error wording the tool has always had.</summary>
internal static class SettingKinds
{
    /// <summary>A non-empty string (trimmed in configuration; a flag's value is taken as given).</summary>
    public static SettingKind<string> Text { get; } = TextKind<string>();

    /// <summary>A string that may be absent (null: not set); <c>none</c> in docs.</summary>
    public static SettingKind<string?> OptionalText { get; } = TextKind<string?>();

    /// <summary>A whole number (<c>int</c>); a bad flag gets System.CommandLine's own message.</summary>
    public static SettingKind<int> WholeNumber { get; } = new()
    {
        FromConfiguration = (string text, string key, out int value, out string? error) =>
        {
            var ok = int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);
            error = ok ? null : $"configuration {key}='{text}' is not a whole number";
            return ok;
        },
        CreateOption = name => new Option<int?>(name),
        ReadOption = (result, option) => result.GetValue((Option<int?>)option)!.Value,
        Format = v => v.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>A duration (<see cref="DurationParser"/>): a flag must be longer than zero, configuration may say zero (the options validator decides).</summary>
    public static SettingKind<TimeSpan> Duration { get; } = new()
    {
        FromConfiguration = (string text, string key, out TimeSpan value, out string? error) =>
        {
            var ok = DurationParser.TryParse(text, out value, out var problem);
            error = ok ? null : $"configuration {key}: {problem}";
            return ok;
        },
        CreateOption = name => new Option<TimeSpan?>(name) { CustomParser = DurationOptionParser.Positive },
        ReadOption = (result, option) => result.GetValue((Option<TimeSpan?>)option)!.Value,
        Format = DurationParser.Format,
        HelpName = "duration",
        HelpSuffix = " Written as 500ms, 5s, 2m or 1h.",
    };

    /// <summary>A size in bytes (<see cref="SizeParser"/>: <c>65536</c>, <c>64KiB</c>, <c>1MiB</c>).</summary>
    public static SettingKind<int> Size { get; } = new()
    {
        FromConfiguration = (string text, string key, out int value, out string? error) =>
        {
            var ok = SizeParser.TryParse(text, out value, out var problem);
            error = ok ? null : $"configuration {key}: {problem}";
            return ok;
        },
        CreateOption = name => new Option<int?>(name) { CustomParser = ParseSize },
        ReadOption = (result, option) => result.GetValue((Option<int?>)option)!.Value,
        Format = SizeParser.Format,
        HelpName = "size",
    };

    /// <summary>On or off: a flag without a value (<c>--test-endpoints</c>), <c>true</c>/<c>false</c> in configuration.</summary>
    public static SettingKind<bool> Switch { get; } = new()
    {
        FromConfiguration = (string text, string key, out bool value, out string? error) =>
        {
            var ok = bool.TryParse(text.Trim(), out value);
            error = ok ? null : $"configuration {key}='{text}' is not true or false";
            return ok;
        },
        CreateOption = name => new Option<bool>(name),
        ReadOption = (result, option) => result.GetValue((Option<bool>)option),
        Format = v => v ? "on" : "off",
    };

    /// <summary>One name of <typeparamref name="T"/>, any case (<c>dev</c>, <c>JSON</c>); written in lower case.</summary>
    /// <typeparam name="T">The enum.</typeparam>
    /// <returns>The kind.</returns>
    public static SettingKind<T> Choice<T>()
        where T : struct, Enum
    {
        var names = Enum.GetValues<T>().Select(Name).ToList();
        var expected = string.Join(" or ", names);
        return new()
        {
            FromConfiguration = (string text, string key, out T value, out string? error) =>
            {
                var ok = TryChoose(text, out value);
                error = ok ? null : $"configuration {key}='{text}' must be {expected}";
                return ok;
            },
            CreateOption = name => new Option<T?>(name) { CustomParser = r => ParseChoice<T>(r, expected) },
            ReadOption = (result, option) => result.GetValue((Option<T?>)option)!.Value,
            Format = Name,
            HelpName = string.Join('|', names),
        };
    }

    /// <summary>Reads one name of <typeparamref name="T"/>, trimmed, any case.</summary>
    /// <typeparam name="T">The enum.</typeparam>
    /// <param name="text">The text.</param>
    /// <param name="value">The value, when read.</param>
    /// <returns>True when <paramref name="text"/> is a name of <typeparamref name="T"/>.</returns>
    public static bool TryChoose<T>(string text, out T value)
        where T : struct, Enum
    {
        foreach (var candidate in Enum.GetValues<T>())
        {
            if (string.Equals(candidate.ToString(), text.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                value = candidate;
                return true;
            }
        }

        value = default;
        return false;
    }

    private static string Name<T>(T value)
        where T : struct, Enum => value.ToString().ToLowerInvariant();

    private static SettingKind<TString> TextKind<TString>()
        where TString : class? => new()
    {
        FromConfiguration = (string text, string key, out TString value, out string? error) =>
        {
            var ok = !string.IsNullOrWhiteSpace(text);
            value = (ok ? text.Trim() : string.Empty) as TString ?? throw new InvalidOperationException();
            error = ok ? null : $"configuration {key} is empty";
            return ok;
        },
        CreateOption = name => new Option<string?>(name),
        ReadOption = (result, option) => result.GetValue((Option<string?>)option) as TString ?? throw new InvalidOperationException($"{option.Name} has no value"),
        Format = v => v as string ?? "none",
    };

    private static int? ParseSize(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        var name = (result.Parent as OptionResult)?.Option.Name ?? "size";
        if (SizeParser.TryParse(text, out var value, out var problem))
        {
            return value;
        }

        result.AddError($"{name}: {problem}");
        return null;
    }

    private static T? ParseChoice<T>(ArgumentResult result, string expected)
        where T : struct, Enum
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (TryChoose<T>(text, out var value))
        {
            return value;
        }

        var name = (result.Parent as OptionResult)?.Option.Name ?? "value";
        result.AddError($"{name}: '{text}' must be {expected}");
        return null;
    }
}
