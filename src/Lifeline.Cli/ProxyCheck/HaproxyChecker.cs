using System.Text.RegularExpressions;

namespace Lifeline.Cli.ProxyCheck;

/// <summary>
/// Checks the timeouts of an HAProxy configuration against the heartbeat. Once a WebSocket is upgraded HAProxy is in
/// tunnel mode: <c>timeout tunnel</c> applies when set, otherwise <c>timeout client</c> and <c>timeout server</c>
/// (the shorter one cuts). A <c>defaults</c> section's values apply to the sections after it. HAProxy times without a
/// unit are milliseconds.
/// </summary>
internal static partial class HaproxyChecker
{
    /// <summary>True when the text looks like an HAProxy configuration (sections, no braces).</summary>
    public static bool LooksLikeHaproxy(string text) => !text.Contains('{', StringComparison.Ordinal) && SectionLine().IsMatch(text);

    public static IReadOnlyList<ProxyFinding> Check(string text, TimeSpan heartbeatInterval, TimeSpan heartbeatTimeout, out int sectionsChecked)
    {
        var threshold = heartbeatInterval + heartbeatTimeout;
        var findings = new List<ProxyFinding>();
        var defaults = new Dictionary<string, (TimeSpan Value, int Line)>(StringComparer.Ordinal);
        Dictionary<string, (TimeSpan Value, int Line)>? current = null;
        (string Name, int Line)? section = null;
        var count = 0;
        var lines = text.Split('\n');

        void Finish()
        {
            if (section is not { } s || current is null)
            {
                return;
            }

            count++;
            var name = s.Name;
            if (current.TryGetValue("tunnel", out var tunnel))
            {
                Judge("timeout tunnel", tunnel.Value, tunnel.Line);
            }
            else
            {
                foreach (var kind in new[] { "client", "server" })
                {
                    if (current.TryGetValue(kind, out var t))
                    {
                        Judge($"timeout {kind} (no timeout tunnel)", t.Value, t.Line);
                    }
                }
            }

            void Judge(string what, TimeSpan value, int line)
            {
                var shown = Parsing.DurationParser.Format(value);
                if (value <= threshold)
                {
                    findings.Add(new ProxyFinding(Severity.Error, line, name, $"{what} {shown} is not longer than the heartbeat interval + timeout ({Parsing.DurationParser.Format(threshold)}): HAProxy closes idle WebSocket connections; use at least {Parsing.DurationParser.Format(threshold * 2)}"));
                }
                else if (value < threshold * 2)
                {
                    findings.Add(new ProxyFinding(Severity.Warning, line, name, $"{what} {shown} is under 2x the heartbeat interval + timeout ({Parsing.DurationParser.Format(threshold * 2)})"));
                }
            }
        }

        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var hash = line.IndexOf('#', StringComparison.Ordinal);
            var words = (hash >= 0 ? line[..hash] : line).Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0)
            {
                continue;
            }

            if (words[0] is "defaults" or "frontend" or "backend" or "listen" or "global")
            {
                Finish();
                if (words[0] == "defaults")
                {
                    defaults = new Dictionary<string, (TimeSpan, int)>(StringComparer.Ordinal);
                    current = defaults;
                    section = null;
                }
                else if (words[0] == "global")
                {
                    current = null;
                    section = null;
                }
                else
                {
                    current = new Dictionary<string, (TimeSpan, int)>(defaults, StringComparer.Ordinal);
                    section = ($"{words[0]} {(words.Length > 1 ? words[1] : "")}".Trim(), i + 1);
                }

                continue;
            }

            if (current is not null && words.Length >= 3 && words[0] == "timeout" && words[1] is "tunnel" or "client" or "server"
                && TryParseTime(words[2], out var value))
            {
                current[words[1]] = (value, i + 1);
            }
        }

        Finish();
        sectionsChecked = count;
        return findings;
    }

    /// <summary>An HAProxy time: a number with us, ms, s, m, h or d; milliseconds without a unit.</summary>
    public static bool TryParseTime(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        var match = TimeValue().Match(text);
        if (!match.Success || !long.TryParse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }

        value = match.Groups[2].Value switch
        {
            "us" => TimeSpan.FromMicroseconds(n),
            "" or "ms" => TimeSpan.FromMilliseconds(n),
            "s" => TimeSpan.FromSeconds(n),
            "m" => TimeSpan.FromMinutes(n),
            "h" => TimeSpan.FromHours(n),
            _ => TimeSpan.FromDays(n),
        };
        return true;
    }

    [GeneratedRegex(@"^\s*(defaults|frontend|backend|listen)\b", RegexOptions.Multiline)]
    private static partial Regex SectionLine();

    [GeneratedRegex(@"^(\d+)(us|ms|s|m|h|d)?$")]
    private static partial Regex TimeValue();
}
