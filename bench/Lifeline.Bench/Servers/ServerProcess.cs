using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Lifeline.Bench.Measure;

namespace Lifeline.Bench.Servers;

/// <summary>How a benchmark server is started: its heartbeat, and extra environment (GC settings, ...).</summary>
/// <param name="HeartbeatInterval">Ping interval (Lifeline interval, SignalR KeepAliveInterval, ws interval).</param>
/// <param name="HeartbeatTimeout">Pong timeout (Lifeline timeout; SignalR ClientTimeoutInterval = interval + timeout; ws: one interval).</param>
internal sealed record ServerOptions(TimeSpan HeartbeatInterval, TimeSpan HeartbeatTimeout)
{
    public static readonly ServerOptions Default = new(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5));

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Command put in front of the server's (e.g. <c>ip netns exec NS</c>, which execs: the pid stays the server's).</summary>
    public IReadOnlyList<string> CommandPrefix { get; init; } = [];

    /// <summary>Extra arguments after the standard ones (e.g. <c>--redis 127.0.0.1:6390</c> for the Lifeline server).</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>Port to listen on; 0 picks a free loopback port.</summary>
    public int Port { get; init; }
}

/// <summary>
/// A benchmark server running as a child process on a free loopback port. Every instance is registered so that
/// <see cref="KillAll"/> (exit, Ctrl-C, failure) never leaves one behind.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<ServerProcess, byte> Live = new();
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _tail = new();

    private ServerProcess(ServerKind kind, Process process, int port)
    {
        Kind = kind;
        _process = process;
        Port = port;
    }

    public ServerKind Kind { get; }

    public int Port { get; }

    public int Pid => _process.Id;

    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);

    public bool HasExited => _process.HasExited;

    /// <summary>The last lines the server wrote (for error messages).</summary>
    public string Tail => string.Join(Environment.NewLine, _tail);

    /// <summary>Starts <paramref name="kind"/> and waits for its READY line.</summary>
    public static async Task<ServerProcess> StartAsync(ServerKind kind, ServerOptions options, BenchPaths paths, CancellationToken cancellationToken)
    {
        var port = options.Port > 0 ? options.Port : FreePort();
        var info = WithPrefix(paths.ServerCommand(kind), options.CommandPrefix);
        info.ArgumentList.Add("--port");
        info.ArgumentList.Add(port.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--heartbeat-interval-ms");
        info.ArgumentList.Add(((long)options.HeartbeatInterval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--heartbeat-timeout-ms");
        info.ArgumentList.Add(((long)options.HeartbeatTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--parent-pid");
        info.ArgumentList.Add(Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        foreach (var extra in options.ExtraArguments)
        {
            info.ArgumentList.Add(extra);
        }

        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in options.Environment)
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info };
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = new ServerProcess(kind, process, port);
        process.OutputDataReceived += (_, e) => server.OnLine(e.Data, ready);
        process.ErrorDataReceived += (_, e) => server.OnLine(e.Data, null);
        if (!process.Start())
        {
            throw new InvalidOperationException($"{kind.Name()}: could not start {info.FileName}");
        }

        Live[server] = 0;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var exited = process.WaitForExitAsync(cancellationToken);
            var first = await Task.WhenAny(ready.Task, exited, Task.Delay(TimeSpan.FromSeconds(60), cancellationToken));
            if (first != ready.Task)
            {
                throw new InvalidOperationException($"{kind.Name()} server did not become ready:{Environment.NewLine}{server.Tail}");
            }
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>Resident set size of the server process, in bytes.</summary>
    public long RssBytes() => ProcStats.RssBytes(Pid);

    /// <summary>CPU time (user + system) the server has used so far.</summary>
    public TimeSpan CpuTime() => ProcStats.CpuTime(Pid);

    /// <summary>Stops the server now (SIGKILL to the process tree) and waits for it.</summary>
    public async ValueTask DisposeAsync()
    {
        Live.TryRemove(this, out _);
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException or System.ComponentModel.Win32Exception)
        {
        }

        _process.Dispose();
    }

    /// <summary>Asks the server to stop gracefully (SIGTERM); <see cref="WaitForExitAsync"/> waits for it.</summary>
    public void Terminate()
    {
        if (!_process.HasExited)
        {
            Lifeline.NetLab.Native.Signal(_process.Id, Lifeline.NetLab.Native.SigTerm);
        }
    }

    /// <summary>Waits until the server has exited, at most <paramref name="timeout"/>; true when it has.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Kills every server still running (exit paths, Ctrl-C).</summary>
    public static void KillAll()
    {
        foreach (var server in Live.Keys)
        {
            try
            {
                server._process.Kill(entireProcessTree: true);
            }
            catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
            }
        }
    }

    private void OnLine(string? line, TaskCompletionSource? ready)
    {
        if (line is null)
        {
            return;
        }

        _tail.Enqueue(line);
        while (_tail.Count > 40 && _tail.TryDequeue(out _))
        {
        }

        if (ready is not null && line.StartsWith("READY ", StringComparison.Ordinal))
        {
            ready.TrySetResult();
        }
    }

    private static ProcessStartInfo WithPrefix(ProcessStartInfo info, IReadOnlyList<string> prefix)
    {
        if (prefix.Count == 0)
        {
            return info;
        }

        var wrapped = new ProcessStartInfo(prefix[0]) { WorkingDirectory = info.WorkingDirectory };
        foreach (var arg in prefix.Skip(1).Append(info.FileName).Concat(info.ArgumentList))
        {
            wrapped.ArgumentList.Add(arg);
        }

        return wrapped;
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
