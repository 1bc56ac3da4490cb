using System.Globalization;
using System.Text.RegularExpressions;

namespace Lifeline.Cli.Tests.Infrastructure;

/// <summary>
/// The built <c>lifeline</c> tool run as a real child process (<c>dotnet lifeline.dll ...</c>, the kit's
/// <see cref="ChildProcess"/>), with no <c>Lifeline__*</c> setting leaking in from the machine running the tests.
/// </summary>
public sealed partial class LifelineProcess : ChildProcess
{
    private LifelineProcess(ChildProcessStart start)
        : base(start)
    {
    }

    /// <summary>Starts <c>dotnet lifeline.dll</c> with <paramref name="args"/> and extra environment variables.</summary>
    public static LifelineProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        Assert.True(File.Exists(TestPaths.CliDll), $"the tool is not built: {TestPaths.CliDll}");
        return new LifelineProcess(ChildProcessStart.Dotnet(TestPaths.CliDll, args) with { Environment = environment });
    }

    /// <summary>Runs the tool to completion (for short commands such as <c>--help</c>).</summary>
    public static async Task<(int ExitCode, IReadOnlyList<string> Stdout, IReadOnlyList<string> Stderr)> RunAsync(params string[] args)
    {
        await using var process = Start(args);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (code, process.Stdout, process.Stderr);
    }

    /// <summary>Waits for the startup line and returns the port the server listens on.</summary>
    public async Task<int> WaitForListeningPortAsync()
    {
        var line = await WaitForLineAsync(l => ListeningPattern().IsMatch(l));
        return int.Parse(ListeningPattern().Match(line).Groups["port"].Value, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"listening on http://127\.0\.0\.1:(?<port>\d+)")]
    private static partial Regex ListeningPattern();
}
