using System.Diagnostics;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Tests;

/// <summary>
/// The ws server needs node and its npm packages (bench/servers/ws, ws pinned by package-lock.json). A missing node is a
/// failure, never a skip (test.sh installs it); missing packages are installed with <c>npm ci</c> once.
/// </summary>
internal static class WsServerDependencies
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static async Task EnsureAsync(BenchPaths paths)
    {
        await Gate.WaitAsync();
        try
        {
            var dir = Path.Combine(paths.ServersDir, "ws");
            if (await RunAsync("node", "--version", dir) != 0)
            {
                throw new InvalidOperationException("node is not installed (apt-get install nodejs npm; test.sh does this): the ws anchor cannot run");
            }

            if (!File.Exists(Path.Combine(dir, "node_modules", "ws", "package.json"))
                && await RunAsync("npm", "ci --no-audit --no-fund", dir) != 0)
            {
                throw new InvalidOperationException("npm ci failed in " + dir);
            }
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<int> RunAsync(string file, string arguments, string directory)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, arguments)
            {
                WorkingDirectory = directory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            await process.WaitForExitAsync(cts.Token);
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1; // not on PATH
        }
    }
}
