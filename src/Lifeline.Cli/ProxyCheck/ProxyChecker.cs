namespace Lifeline.Cli.ProxyCheck;

/// <summary>How bad a finding is. Both make <c>lifeline check-proxy</c> exit non-zero.</summary>
internal enum Severity
{
    /// <summary>Works today, but with too little margin (a slow pong or a GC pause cuts the connection).</summary>
    Warning,

    /// <summary>Will cut or break WebSocket connections.</summary>
    Error,
}

/// <summary>One finding, with the line of the directive (or of the location when a directive is missing).</summary>
internal sealed record ProxyFinding(Severity Severity, int Line, string Location, string Message);

/// <summary>
/// Checks the WebSocket locations of an nginx configuration (every <c>location</c> with <c>proxy_pass</c>) against the
/// server's heartbeat: nginx closes a proxied connection that carries nothing for <c>proxy_read_timeout</c> (default
/// 60 s) and a write that makes no progress for <c>proxy_send_timeout</c>. Lifeline's pings keep the connection busy
/// every heartbeat interval, and a pong may take up to the heartbeat timeout: the "threshold" is interval + timeout.
/// A timeout at or under it cuts idle connections (error); one under twice it leaves too little margin (warning).
/// The WebSocket upgrade needs <c>proxy_http_version 1.1</c> and the <c>Upgrade</c> and <c>Connection</c> headers
/// passed on; <c>proxy_buffering</c> should be off so that messages are not held back.
/// Inheritance follows nginx: <c>proxy_*</c> settings come from the nearest enclosing level that sets them, and
/// <c>proxy_set_header</c> is inherited only by levels that set none themselves.
/// </summary>
internal static class ProxyChecker
{
    private static readonly TimeSpan NginxDefaultTimeout = TimeSpan.FromSeconds(60);

    public static IReadOnlyList<ProxyFinding> Check(IReadOnlyList<NginxDirective> config, TimeSpan heartbeatInterval, TimeSpan heartbeatTimeout, out int locationsChecked)
    {
        var findings = new List<ProxyFinding>();
        var count = 0;
        Walk(config, [], findings, heartbeatInterval + heartbeatTimeout, ref count);
        locationsChecked = count;
        return findings;
    }

    private static void Walk(IReadOnlyList<NginxDirective> block, List<IReadOnlyList<NginxDirective>> outer, List<ProxyFinding> findings, TimeSpan threshold, ref int count)
    {
        var scopes = new List<IReadOnlyList<NginxDirective>>(outer) { block };
        foreach (var directive in block)
        {
            if (directive.Children is null)
            {
                continue;
            }

            if (directive.Name == "location" && directive.Children.Any(d => d.Name == "proxy_pass"))
            {
                count++;
                CheckLocation(directive, [.. scopes, directive.Children], findings, threshold);
            }

            Walk(directive.Children, scopes, findings, threshold, ref count);
        }
    }

    private static void CheckLocation(NginxDirective location, List<IReadOnlyList<NginxDirective>> scopes, List<ProxyFinding> findings, TimeSpan threshold)
    {
        var name = "location " + string.Join(' ', location.Args);
        void Add(Severity severity, int line, string message) => findings.Add(new ProxyFinding(severity, line, name, message));

        foreach (var timeout in new[] { "proxy_read_timeout", "proxy_send_timeout" })
        {
            var set = Nearest(scopes, timeout);
            var value = NginxDefaultTimeout;
            var line = set?.Line ?? location.Line;
            var shown = set is null ? $"{timeout} is not set (nginx's default: 60s)" : $"{timeout} {string.Join(' ', set.Args)}";
            if (set is not null && (set.Args.Count != 1 || !NginxConfig.TryParseTime(set.Args[0], out value)))
            {
                Add(Severity.Error, line, $"{shown}: not an nginx time");
                continue;
            }

            var limit = Parsing.DurationParser.Format(threshold);
            if (value <= threshold)
            {
                Add(Severity.Error, line, $"{shown} is not longer than the heartbeat interval + timeout ({limit}): nginx closes idle WebSocket connections before a ping or pong goes through; use at least {Parsing.DurationParser.Format(threshold * 2)}");
            }
            else if (value < threshold * 2)
            {
                Add(Severity.Warning, line, $"{shown} is under 2x the heartbeat interval + timeout ({Parsing.DurationParser.Format(threshold * 2)}): one late pong and nginx cuts the connection");
            }
        }

        var version = Nearest(scopes, "proxy_http_version");
        if (version is null || version.Args.Count != 1 || version.Args[0] != "1.1")
        {
            Add(Severity.Error, version?.Line ?? location.Line, version is null
                ? "proxy_http_version is not set (nginx's default: 1.0): the WebSocket upgrade cannot pass; add proxy_http_version 1.1"
                : $"proxy_http_version {string.Join(' ', version.Args)}: the WebSocket upgrade needs 1.1");
        }

        // proxy_set_header: the nearest level that has any is the only one that counts (nginx inheritance).
        var headers = scopes.AsEnumerable().Reverse().Select(s => s.Where(d => d.Name == "proxy_set_header").ToList()).FirstOrDefault(l => l.Count > 0) ?? [];
        var upgrade = headers.FirstOrDefault(h => h.Args.Count == 2 && h.Args[0].Equals("Upgrade", StringComparison.OrdinalIgnoreCase));
        if (upgrade is null || !upgrade.Args[1].Contains("$http_upgrade", StringComparison.Ordinal))
        {
            Add(Severity.Error, upgrade?.Line ?? location.Line, "proxy_set_header Upgrade $http_upgrade is missing: the WebSocket upgrade does not reach the server");
        }

        var connection = headers.FirstOrDefault(h => h.Args.Count == 2 && h.Args[0].Equals("Connection", StringComparison.OrdinalIgnoreCase));
        if (connection is null || !(connection.Args[1].Contains("upgrade", StringComparison.OrdinalIgnoreCase) || connection.Args[1].StartsWith('$')))
        {
            Add(Severity.Error, connection?.Line ?? location.Line, "proxy_set_header Connection \"upgrade\" (or $connection_upgrade from a map) is missing: the WebSocket upgrade does not reach the server");
        }

        var buffering = Nearest(scopes, "proxy_buffering");
        if (buffering is null || buffering.Args.Count != 1 || buffering.Args[0] != "off")
        {
            Add(Severity.Warning, buffering?.Line ?? location.Line, buffering is null
                ? "proxy_buffering is not set (nginx's default: on): set proxy_buffering off so that nothing is held back"
                : $"proxy_buffering {string.Join(' ', buffering.Args)}: set it off so that nothing is held back");
        }
    }

    private static NginxDirective? Nearest(List<IReadOnlyList<NginxDirective>> scopes, string name)
    {
        for (var i = scopes.Count - 1; i >= 0; i--)
        {
            var found = scopes[i].LastOrDefault(d => d.Name == name && d.Children is null);
            if (found is not null)
            {
                return found;
            }
        }

        return null;
    }
}
