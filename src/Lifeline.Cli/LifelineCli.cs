using System.CommandLine;
using Lifeline.Cli.Commands;

namespace Lifeline.Cli;

/// <summary>
/// The <c>lifeline</c> command line: one root command, one file per subcommand under <c>Commands/</c>
/// (serve and doctor now; check-proxy and bench to come).
/// </summary>
internal static class LifelineCli
{
    /// <summary>Builds the root command with every subcommand.</summary>
    /// <returns>The root command.</returns>
    public static RootCommand CreateRootCommand()
    {
        var root = new RootCommand("lifeline: run and diagnose Lifeline servers (real-time state sync over WebSockets that survives the network).");
        root.Subcommands.Add(ServeCommand.Create().Command);
        root.Subcommands.Add(DoctorCommand.Create().Command);
        root.Subcommands.Add(CheckProxyCommand.Create().Command);
        return root;
    }

    /// <summary>Parses <paramref name="args"/> and runs the chosen command.</summary>
    /// <param name="args">The command line.</param>
    /// <param name="output">Standard output (help); the console by default.</param>
    /// <param name="error">Standard error (parse and settings errors); the console by default.</param>
    /// <param name="cancellationToken">Stops a running server.</param>
    /// <returns>The exit code (<see cref="ExitCodes"/>).</returns>
    public static Task<int> InvokeAsync(string[] args, TextWriter? output = null, TextWriter? error = null, CancellationToken cancellationToken = default)
    {
        var configuration = new InvocationConfiguration
        {
            // SIGTERM and Ctrl+C belong to the ASP.NET Core host (it drains, then stops); System.CommandLine must not
            // cancel the action and force an exit after its own short timeout.
            ProcessTerminationTimeout = null,
        };
        if (output is not null)
        {
            configuration.Output = output;
        }

        if (error is not null)
        {
            configuration.Error = error;
        }

        return CreateRootCommand().Parse(args).InvokeAsync(configuration, cancellationToken);
    }
}
