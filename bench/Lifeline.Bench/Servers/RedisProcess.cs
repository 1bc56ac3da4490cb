using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Lifeline.Bench.Servers;

/// <summary>
/// A throw-away <c>redis-server</c> on a free loopback port, no persistence (<c>--save '' --appendonly no</c>), working
/// directory in a fresh <c>/tmp/benchnet-redis.*</c>. Disposing (and process exit) kills it and deletes the directory.
/// </summary>
internal sealed class RedisProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<RedisProcess, byte> Live = new();
    private readonly Process _process;
    private readonly string _directory;

    static RedisProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var redis in Live.Keys)
        {
            redis.Stop();
        }
    };

    private RedisProcess(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The StackExchange.Redis configuration string of this server.</summary>
    public string Configuration => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    public static async Task<RedisProcess> StartAsync(CancellationToken cancellationToken)
    {
        SweepLeftovers();
        var directory = Directory.CreateTempSubdirectory("benchnet-redis.").FullName;
        var port = FreePort();
        var info = new ProcessStartInfo("redis-server") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
        foreach (var arg in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory, "--daemonize", "no" })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start redis-server");
        File.WriteAllText(Path.Combine(directory, "owner"), string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId} {process.Id}"));
        var redis = new RedisProcess(process, directory, port);
        Live[redis] = 0;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            for (var attempt = 0; attempt < 100 && !await redis.PingAsync(cancellationToken); attempt++)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"redis-server exited with {process.ExitCode}");
                }

                await Task.Delay(50, cancellationToken);
            }

            return await redis.PingAsync(cancellationToken) ? redis : throw new InvalidOperationException("redis-server did not answer PING");
        }
        catch
        {
            await redis.DisposeAsync();
            throw;
        }
    }

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
                _process.Kill();
                _process.WaitForExit(5_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Kills redis-servers (and deletes their directories) left by a generator that is gone (kill -9).</summary>
    private static void SweepLeftovers()
    {
        foreach (var directory in Directory.EnumerateDirectories(Path.GetTempPath(), "benchnet-redis.*"))
        {
            var owner = Path.Combine(directory, "owner");
            var pids = File.Exists(owner) ? File.ReadAllText(owner).Split(' ') : [];
            if (pids.Length != 2 || !int.TryParse(pids[0], CultureInfo.InvariantCulture, out var generator) || Directory.Exists($"/proc/{generator}"))
            {
                continue;
            }

            if (int.TryParse(pids[1], CultureInfo.InvariantCulture, out var pid) && File.Exists($"/proc/{pid}/cmdline")
                && File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("redis-server", StringComparison.Ordinal))
            {
                _ = Net.Native.Signal(pid, 9);
            }

            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(TimeSpan.FromSeconds(1));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Port), cts.Token);
            await socket.SendAsync("PING\r\n"u8.ToArray(), SocketFlags.None, cts.Token);
            var buffer = new byte[16];
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            return Encoding.ASCII.GetString(buffer, 0, n).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
