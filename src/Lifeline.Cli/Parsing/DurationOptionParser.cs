using System.CommandLine.Parsing;

namespace Lifeline.Cli.Parsing;

/// <summary>The one System.CommandLine parser for duration options (<c>500ms</c>, <c>5s</c>, <c>2m</c>, <c>1h</c>) of every command.</summary>
internal static class DurationOptionParser
{
    /// <summary>Parses a duration that must be longer than zero; a bad value adds a clear error naming the option.</summary>
    /// <param name="result">The option's argument.</param>
    /// <returns>The duration, or null after an error was added.</returns>
    public static TimeSpan? Positive(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        var name = (result.Parent as OptionResult)?.Option.Name ?? "duration";
        if (!DurationParser.TryParse(text, out var value, out var problem))
        {
            result.AddError($"{name}: {problem}");
            return null;
        }

        if (value <= TimeSpan.Zero)
        {
            result.AddError($"{name}: must be longer than zero (was '{text}')");
            return null;
        }

        return value;
    }
}
