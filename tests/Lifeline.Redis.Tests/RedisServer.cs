using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Lifeline.Redis.Tests;

/// <summary>
/// A real <c>redis-server</c> (the Debian package) started on a free loopback port, without persistence, and killed on
/// dispose. test.sh installs the package; a machine without it fails these tests (never skips them).
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly Process _process;

    private RedisServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    /// <summary>The loopback port it listens on.</summary>
    public int Port { get; }

    /// <summary>The StackExchange.Redis configuration string for it.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    /// <summary>Finds redis-server on PATH or fails with a message that says how to get it.</summary>
    public static string FindExecutable(string name = "redis-server")
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/bin").Append("/usr/sbin"))
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path))
            {
                return path;
            }
        }

        throw new InvalidOperationException($"{name} is not installed: apt-get install redis-server (test.sh does this; under CI a missing server fails the tests)");
    }

    /// <summary>A port that was free a moment ago on 127.0.0.1.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts a server and waits (event-driven, on its log) until it accepts connections.</summary>
    /// <param name="extraArgs">More arguments, for example cluster mode.</param>
    /// <param name="port">The port; a free one when null.</param>
    public static async Task<RedisServer> StartAsync(IEnumerable<string>? extraArgs = null, int? port = null)
    {
        var executable = FindExecutable();
        for (var attempt = 1; ; attempt++)
        {
            var chosen = port ?? FreePort();
            var info = new ProcessStartInfo(executable)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { "--port", chosen.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no" }
                .Concat(extraArgs ?? []))
            {
                info.ArgumentList.Add(arg);
            }

            var process = new Process { StartInfo = info, EnableRaisingEvents = true };
            var ready = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var log = new System.Text.StringBuilder();
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
            process.Exited += (_, _) => ready.TrySetResult(false);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var ok = await ready.Task.WaitAsync(TimeSpan.FromSeconds(20));
            if (ok)
            {
                return new RedisServer(process, chosen);
            }

            process.Kill(entireProcessTree: true);
            process.Dispose();
            if (port is not null || attempt >= 3)
            {
                throw new InvalidOperationException($"redis-server did not start on port {chosen}:\n{log}");
            }
        }
    }

    /// <summary>Kills the server (like a crash: nothing is saved).</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }
}

/// <summary>One redis-server shared by the tests of a collection (each test uses its own key prefix).</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisFixture>
{
    public const string Name = "redis";
}
