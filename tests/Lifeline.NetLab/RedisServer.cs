using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Lifeline.NetLab;

/// <summary>
/// A throw-away <c>redis-server</c> (the Debian package) on a free loopback port: no persistence, its own working
/// directory under <c>/tmp/lifeline-redis.*</c>, ready when its log says so. Disposing (and process exit) kills it and
/// deletes the directory; a server left by a process that died (kill -9) is killed at the next start.
/// A machine without redis-server fails (never skips): <c>./test.sh</c> installs the package, and under CI=true a missing
/// dependency is a failure.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private const string DirectoryPrefix = "lifeline-redis.";
    private static readonly ConcurrentDictionary<RedisServer, byte> Live = new();
    private readonly Process _process;
    private readonly string _directory;

    static RedisServer() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var redis in Live.Keys)
        {
            redis.Stop();
        }
    };

    private RedisServer(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    /// <summary>The loopback port it listens on.</summary>
    public int Port { get; }

    /// <summary>The StackExchange.Redis configuration string for it.</summary>
    public string Configuration => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    /// <summary>Its working directory (where a cluster node keeps its nodes.conf).</summary>
    public string Directory => _directory;

    /// <summary>Finds <paramref name="name"/> (redis-server, redis-cli) or throws with a message that says how to get it.</summary>
    public static string FindExecutable(string name = "redis-server") =>
        Shell.Find(name) ?? throw new InvalidOperationException(
            $"{name} is not installed: apt-get install redis-server redis-tools (test.sh does this; under CI a missing server fails the tests)"
            + (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ? " (CI=true: a missing dependency is a failure)" : ""));

    /// <summary>Starts a server and waits (event-driven, on its log) until it accepts connections.</summary>
    /// <param name="extraArgs">More arguments, for example cluster mode.</param>
    /// <param name="port">The port; a free one when null (retried on another port if it was taken meanwhile).</param>
    /// <param name="cancellationToken">Gives up the start.</param>
    public static async Task<RedisServer> StartAsync(IEnumerable<string>? extraArgs = null, int? port = null, CancellationToken cancellationToken = default)
    {
        var executable = FindExecutable();
        SweepLeftovers();
        for (var attempt = 1; ; attempt++)
        {
            var chosen = port ?? FreePorts.Next();
            var directory = System.IO.Directory.CreateTempSubdirectory(DirectoryPrefix).FullName;
            var info = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = directory };
            foreach (var arg in new[] { "--port", chosen.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", directory, "--daemonize", "no" }
                .Concat(extraArgs ?? []))
            {
                info.ArgumentList.Add(arg);
            }

            var process = new Process { StartInfo = info, EnableRaisingEvents = true };
            var ready = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var log = new StringBuilder();
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    ready.TrySetResult(false);
                    return;
                }

                lock (log)
                {
                    log.AppendLine(e.Data);
                }

                if (e.Data.Contains("Ready to accept connections", StringComparison.Ordinal))
                {
                    ready.TrySetResult(true);
                }
            };
            process.ErrorDataReceived += (_, _) => { };
            process.Exited += (_, _) => ready.TrySetResult(false);
            process.Start();
            File.WriteAllText(Path.Combine(directory, "owner"), string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId} {process.Id}"));
            var server = new RedisServer(process, directory, chosen);
            Live[server] = 0;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            bool ok;
            try
            {
                ok = await ready.Task.WaitAsync(TimeSpan.FromSeconds(20), cancellationToken);
            }
            catch
            {
                server.Stop();
                throw;
            }

            if (ok)
            {
                return server;
            }

            server.Stop();
            if (port is not null || attempt >= 3)
            {
                throw new InvalidOperationException($"redis-server did not start on port {chosen}:\n{log}");
            }
        }
    }

    /// <summary>Kills the server (like a crash: nothing is saved); its directory stays until dispose.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Stop();
        return ValueTask.CompletedTask;
    }

    private void Stop()
    {
        if (!Live.TryRemove(this, out _))
        {
            return;
        }

        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        try
        {
            System.IO.Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Kills redis-servers (and deletes their directories) left by a process that is gone (kill -9).</summary>
    private static void SweepLeftovers()
    {
        foreach (var directory in System.IO.Directory.EnumerateDirectories(Path.GetTempPath(), DirectoryPrefix + "*"))
        {
            var owner = Path.Combine(directory, "owner");
            var pids = File.Exists(owner) ? File.ReadAllText(owner).Split(' ') : [];
            if (pids.Length != 2 || !int.TryParse(pids[0], CultureInfo.InvariantCulture, out var parent) || System.IO.Directory.Exists($"/proc/{parent}"))
            {
                continue;
            }

            if (int.TryParse(pids[1], CultureInfo.InvariantCulture, out var pid) && File.Exists($"/proc/{pid}/cmdline")
                && File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("redis-server", StringComparison.Ordinal))
            {
                _ = Native.Signal(pid, Native.SigKill);
            }

            try
            {
                System.IO.Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
