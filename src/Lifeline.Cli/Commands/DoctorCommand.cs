using System.CommandLine;
using System.CommandLine.Parsing;
using Lifeline.Cli.Doctor;
using Lifeline.Cli.Parsing;

namespace Lifeline.Cli.Commands;

/// <summary>
/// <c>lifeline doctor --port 8080 [--url http://127.0.0.1:8080/metrics]</c>: the half-open report (sockets by TCP
/// state with remote endpoints and owning process, as <c>ss -tnp</c> gives), what the server's metrics say, and plain
/// verdicts. Exits <see cref="ExitCodes.DoctorFoundProblems"/> when something is wrong.
/// </summary>
internal sealed class DoctorCommand
{
    /// <summary>The command's name.</summary>
    public const string Name = "doctor";

    /// <summary>The default time between the two socket samples.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(2);

    /// <summary>The default bound on the metrics scrape.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(3);

    private DoctorCommand()
    {
        Command = new Command(Name, "Diagnose half-open connections on a server's port (Linux): the sockets that `ss -tnp | grep :PORT` shows, "
            + "grouped by TCP state with remote endpoints and owning process; what the server's /metrics say; then plain verdicts. "
            + "The socket table is sampled twice, --interval apart: a CLOSE_WAIT socket seen both times is one the application is not closing. "
            + $"Exit code 0: nothing wrong; {ExitCodes.DoctorFoundProblems}: a problem was found.")
        {
            Port, Url, Interval, MaxCloseWait, Timeout,
        };
        Command.SetAction(RunAsync);
    }

    /// <summary>The System.CommandLine command.</summary>
    public Command Command { get; }

    public Option<int> Port { get; } = new("--port")
    {
        Description = "The server's listening port.",
        HelpName = "port",
        Required = true,
    };

    public Option<string?> Url { get; } = new("--url")
    {
        Description = "The server's Prometheus endpoint. Default: http://127.0.0.1:PORT/metrics.",
        HelpName = "url",
    };

    public Option<TimeSpan?> Interval { get; } = new("--interval")
    {
        Description = $"Time between the two samples of the socket table (500ms, 2s, 1m): CLOSE_WAIT sockets seen in both are at least this old. Default: {DurationParser.Format(DefaultInterval)}.",
        HelpName = "duration",
        CustomParser = DurationOptionParser.Positive,
    };

    public Option<int> MaxCloseWait { get; } = new("--max-close-wait")
    {
        Description = "Lasting CLOSE_WAIT sockets tolerated before the verdict is a problem. Default: 0 (a healthy server leaves CLOSE_WAIT within milliseconds).",
        HelpName = "count",
        DefaultValueFactory = _ => 0,
    };

    public Option<TimeSpan?> Timeout { get; } = new("--timeout")
    {
        Description = $"Bound on the metrics scrape. Default: {DurationParser.Format(DefaultTimeout)}.",
        HelpName = "duration",
        CustomParser = DurationOptionParser.Positive,
    };

    /// <summary>Creates the command with its options and action.</summary>
    /// <returns>The command.</returns>
    public static DoctorCommand Create() => new();

    private async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var port = result.GetValue(Port);
        var error = result.InvocationConfiguration.Error;
        if (port is < 1 or > 65535)
        {
            await error.WriteLineAsync($"lifeline doctor: --port must be 1 to 65535 (was {port})");
            return ExitCodes.BadSettings;
        }

        var text = result.GetValue(Url) ?? $"http://127.0.0.1:{port}/metrics";
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            await error.WriteLineAsync($"lifeline doctor: --url must be an absolute http(s) URL (was '{text}')");
            return ExitCodes.BadSettings;
        }

        var settings = new DoctorSettings(
            port,
            url,
            result.GetValue(Interval) ?? DefaultInterval,
            Math.Max(0, result.GetValue(MaxCloseWait)),
            result.GetValue(Timeout) ?? DefaultTimeout);
        var healthy = await DoctorReport.RunAsync(settings, result.InvocationConfiguration.Output, cancellationToken);
        return healthy ? ExitCodes.Success : ExitCodes.DoctorFoundProblems;
    }
}
