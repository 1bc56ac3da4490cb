using System.CommandLine;
using Lifeline.Cli.Serve;
using Microsoft.Extensions.Options;

namespace Lifeline.Cli.Commands;

/// <summary>
/// <c>lifeline serve</c>: runs a Lifeline server with the embedded in-memory engine, or a node on Redis (<c>--redis</c>). Each flag overrides the same
/// setting from configuration (<c>appsettings.json</c>, environment variables <c>Lifeline__*</c>); see <see cref="ServeSettings"/>.
/// Its options are made from <see cref="ServeSettingTable"/>, one per setting that has a flag, in the table's order.
/// </summary>
internal sealed class ServeCommand
{
    /// <summary>The command's name.</summary>
    public const string Name = "serve";

    private readonly List<(ServeSetting Setting, Option Option)> _options = [];

    private ServeCommand()
    {
        Command = new Command(Name, "Run a Lifeline server (the embedded in-memory engine, or one node of several on Redis with --redis): the WebSocket endpoint and GET /healthz. "
            + "Every setting can also come from configuration, section Lifeline: appsettings.json (next to the binary or in the current directory), "
            + "a file given with --config, and environment variables such as Lifeline__Port=9000, Lifeline__HeartbeatInterval=5s, Lifeline__Auth=dev. Flags override configuration. "
            + "Stops gracefully on SIGTERM or Ctrl+C: clients get close 1001 with a retry_after_ms hint.");
        foreach (var setting in ServeSettingTable.All.Where(s => s.Flag is not null))
        {
            var option = setting.CreateOption();
            _options.Add((setting, option));
            Command.Options.Add(option);
        }

        // Not a setting: where settings come from (so not in the table), last in help.
        Command.Options.Add(ConfigFile);

        Command.SetAction(RunAsync);
    }

    /// <summary>The System.CommandLine command.</summary>
    public Command Command { get; }

    /// <summary>
    /// <c>--config FILE</c>: a JSON file with the keys of section <c>Lifeline</c> (<see cref="ServeConfigFile"/>), above the
    /// <c>appsettings.json</c> files and below the environment variables and flags.
    /// </summary>
    public Option<string?> ConfigFile { get; } = new("--config")
    {
        HelpName = "file",
        Description = "A JSON file of settings: one object with the keys of configuration section Lifeline (Port, HeartbeatInterval, Auth, ..., "
            + "and the object RedisEngine), checked at start: an unknown key or a bad value stops the server with an error naming the key. "
            + "It overrides appsettings.json; environment variables (Lifeline__*) and flags override it. Default: none.",
    };

    /// <summary>The option of each setting that has a flag, in the order of <see cref="ServeSettingTable.All"/>.</summary>
    public IReadOnlyList<(ServeSetting Setting, Option Option)> Options => _options;

    /// <summary>Creates the command with its options and action.</summary>
    /// <returns>The command.</returns>
    public static ServeCommand Create() => new();

    /// <summary>Reads the flags that were given (not those that were not, so configuration applies).</summary>
    /// <param name="result">A parse of this command.</param>
    /// <returns>The flags.</returns>
    public ServeFlags ReadFlags(ParseResult result)
    {
        var flags = ServeFlags.None;
        foreach (var (setting, option) in _options)
        {
            if (result.GetResult(option) is { Implicit: false })
            {
                flags = flags.WithBoxed(setting, setting.ReadOption(result, option));
            }
        }

        return flags;
    }

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

        return ServeHost.Build(command.ReadFlags(result), contentRoot, result.GetValue(command.ConfigFile));
    }

    private async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var error = result.InvocationConfiguration.Error;
        ServeApp serve;
        try
        {
            serve = ServeHost.Build(ReadFlags(result), configFile: result.GetValue(ConfigFile));
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
}
