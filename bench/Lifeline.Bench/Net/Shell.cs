using System.Diagnostics;

namespace Lifeline.Bench.Net;

/// <summary>Runs short system commands (ip, nft, redis-cli) with a bounded time; a command that hangs is killed.</summary>
internal static class Shell
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
            throw new TimeoutException($"{file} {string.Join(' ', start.ArgumentList)} did not finish in time");
        }

        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs a command that must succeed; returns its output.</summary>
    public static async Task<string> MustAsync(string file, params string[] args)
    {
        var (code, stdout, stderr) = await RunAsync(file, args);
        return code == 0 ? stdout : throw new InvalidOperationException($"`{file} {string.Join(' ', args)}` exited with {code}: {stderr.Trim()} {stdout.Trim()}");
    }

    /// <summary>Runs a command synchronously and ignores failure (clean-up, also from exit handlers).</summary>
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
}
