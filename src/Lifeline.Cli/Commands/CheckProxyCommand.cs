using System.CommandLine;
using System.CommandLine.Parsing;
using Lifeline.Cli.Parsing;
using Lifeline.Cli.ProxyCheck;
using Lifeline.Server;

namespace Lifeline.Cli.Commands;

/// <summary>
/// <c>lifeline check-proxy FILE --heartbeat-interval 20s --heartbeat-timeout 5s</c>: reads an nginx configuration and
/// reports, with file and line, every setting of its WebSocket locations that will cut or break connections.
/// Exit code 0 when nothing is found, <see cref="ExitCodes.ProxyProblems"/> when something is, <see cref="ExitCodes.BadSettings"/>
/// when the file cannot be read or parsed.
/// </summary>
internal sealed class CheckProxyCommand
{
    /// <summary>The command's name.</summary>
    public const string Name = "check-proxy";

    private CheckProxyCommand()
    {
        Command = new Command(Name, "Check an nginx configuration in front of Lifeline: for every location with proxy_pass, "
            + "proxy_read_timeout and proxy_send_timeout must exceed the heartbeat interval + timeout (2x for a safe margin), "
            + "proxy_http_version must be 1.1, the Upgrade and Connection headers must be passed on, and proxy_buffering should be off. "
            + "An HAProxy configuration is recognized too: timeout tunnel (or, without it, timeout client and timeout server) is checked the same way. "
            + "Prints FILE:LINE: severity: message for each finding; exits with 4 when there are findings, 2 when the file cannot be read.")
        {
            File, HeartbeatInterval, HeartbeatTimeout,
        };
        Command.SetAction(RunAsync);
    }

    /// <summary>The System.CommandLine command.</summary>
    public Command Command { get; }

    public Argument<string> File { get; } = new("file") { Description = "The nginx configuration file." };

    public Option<TimeSpan> HeartbeatInterval { get; } = new("--heartbeat-interval")
    {
        Description = $"The server's heartbeat interval. Default: {DurationParser.Format(LifelineOptions.DefaultHeartbeatInterval)}.",
        HelpName = "duration",
        DefaultValueFactory = _ => LifelineOptions.DefaultHeartbeatInterval,
        CustomParser = static r => DurationOptionParser.Positive(r) ?? TimeSpan.Zero,
    };

    public Option<TimeSpan> HeartbeatTimeout { get; } = new("--heartbeat-timeout")
    {
        Description = $"The server's heartbeat timeout. Default: {DurationParser.Format(LifelineOptions.DefaultHeartbeatTimeout)}.",
        HelpName = "duration",
        DefaultValueFactory = _ => LifelineOptions.DefaultHeartbeatTimeout,
        CustomParser = static r => DurationOptionParser.Positive(r) ?? TimeSpan.Zero,
    };

    /// <summary>Creates the command.</summary>
    public static CheckProxyCommand Create() => new();

    private async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var output = result.InvocationConfiguration.Output;
        var error = result.InvocationConfiguration.Error;
        var file = result.GetValue(File)!;
        var interval = result.GetValue(HeartbeatInterval);
        var timeout = result.GetValue(HeartbeatTimeout);
        IReadOnlyList<ProxyFinding> findings;
        int locations;
        var httpLocations = 0;
        try
        {
            var text = await System.IO.File.ReadAllTextAsync(file, cancellationToken);
            findings = HaproxyChecker.LooksLikeHaproxy(text)
                ? HaproxyChecker.Check(text, interval, timeout, out locations)
                : ProxyChecker.Check(NginxConfig.Parse(text), interval, timeout, out locations, out httpLocations);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"lifeline check-proxy: cannot read {file}: {ex.Message}");
            return ExitCodes.BadSettings;
        }
        catch (FormatException ex)
        {
            await error.WriteLineAsync($"{file}: {ex.Message}");
            return ExitCodes.BadSettings;
        }

        foreach (var f in findings.OrderBy(f => f.Line))
        {
            await output.WriteLineAsync($"{file}:{f.Line}: {f.Severity.ToString().ToLowerInvariant()}: {f.Location}: {f.Message}");
        }

        if (locations + httpLocations == 0)
        {
            await output.WriteLineAsync($"{file}: no location with proxy_pass (nginx) or frontend/backend/listen section (HAProxy) found: nothing to check");
            return ExitCodes.ProxyProblems;
        }

        var summary = findings.Count == 0
            ? $"{file}: ok: {locations} WebSocket location(s){(httpLocations > 0 ? $" and {httpLocations} HTTP transport location(s)" : string.Empty)} fit a heartbeat of {DurationParser.Format(interval)} + {DurationParser.Format(timeout)}"
            : $"{file}: {findings.Count(f => f.Severity == Severity.Error)} error(s), {findings.Count(f => f.Severity == Severity.Warning)} warning(s) in {locations + httpLocations} location(s)";
        await output.WriteLineAsync(summary);
        return findings.Count == 0 ? ExitCodes.Success : ExitCodes.ProxyProblems;
    }
}
