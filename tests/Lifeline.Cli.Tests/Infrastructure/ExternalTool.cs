namespace Lifeline.Cli.Tests.Infrastructure;

/// <summary>
/// Runs a tool the tests need from the machine (promtool from Debian's <c>prometheus</c> package). A missing tool
/// fails the test, never skips it: <c>./test.sh</c> installs it (<c>need_pkg promtool prometheus</c>); under CI=true
/// that is mandatory, and a developer running <c>dotnet test</c> alone is told what to install.
/// </summary>
public static class ExternalTool
{
    /// <summary>The full path of <paramref name="name"/> on PATH; fails the test when it is not there.</summary>
    public static string Require(string name, string debianPackage)
    {
        if (Shell.Find(name) is { } found)
        {
            return found;
        }

        var ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ? " (CI=true: a missing dependency is a failure)" : string.Empty;
        Assert.Fail($"'{name}' is not on PATH{ci}: install Debian package '{debianPackage}' (apt-get install {debianPackage}), or run ./test.sh, which does");
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>Runs <paramref name="path"/> with <paramref name="args"/>, feeding <paramref name="stdin"/>; bounded to 60 s.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string path, string? stdin, string? workingDirectory, params string[] args)
    {
        try
        {
            return await Shell.RunAsync(path, args, TimeSpan.FromSeconds(60), stdin, workingDirectory);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"{path} {string.Join(' ', args)} did not finish within 60 s");
            throw;
        }
    }
}
