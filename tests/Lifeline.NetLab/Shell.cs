using System.Diagnostics;
using System.Text;

namespace Lifeline.NetLab;

/// <summary>Runs short system commands (ip, nft, tc, ss, redis-cli) with a bounded time; a command that hangs is killed.</summary>
public static class Shell
{
    /// <summary>How long <see cref="RunAsync"/> waits when no timeout is given.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Runs <paramref name="file"/> (feeding it <paramref name="stdin"/>); returns its exit code and output. Throws <see cref="TimeoutException"/> (after killing it) past the timeout.</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string file, IEnumerable<string> args, TimeSpan? timeout = null, string? stdin = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
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
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
        }

        p.StandardInput.Close();
        var limit = timeout ?? DefaultTimeout;
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', start.ArgumentList)} did not finish within {limit}");
        }

        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs a command that must succeed; returns its output.</summary>
    public static async Task<string> MustAsync(string file, params string[] args)
    {
        var (code, stdout, stderr) = await RunAsync(file, args);
        return code == 0 ? stdout : throw new InvalidOperationException($"`{file} {string.Join(' ', args)}` exited with {code}: {stderr.Trim()} {stdout.Trim()}");
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

    /// <summary>Runs a command synchronously and ignores failure (clean-up, also from process-exit handlers).</summary>
    public static void Try(string file, params string[] args)
    {
        try
        {
            var start = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args)
            {
                start.ArgumentList.Add(a);
            }

            using var p = Process.Start(start);
            if (p is not null && !p.WaitForExit(10_000))
            {
                p.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
    }

    /// <summary>The full path of <paramref name="name"/> on PATH (or in /usr/bin, /usr/sbin, /sbin); null when it is not installed.</summary>
    public static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/bin", "/usr/sbin", "/sbin"])
        .Select(d => Path.Combine(d, name))
        .FirstOrDefault(File.Exists);

    /// <summary>
    /// What keeps network-namespace work from running here (not root, a tool missing from <paramref name="tools"/>);
    /// null when nothing does. Callers fail with it: a missing privilege or tool is never a skip.
    /// </summary>
    public static string? MissingPrivileges(params string[] tools)
    {
        var problems = new StringBuilder();
        if (Environment.UserName != "root" && !Native.IsRoot)
        {
            problems.Append("not running as root (network namespaces and nftables need CAP_NET_ADMIN); ");
        }

        foreach (var tool in tools.Where(t => Find(t) is null))
        {
            problems.Append($"'{tool}' not found on PATH; ");
        }

        return problems.Length > 0 ? problems.ToString() : null;
    }
}
