using System.Globalization;
using Lifeline.Server;

namespace Lifeline.Cli.Doctor;

/// <summary>What <c>lifeline doctor</c> was asked to look at.</summary>
/// <param name="Port">The server's listening port.</param>
/// <param name="MetricsUrl">The server's Prometheus endpoint.</param>
/// <param name="Interval">Time between the two socket samples: a CLOSE_WAIT socket seen in both is at least this old.</param>
/// <param name="MaxCloseWait">How many lasting CLOSE_WAIT sockets are tolerated before the verdict is a problem.</param>
/// <param name="Timeout">Bound on the metrics scrape.</param>
internal sealed record DoctorSettings(int Port, Uri MetricsUrl, TimeSpan Interval, int MaxCloseWait, TimeSpan Timeout);

/// <summary>
/// The half-open report: the sockets <c>ss -tnp | grep :PORT</c> would list, grouped by TCP state with remote
/// endpoints and owning process; what the server's metrics say; then plain verdicts. A CLOSE_WAIT socket's age is
/// known by sampling the socket table twice, <see cref="DoctorSettings.Interval"/> apart: one seen in both samples
/// (same inode) has been in CLOSE_WAIT for at least that long, while a healthy server leaves CLOSE_WAIT within
/// milliseconds (it closes as soon as it reads the peer's FIN).
/// </summary>
internal static class DoctorReport
{
    /// <summary>Above this many CLOSE_WAIT sockets the server's own gauge is a problem (the alert's threshold).</summary>
    public const int CloseWaitAlertThreshold = 50;

    /// <summary>Rows listed per TCP state; the rest are counted.</summary>
    public const int RowsPerState = 20;

    /// <summary>Runs the checks and writes the report.</summary>
    /// <param name="settings">What to look at.</param>
    /// <param name="output">Where the report goes.</param>
    /// <param name="cancellationToken">Stops the sampling.</param>
    /// <returns>True when nothing is wrong.</returns>
    public static async Task<bool> RunAsync(DoctorSettings settings, TextWriter output, CancellationToken cancellationToken)
    {
        var port = settings.Port;
        var first = Sample(port);
        var firstAt = DateTimeOffset.UtcNow;
        await Task.Delay(settings.Interval, cancellationToken); // the sampling interval itself, not a wait for an event
        var second = Sample(port);

        var closeWait = second.Where(s => s.Local.Port == port && s.State == TcpState.CloseWait).ToList();
        var earlier = first.Where(s => s.State == TcpState.CloseWait).Select(Key).ToHashSet();
        var lasting = closeWait.Where(s => earlier.Contains(Key(s))).ToList();
        var owners = SocketOwners.Find(second.Where(s => s.Inode != 0).Select(s => s.Inode).ToHashSet());

        var problems = new List<string>();
        var notes = new List<string>();

        await output.WriteLineAsync($"lifeline doctor: port {port}, sampled at {firstAt.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)} and {Format(settings.Interval)} later");
        await output.WriteLineAsync();
        await output.WriteLineAsync($"== sockets on :{port} (what `ss -tnp | grep :{port}` shows), by TCP state");
        if (second.Count == 0)
        {
            await output.WriteLineAsync("   (none)");
        }

        foreach (var group in second.GroupBy(s => s.State).OrderBy(g => StateOrder(g.Key)))
        {
            await output.WriteLineAsync($"   {SsName(group.Key),-11} {group.Count(),5}");
            foreach (var s in group.Take(RowsPerState))
            {
                var who = s.Inode == 0 ? "(no process: held by the kernel)" : owners.TryGetValue(s.Inode, out var o) ? string.Join(", ", o) : "(owner not visible: another user's process?)";
                var side = s.Local.Port == port ? "server" : "client";
                await output.WriteLineAsync($"      {s.Local,-30} {s.Remote,-30} {side,-6} {who}");
            }

            if (group.Count() > RowsPerState)
            {
                await output.WriteLineAsync($"      ... and {group.Count() - RowsPerState} more");
            }
        }

        await output.WriteLineAsync();
        await output.WriteLineAsync($"== what the server's metrics say ({settings.MetricsUrl})");
        var samples = await ScrapeAsync(settings, output, problems);
        if (samples is not null)
        {
            await WriteMetricsAsync(samples, output, problems, notes);
        }

        // verdicts
        var listening = second.Count(s => s.State == TcpState.Listen && s.Local.Port == port);
        if (listening == 0)
        {
            problems.Add($"nothing listens on port {port}: the server is not running (or listens elsewhere)");
        }

        if (lasting.Count > settings.MaxCloseWait)
        {
            var holders = lasting.SelectMany(s => owners.TryGetValue(s.Inode, out var o) ? o : []).Distinct().ToList();
            problems.Add($"{lasting.Count} sockets in CLOSE_WAIT for over {Format(settings.Interval)}: the application is not closing them"
                + (holders.Count > 0 ? $" (held by {string.Join(", ", holders)})" : string.Empty)
                + "; the peers are gone and each socket keeps a file descriptor until the process closes it");
        }
        else if (closeWait.Count > 0)
        {
            notes.Add($"{closeWait.Count} sockets in CLOSE_WAIT, {lasting.Count} of them seen {Format(settings.Interval)} earlier too (tolerated: {settings.MaxCloseWait})");
        }

        var finWait2 = second.Count(s => s.Local.Port == port && s.State == TcpState.FinWait2);
        if (finWait2 > 0)
        {
            notes.Add($"{finWait2} server sockets in FIN-WAIT-2: the server closed and the peers have not answered yet (the kernel ends them after tcp_fin_timeout)");
        }

        await output.WriteLineAsync();
        await output.WriteLineAsync("== verdicts");
        foreach (var p in problems)
        {
            await output.WriteLineAsync($"   PROBLEM: {p}");
        }

        foreach (var n in notes)
        {
            await output.WriteLineAsync($"   note: {n}");
        }

        if (problems.Count == 0)
        {
            await output.WriteLineAsync($"   OK: no half-open sockets on :{port}; the server answers and its metrics look sane");
        }

        return problems.Count == 0;
    }

    private static List<TcpSocketEntry> Sample(int port) =>
        TcpSocketTable.Read().Where(e => e.Local.Port == port || e.Remote.Port == port).ToList();

    private static (long, string, string) Key(TcpSocketEntry s) => (s.Inode, s.Local.ToString(), s.Remote.ToString());

    private static async Task<IReadOnlyList<PrometheusSample>?> ScrapeAsync(DoctorSettings settings, TextWriter output, List<string> problems)
    {
        using var http = new HttpClient { Timeout = settings.Timeout };
        try
        {
            var text = await http.GetStringAsync(settings.MetricsUrl);
            return PrometheusText.Parse(text);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            var why = ex is TaskCanceledException ? $"no answer within {Format(settings.Timeout)}" : ex.Message;
            await output.WriteLineAsync($"   could not scrape: {why}");
            problems.Add($"the metrics endpoint {settings.MetricsUrl} did not answer ({why})");
            return null;
        }
    }

    private static async Task WriteMetricsAsync(IReadOnlyList<PrometheusSample> samples, TextWriter output, List<string> problems, List<string> notes)
    {
        var active = PrometheusText.Sum(samples, "ws_connections_active");
        var closeWait = PrometheusText.Sum(samples, "ws_tcp_close_wait_sockets");
        var heartbeats = PrometheusText.Sum(samples, "ws_heartbeat_timeouts_total");
        var slow = PrometheusText.Sum(samples, "ws_slow_consumer_closes_total");
        var codes = samples.Where(s => s.Name == "ws_close_codes_distribution_total")
            .GroupBy(s => s.Labels.GetValueOrDefault("code", "?"))
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (Code: g.Key, Count: g.Sum(s => s.Value)))
            .ToList();

        await output.WriteLineAsync($"   {"ws_connections_active",-36} {Show(active)}");
        var byTransport = samples.Where(s => s.Name == "ws_connections_active" && s.Labels.ContainsKey("transport"))
            .GroupBy(s => s.Labels["transport"])
            .Select(g => $"{g.Key}={Show(g.Sum(s => s.Value))}")
            .ToList();
        if (byTransport.Count > 0)
        {
            await output.WriteLineAsync($"   {"  by transport",-36} {string.Join("  ", byTransport)}");
        }

        await output.WriteLineAsync($"   {"ws_tcp_close_wait_sockets",-36} {Show(closeWait)}");
        await output.WriteLineAsync($"   {"ws_heartbeat_timeouts_total",-36} {Show(heartbeats)}");
        await output.WriteLineAsync($"   {"ws_slow_consumer_closes_total",-36} {Show(slow)}");
        await output.WriteLineAsync($"   {"ws_close_codes_distribution_total",-36} {(codes.Count == 0 ? "(no close yet)" : string.Join("  ", codes.Select(c => $"{c.Code}={Show(c.Count)}")))}");

        if (active is null)
        {
            problems.Add("the endpoint answered but has no ws_connections_active: is it a Lifeline server?");
        }

        if (closeWait > CloseWaitAlertThreshold)
        {
            problems.Add($"the server counts {Show(closeWait)} CLOSE_WAIT sockets (alert threshold {CloseWaitAlertThreshold})");
        }

        if (heartbeats > 0)
        {
            notes.Add($"{Show(heartbeats)} connections were closed by heartbeat timeout (4000) since start: peers that went silent (partition, sleeping device, proxy timeout)");
        }

        var lost = codes.Where(c => c.Code == "1006").Sum(c => c.Count);
        if (lost > 0)
        {
            notes.Add($"{Show(lost)} connections ended without a close frame (1006): the network or a proxy cut them");
        }
    }

    private static string Show(double? value) => value is null ? "(absent)" : value.Value.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Format(TimeSpan t) => Parsing.DurationParser.Format(t);

    /// <summary>The state names <c>ss</c> prints.</summary>
    internal static string SsName(TcpState state) => state switch
    {
        TcpState.Established => "ESTAB",
        TcpState.SynSent => "SYN-SENT",
        TcpState.SynReceived => "SYN-RECV",
        TcpState.FinWait1 => "FIN-WAIT-1",
        TcpState.FinWait2 => "FIN-WAIT-2",
        TcpState.TimeWait => "TIME-WAIT",
        TcpState.Close => "UNCONN",
        TcpState.CloseWait => "CLOSE-WAIT",
        TcpState.LastAck => "LAST-ACK",
        TcpState.Listen => "LISTEN",
        TcpState.Closing => "CLOSING",
        _ => state.ToString(),
    };

    private static int StateOrder(TcpState state) => state switch
    {
        TcpState.Listen => 0,
        TcpState.Established => 1,
        TcpState.CloseWait => 2,
        _ => 3 + (int)state,
    };
}
