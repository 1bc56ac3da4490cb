using Lifeline.Engine;
using System.CommandLine;
using System.CommandLine.Parsing;
using Lifeline.Cli.Parsing;
using Lifeline.Cli.Serve;
using Lifeline.Server;
using Microsoft.Extensions.Options;

namespace Lifeline.Cli.Commands;

/// <summary>
/// <c>lifeline serve</c>: runs a Lifeline server with the embedded in-memory engine, or a node on Redis (<c>--redis</c>). Each flag overrides the same
/// setting from configuration (<c>appsettings.json</c>, environment variables <c>Lifeline__*</c>); see <see cref="ServeSettings"/>.
/// </summary>
internal sealed class ServeCommand
{
    /// <summary>The command's name.</summary>
    public const string Name = "serve";

    private ServeCommand()
    {
        Command = new Command(Name, "Run a Lifeline server (the embedded in-memory engine, or one node of several on Redis with --redis): the WebSocket endpoint and GET /healthz. "
            + "Every setting can also come from configuration, section Lifeline: appsettings.json (next to the binary or in the current directory) "
            + "and environment variables such as Lifeline__Port=9000, Lifeline__HeartbeatInterval=5s, Lifeline__Auth=dev. Flags override configuration. "
            + "Stops gracefully on SIGTERM or Ctrl+C: clients get close 1001 with a retry_after_ms hint.")
        {
            Bind, Port, Path, HeartbeatInterval, HeartbeatTimeout, HandshakeTimeout, MaxMessageSize, Auth, LogFormat, TestEndpoints,
            HistorySize, HistoryAge, ResumeWindow, PresenceGrace, Redis,
        };
        Command.SetAction(RunAsync);
    }

    /// <summary>The System.CommandLine command.</summary>
    public Command Command { get; }

    public Option<string?> Bind { get; } = new("--bind")
    {
        Description = $"IP address or host name to listen on; 0.0.0.0 listens on every IPv4 interface. Default: {ServeSettings.DefaultBind} (loopback only).",
        HelpName = "address",
    };

    public Option<int?> Port { get; } = new("--port")
    {
        Description = $"TCP port to listen on (0: any free port, printed at start-up). Default: {ServeSettings.DefaultPort}.",
        HelpName = "port",
    };

    public Option<string?> Path { get; } = new("--path")
    {
        Description = $"Path of the WebSocket endpoint. Default: {ServeSettings.DefaultPath}.",
        HelpName = "path",
    };

    public Option<TimeSpan?> HeartbeatInterval { get; } = DurationOption(
        "--heartbeat-interval",
        $"How often the server sends a ping to each connection. Default: {DurationParser.Format(LifelineOptions.DefaultHeartbeatInterval)}.");

    public Option<TimeSpan?> HeartbeatTimeout { get; } = DurationOption(
        "--heartbeat-timeout",
        $"How long a pong may take before the connection is closed with 4000 (heartbeat_timeout). Default: {DurationParser.Format(LifelineOptions.DefaultHeartbeatTimeout)}.");

    public Option<TimeSpan?> HandshakeTimeout { get; } = DurationOption(
        "--handshake-timeout",
        $"How long a client may take to send hello after the upgrade; later: close 1002 (hello_timeout). Default: {DurationParser.Format(LifelineOptions.DefaultHandshakeTimeout)}.");

    public Option<int?> MaxMessageSize { get; } = new("--max-message-size")
    {
        Description = $"Largest client message accepted, in bytes, or with a KiB/MiB suffix (65536, 64KiB, 1MiB); larger: close 1009. Default: {SizeParser.Format(LifelineOptions.DefaultMaxMessageSize)}.",
        HelpName = "size",
        CustomParser = ParseSize,
    };

    public Option<AuthMode?> Auth { get; } = new("--auth")
    {
        Description = "How hello.token is authenticated. anonymous: tokens are ignored, every client is anonymous. "
            + "dev: the token is taken as the user id, unchecked; FOR DEVELOPMENT AND TESTS ONLY, anyone can claim to be anyone. Default: anonymous.",
        HelpName = "anonymous|dev",
        CustomParser = r => ParseChoice(r, ServeSettings.ParseAuth, "anonymous or dev"),
    };

    public Option<LogFormat?> LogFormat { get; } = new("--log-format")
    {
        Description = "Console log format. text: one line per event, starting with a millisecond UTC timestamp. "
            + "json: one JSON object per line (Timestamp with milliseconds, EventId, LogLevel, Category, Message, State). Default: text.",
        HelpName = "text|json",
        CustomParser = r => ParseChoice(r, ServeSettings.ParseLogFormat, "text or json"),
    };

    public Option<bool> TestEndpoints { get; } = new("--test-endpoints")
    {
        Description = "FOR TESTS ONLY: enable POST /_test/pause-pings and POST /_test/resume-pings, which stop and restart the server's pings "
            + "so that client tests can show their receive watchdog detects a silent server. Off by default.",
    };

    public Option<int?> HistorySize { get; } = new("--history-size")
    {
        Description = $"How many deltas each channel keeps for recovery (subscribe with since); older ones are answered with a snapshot. Default: {MemoryEngineOptions.DefaultHistorySize}.",
        HelpName = "count",
    };

    public Option<TimeSpan?> HistoryAge { get; } = DurationOption(
        "--history-age",
        $"How long each channel keeps a delta for recovery. Default: {DurationParser.Format(TimeSpan.FromSeconds(MemoryEngineOptions.DefaultHistoryAgeSeconds))}.");

    public Option<TimeSpan?> ResumeWindow { get; } = DurationOption(
        "--resume-window",
        $"How long after a connection ends its session can be resumed with hello.resume; publish idempotency keys are remembered as long. Default: {DurationParser.Format(LifelineOptions.DefaultResumeWindow)}.");

    public Option<TimeSpan?> PresenceGrace { get; } = DurationOption(
        "--presence-grace",
        $"How long after an abnormal close a user stays present, waiting for a resume, before the leave is broadcast (a normal close leaves at once). Default: {DurationParser.Format(LifelineOptions.DefaultPresenceGracePeriod)}.");

    public Option<string?> Redis { get; } = new("--redis")
    {
        Description = "Run as one node of several on Redis (the Redis engine: fan-out across nodes, shared history, presence and sessions), "
            + "for example localhost:6379 or a StackExchange.Redis configuration string such as host1:7000,host2:7000 for a cluster. "
            + "Redis being down does not stop the node: publishes fail with unavailable and /healthz says degraded. Default: none (the embedded in-memory engine, one node).",
        HelpName = "host:port",
    };

    /// <summary>Creates the command with its options and action.</summary>
    /// <returns>The command.</returns>
    public static ServeCommand Create() => new();

    /// <summary>Reads the flags that were given (null for those that were not, so configuration applies).</summary>
    /// <param name="result">A parse of this command.</param>
    /// <returns>The flags.</returns>
    public ServeFlags ReadFlags(ParseResult result) => new()
    {
        Bind = Given(result, Bind) ? result.GetValue(Bind) : null,
        Port = Given(result, Port) ? result.GetValue(Port) : null,
        Path = Given(result, Path) ? result.GetValue(Path) : null,
        HeartbeatInterval = Given(result, HeartbeatInterval) ? result.GetValue(HeartbeatInterval) : null,
        HeartbeatTimeout = Given(result, HeartbeatTimeout) ? result.GetValue(HeartbeatTimeout) : null,
        HandshakeTimeout = Given(result, HandshakeTimeout) ? result.GetValue(HandshakeTimeout) : null,
        MaxMessageSize = Given(result, MaxMessageSize) ? result.GetValue(MaxMessageSize) : null,
        Auth = Given(result, Auth) ? result.GetValue(Auth) : null,
        LogFormat = Given(result, LogFormat) ? result.GetValue(LogFormat) : null,
        TestEndpoints = Given(result, TestEndpoints) ? result.GetValue(TestEndpoints) : null,
        HistorySize = Given(result, HistorySize) ? result.GetValue(HistorySize) : null,
        HistoryAge = Given(result, HistoryAge) ? result.GetValue(HistoryAge) : null,
        ResumeWindow = Given(result, ResumeWindow) ? result.GetValue(ResumeWindow) : null,
        PresenceGrace = Given(result, PresenceGrace) ? result.GetValue(PresenceGrace) : null,
        Redis = Given(result, Redis) ? result.GetValue(Redis) : null,
    };

    /// <summary>
    /// Parses <paramref name="args"/> (the arguments after <c>serve</c>) and builds the application without running it:
    /// what tests use to check how flags, configuration and defaults combine.
    /// </summary>
    /// <param name="args">For example <c>["--port", "9000"]</c>.</param>
    /// <param name="contentRoot">Where appsettings.json is read; the current directory by default.</param>
    /// <returns>The built application and its settings.</returns>
    /// <exception cref="ArgumentException">The arguments do not parse; the message lists the errors.</exception>
    public static ServeApp BuildApp(IReadOnlyList<string> args, string? contentRoot = null)
    {
        var command = Create();
        var result = command.Command.Parse(args);
        if (result.Errors.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, result.Errors.Select(e => e.Message)), nameof(args));
        }

        return ServeHost.Build(command.ReadFlags(result), contentRoot);
    }

    private static bool Given(ParseResult result, Option option) => result.GetResult(option) is { Implicit: false };

    private async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var error = result.InvocationConfiguration.Error;
        ServeApp serve;
        try
        {
            serve = ServeHost.Build(ReadFlags(result));
        }
        catch (ServeSettingsException ex)
        {
            await error.WriteLineAsync($"lifeline serve: {ex.Message}");
            return ExitCodes.BadSettings;
        }

        await using var app = serve.App;
        try
        {
            await ServeHost.RunAsync(serve, cancellationToken);
        }
        catch (OptionsValidationException ex)
        {
            await error.WriteLineAsync($"lifeline serve: {string.Join(Environment.NewLine, ex.Failures)}");
            return ExitCodes.BadSettings;
        }
        catch (IOException ex)
        {
            // Kestrel reports "address already in use" as an IOException.
            await error.WriteLineAsync($"lifeline serve: cannot listen on {serve.Settings.ListenUrl}: {ex.Message}");
            return ExitCodes.CannotListen;
        }

        return ExitCodes.Success;
    }

    private static Option<TimeSpan?> DurationOption(string name, string description) => new(name)
    {
        Description = description + " Written as 500ms, 5s, 2m or 1h.",
        HelpName = "duration",
        CustomParser = DurationOptionParser.Positive,
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

    private static T? ParseChoice<T>(ArgumentResult result, Func<string, T?> parse, string expected)
        where T : struct
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        var value = parse(text);
        if (value is null)
        {
            var name = (result.Parent as OptionResult)?.Option.Name ?? "value";
            result.AddError($"{name}: '{text}' must be {expected}");
        }

        return value;
    }
}
