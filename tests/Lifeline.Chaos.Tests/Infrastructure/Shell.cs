using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace Lifeline.Chaos.Tests.Infrastructure;

/// <summary>Runs short system commands (ip, nft, tc, ss) with a bounded time; a command that hangs is killed.</summary>
public static class Shell
{
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string file, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var p = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', start.ArgumentList)} did not finish within {timeout ?? TimeSpan.FromSeconds(10)}");
        }

        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs a command that must succeed.</summary>
    public static async Task<string> MustAsync(string file, params string[] args)
    {
        var (code, stdout, stderr) = await RunAsync(file, args);
        if (code != 0)
        {
            throw new InvalidOperationException($"`{file} {string.Join(' ', args)}` exited with {code}: {stderr.Trim()} {stdout.Trim()}");
        }

        return stdout;
    }

    /// <summary>Runs a command and ignores failure (clean-up).</summary>
    public static async Task TryAsync(string file, params string[] args)
    {
        try
        {
            await RunAsync(file, args);
        }
        catch (TimeoutException)
        {
        }
    }

    /// <summary>The chaos tests need root, ip (iproute2), nft (nftables) and tc. Under CI a missing piece fails the test.</summary>
    public static async Task RequirePrivilegesAsync()
    {
        var problems = new StringBuilder();
        if (Environment.UserName != "root" && geteuid() != 0)
        {
            problems.Append("not running as root (network namespaces and nftables need CAP_NET_ADMIN); ");
        }

        foreach (var tool in new[] { "ip", "nft", "tc", "ss" })
        {
            if (!OnPath(tool))
            {
                problems.Append(CultureInfo(tool));
            }
        }

        if (problems.Length > 0)
        {
            Assert.Fail("chaos tests cannot run: " + problems + "(./test.sh installs iproute2 and nftables; run as root; CI=true never skips)");
        }

        await Task.CompletedTask;

        static string CultureInfo(string tool) => $"'{tool}' not found on PATH; ";
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin"])
        .Any(d => d.Length > 0 && File.Exists(Path.Combine(d, tool)));

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();
}

/// <summary>Paths baked in at build time (see the project file).</summary>
public static class ChaosPaths
{
    public static string CliDll => Metadata("LifelineCliDll");

    public static string AgentDll => Metadata("ChaosAgentDll");

    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host
        : Path.Combine(Path.GetDirectoryName(Environment.ProcessPath ?? "/usr/bin/dotnet")!, "dotnet") is var p && File.Exists(p) ? p : "dotnet";

    private static string Metadata(string key) =>
        typeof(ChaosPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value
        ?? throw new InvalidOperationException($"assembly metadata {key} missing");
}
