using System.Globalization;
using System.Net;
using Lifeline.Bench.Measure;
using Lifeline.NetLab;

namespace Lifeline.Bench.Servers;

/// <summary>How a benchmark server is started: its heartbeat, and extra environment (GC settings, ...).</summary>
/// <param name="HeartbeatInterval">Ping interval (Lifeline interval, SignalR KeepAliveInterval, ws interval).</param>
/// <param name="HeartbeatTimeout">Pong timeout (Lifeline timeout; SignalR ClientTimeoutInterval = interval + timeout; ws: one interval).</param>
internal sealed record ServerOptions(TimeSpan HeartbeatInterval, TimeSpan HeartbeatTimeout)
{
    public static readonly ServerOptions Default = new(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5));

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>A network namespace to run the server in (<c>ip netns exec NS</c>, which execs: the pid stays the server's); null: this one.</summary>
    public string? Namespace { get; init; }

    /// <summary>Extra arguments after the standard ones (e.g. <c>--redis 127.0.0.1:6390</c> for the Lifeline server).</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>Port to listen on; 0 picks a free loopback port.</summary>
    public int Port { get; init; }
}

/// <summary>
/// A benchmark server running as a child process (the lab's <see cref="ChildProcess"/>) on a free loopback port. Every
/// child is registered, so <see cref="ChildProcess.KillAll"/> (exit, Ctrl-C, failure) never leaves one behind.
/// </summary>
internal sealed class ServerProcess : ChildProcess
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServerProcess(ServerKind kind, ChildProcessStart start, int port)
        : base(start)
    {
        Kind = kind;
        Port = port;
    }

    public ServerKind Kind { get; }

    public int Port { get; }

    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);

    /// <summary>The last lines the server wrote (for error messages).</summary>
    public string Tail => Log;

    /// <summary>Starts <paramref name="kind"/> and waits for its READY line.</summary>
    public static async Task<ServerProcess> StartAsync(ServerKind kind, ServerOptions options, BenchPaths paths, CancellationToken cancellationToken)
    {
        var port = options.Port > 0 ? options.Port : FreePorts.Next();
        var command = paths.ServerCommand(kind);
        string[] args =
        [
            .. command.ArgumentList,
            "--port", port.ToString(CultureInfo.InvariantCulture),
            "--heartbeat-interval-ms", ((long)options.HeartbeatInterval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
            "--heartbeat-timeout-ms", ((long)options.HeartbeatTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
            "--parent-pid", Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
            .. options.ExtraArguments,
        ];
        var environment = new Dictionary<string, string> { ["DOTNET_NOLOGO"] = "1" };
        if (kind == ServerKind.LifelineLean)
        {
            environment["BENCH_LIFELINE_LISTENER"] = "lean"; // the same server, its endpoint with UseLifeline
        }
        foreach (var (key, value) in options.Environment)
        {
            environment[key] = value;
        }

        var start = new ChildProcessStart(command.FileName, args)
        {
            Namespace = options.Namespace,
            Environment = environment,
            WorkingDirectory = command.WorkingDirectory,
            MaxLinesKept = 40,
        };
        var server = new ServerProcess(kind, start, port);
        try
        {
            var exited = server.Process.WaitForExitAsync(cancellationToken);
            var first = await Task.WhenAny(server._ready.Task, exited, Task.Delay(TimeSpan.FromSeconds(60), cancellationToken));
            if (first != server._ready.Task)
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

    protected override void OnLine(string line, bool stdout)
    {
        base.OnLine(line, stdout);
        if (stdout && line.StartsWith("READY ", StringComparison.Ordinal))
        {
            _ready.TrySetResult();
        }
    }
}
