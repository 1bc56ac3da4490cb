using System.Text;

namespace Lifeline.Cli.ProxyCheck;

/// <summary>One nginx directive: its name, arguments, line and (for blocks) its children.</summary>
/// <param name="Name">The directive name (<c>location</c>, <c>proxy_read_timeout</c>, ...).</param>
/// <param name="Args">The arguments, quotes removed.</param>
/// <param name="Line">The 1-based line it starts on.</param>
/// <param name="Children">The directives inside its block; null when it is a simple directive.</param>
internal sealed record NginxDirective(string Name, IReadOnlyList<string> Args, int Line, IReadOnlyList<NginxDirective>? Children);

/// <summary>
/// A small parser of nginx configuration syntax: directives ending in <c>;</c>, blocks in braces, <c>#</c> comments,
/// single- and double-quoted strings with backslash escapes. It does not follow <c>include</c>.
/// </summary>
internal static class NginxConfig
{
    /// <summary>Parses a configuration text.</summary>
    /// <exception cref="FormatException">Unbalanced braces or a directive without its <c>;</c>, with the line.</exception>
    public static IReadOnlyList<NginxDirective> Parse(string text)
    {
        var tokens = Tokenize(text);
        var index = 0;
        var result = ParseBlock(tokens, ref index, topLevel: true);
        return result;
    }

    private static List<NginxDirective> ParseBlock(List<(string Text, int Line, bool Quoted)> tokens, ref int index, bool topLevel)
    {
        var directives = new List<NginxDirective>();
        var words = new List<string>();
        var line = 0;
        while (index < tokens.Count)
        {
            var (text, tokenLine, quoted) = tokens[index++];
            if (!quoted && text == ";")
            {
                if (words.Count == 0)
                {
                    continue;
                }

                directives.Add(new NginxDirective(words[0], words.Skip(1).ToArray(), line, null));
                words.Clear();
            }
            else if (!quoted && text == "{")
            {
                if (words.Count == 0)
                {
                    throw new FormatException($"line {tokenLine}: a block without a directive name");
                }

                var name = words[0];
                var args = words.Skip(1).ToArray();
                var blockLine = line;
                words.Clear();
                directives.Add(new NginxDirective(name, args, blockLine, ParseBlock(tokens, ref index, topLevel: false)));
            }
            else if (!quoted && text == "}")
            {
                if (topLevel)
                {
                    throw new FormatException($"line {tokenLine}: unexpected '}}'");
                }

                if (words.Count > 0)
                {
                    throw new FormatException($"line {line}: directive '{words[0]}' has no ';'");
                }

                return directives;
            }
            else
            {
                if (words.Count == 0)
                {
                    line = tokenLine;
                }

                words.Add(text);
            }
        }

        if (words.Count > 0)
        {
            throw new FormatException($"line {line}: directive '{words[0]}' has no ';'");
        }

        if (!topLevel)
        {
            throw new FormatException("unexpected end of file: a block is not closed with '}'");
        }

        return directives;
    }

    private static List<(string Text, int Line, bool Quoted)> Tokenize(string text)
    {
        var tokens = new List<(string, int, bool)>();
        var line = 1;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '\n')
            {
                line++;
                i++;
            }
            else if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c == '#')
            {
                while (i < text.Length && text[i] != '\n')
                {
                    i++;
                }
            }
            else if (c is ';' or '{' or '}')
            {
                tokens.Add((c.ToString(), line, false));
                i++;
            }
            else if (c is '"' or '\'')
            {
                var start = line;
                var sb = new StringBuilder();
                i++;
                while (i < text.Length && text[i] != c)
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        i++;
                    }

                    if (text[i] == '\n')
                    {
                        line++;
                    }

                    sb.Append(text[i++]);
                }

                if (i >= text.Length)
                {
                    throw new FormatException($"line {start}: a quoted string is not closed");
                }

                i++;
                tokens.Add((sb.ToString(), start, true));
            }
            else
            {
                var sb = new StringBuilder();
                while (i < text.Length && !char.IsWhiteSpace(text[i]) && text[i] is not (';' or '{' or '}'))
                {
                    // ${var} stays one word.
                    if (text[i] == '$' && i + 1 < text.Length && text[i + 1] == '{')
                    {
                        while (i < text.Length && text[i] != '}')
                        {
                            sb.Append(text[i++]);
                        }
                    }

                    if (i < text.Length)
                    {
                        sb.Append(text[i++]);
                    }
                }

                tokens.Add((sb.ToString(), line, false));
            }
        }

        return tokens;
    }

    /// <summary>Parses an nginx time (<c>75</c>, <c>75s</c>, <c>1m30s</c>, <c>500ms</c>, <c>1h</c>); a bare number is seconds.</summary>
    public static bool TryParseTime(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        var i = 0;
        if (text.Length == 0)
        {
            return false;
        }

        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }

            if (start == i || !long.TryParse(text.AsSpan(start, i - start), System.Globalization.CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            var unitStart = i;
            while (i < text.Length && char.IsAsciiLetter(text[i]))
            {
                i++;
            }

            var unit = text[unitStart..i];
            TimeSpan? part = unit switch
            {
                "" or "s" => TimeSpan.FromSeconds(number),
                "ms" => TimeSpan.FromMilliseconds(number),
                "m" => TimeSpan.FromMinutes(number),
                "h" => TimeSpan.FromHours(number),
                "d" => TimeSpan.FromDays(number),
                "w" => TimeSpan.FromDays(7 * number),
                "M" => TimeSpan.FromDays(30 * number),
                "y" => TimeSpan.FromDays(365 * number),
                _ => null,
            };
            if (part is null || (unit.Length == 0 && i < text.Length))
            {
                return false;
            }

            value += part.Value;
        }

        return true;
    }
}
