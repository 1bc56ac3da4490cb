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
/// The HTTP transport's locations (PROTOCOL.md "HTTP transport"; their path ends in <c>/stream</c>, <c>/send</c> or
/// <c>/poll</c>) need no upgrade: the stream is checked for its timeouts (pings cross it every interval) and must have
/// <c>proxy_buffering off</c> (error: a buffered stream delivers nothing until nginx's buffer fills, and clients fall
/// back to long polling); a poll waits up to 25 s for a batch, so its <c>proxy_read_timeout</c> must be longer.
/// </summary>
internal static class ProxyChecker
{
    private static readonly TimeSpan NginxDefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How long a long poll waits for a batch before it ends empty (PROTOCOL.md: 25 s).</summary>
    private static readonly TimeSpan PollWait = TimeSpan.FromSeconds(25);

    /// <summary>What a proxied location carries, by the end of its path.</summary>
    internal enum LocationKind
    {
        /// <summary>The WebSocket endpoint (anything not below).</summary>
        WebSocket,

        /// <summary><c>{path}/stream</c>: the Server-Sent Events stream.</summary>
        HttpStream,

        /// <summary><c>{path}/send</c>: short requests.</summary>
        HttpSend,

        /// <summary><c>{path}/poll</c>: long polls.</summary>
        HttpPoll,
    }

    public static IReadOnlyList<ProxyFinding> Check(IReadOnlyList<NginxDirective> config, TimeSpan heartbeatInterval, TimeSpan heartbeatTimeout, out int locationsChecked) =>
        Check(config, heartbeatInterval, heartbeatTimeout, out locationsChecked, out _);

    /// <summary>Checks every proxied location; <paramref name="webSocketLocations"/> and <paramref name="httpLocations"/> count them by kind.</summary>
    public static IReadOnlyList<ProxyFinding> Check(IReadOnlyList<NginxDirective> config, TimeSpan heartbeatInterval, TimeSpan heartbeatTimeout, out int webSocketLocations, out int httpLocations)
    {
        var findings = new List<ProxyFinding>();
        var counts = new int[2];
        Walk(config, [], findings, heartbeatInterval + heartbeatTimeout, counts);
        webSocketLocations = counts[0];
        httpLocations = counts[1];
        return findings;
    }

    /// <summary>The kind of a <c>location</c> by its path (the last argument: <c>/ws/stream</c>, <c>= /ws/send</c>, <c>~ /poll$</c>).</summary>
    public static LocationKind KindOf(NginxDirective location)
    {
        var path = location.Args.Count == 0 ? string.Empty : location.Args[^1].TrimEnd('$');
        return path.EndsWith("/stream", StringComparison.Ordinal) ? LocationKind.HttpStream
            : path.EndsWith("/send", StringComparison.Ordinal) ? LocationKind.HttpSend
            : path.EndsWith("/poll", StringComparison.Ordinal) ? LocationKind.HttpPoll
            : LocationKind.WebSocket;
    }

    private static void Walk(IReadOnlyList<NginxDirective> block, List<IReadOnlyList<NginxDirective>> outer, List<ProxyFinding> findings, TimeSpan threshold, int[] counts)
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
                var kind = KindOf(directive);
                counts[kind == LocationKind.WebSocket ? 0 : 1]++;
                if (kind == LocationKind.WebSocket)
                {
                    CheckLocation(directive, [.. scopes, directive.Children], findings, threshold);
                }
                else
                {
                    CheckHttpLocation(directive, kind, [.. scopes, directive.Children], findings, threshold);
                }
            }

            Walk(directive.Children, scopes, findings, threshold, counts);
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

    private static void CheckHttpLocation(NginxDirective location, LocationKind kind, List<IReadOnlyList<NginxDirective>> scopes, List<ProxyFinding> findings, TimeSpan threshold)
    {
        var name = "location " + string.Join(' ', location.Args);
        void Add(Severity severity, int line, string message) => findings.Add(new ProxyFinding(severity, line, name, message));

        if (kind == LocationKind.HttpStream)
        {
            var buffering = Nearest(scopes, "proxy_buffering");
            if (buffering is null || buffering.Args.Count != 1 || buffering.Args[0] != "off")
            {
                Add(Severity.Error, buffering?.Line ?? location.Line, buffering is null
                    ? "proxy_buffering is not set (nginx's default: on): the HTTP stream is held in nginx's buffer and clients fall back to long polling; set proxy_buffering off"
                    : $"proxy_buffering {string.Join(' ', buffering.Args)} on the HTTP stream: its events are held in nginx's buffer and clients fall back to long polling; set proxy_buffering off");
            }
        }

        if (kind == LocationKind.HttpSend)
        {
            return;
        }

        // The stream carries a ping every interval, like a WebSocket; a poll waits up to 25 s for a batch.
        var minimum = kind == LocationKind.HttpStream ? threshold : PollWait;
        var set = Nearest(scopes, "proxy_read_timeout");
        var value = NginxDefaultTimeout;
        var shown = set is null ? "proxy_read_timeout is not set (nginx's default: 60s)" : $"proxy_read_timeout {string.Join(' ', set.Args)}";
        if (set is not null && (set.Args.Count != 1 || !NginxConfig.TryParseTime(set.Args[0], out value)))
        {
            Add(Severity.Error, set.Line, $"{shown}: not an nginx time");
        }
        else if (value <= minimum)
        {
            Add(Severity.Error, set?.Line ?? location.Line, kind == LocationKind.HttpStream
                ? $"{shown} is not longer than the heartbeat interval + timeout ({Parsing.DurationParser.Format(threshold)}): nginx cuts idle HTTP streams; use at least {Parsing.DurationParser.Format(threshold * 2)}"
                : $"{shown} is not longer than a long poll's 25s wait: nginx cuts idle polls; use at least 60s");
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
