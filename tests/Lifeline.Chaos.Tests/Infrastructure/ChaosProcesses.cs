using System.Globalization;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Lifeline.Chaos.Tests.Infrastructure;

/// <summary><c>lifeline serve</c> inside the server's namespace, bound to the veth address.</summary>
public sealed class ServerProcess : ChildProcess
{
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServerProcess(string ns, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment)
        : base(ChildProcessStart.Dotnet(ChaosPaths.CliDll, args) with { Namespace = ns, Environment = environment })
    {
    }

    /// <summary>Settings without a flag come from the environment (<c>Lifeline__SendQueueLimit</c>).</summary>
    public static IReadOnlyDictionary<string, string>? Environment { get; set; }

    public static async Task<ServerProcess> StartAsync(NetworkPair net, params string[] extra)
    {
        Assert.True(File.Exists(ChaosPaths.CliDll), $"the tool is not built: {ChaosPaths.CliDll}");
        string[] args =
        [
            "serve", "--bind", net.ServerIp, "--port", ChaosNetwork.ServerPort.ToString(CultureInfo.InvariantCulture),
            "--heartbeat-interval", "1s", "--heartbeat-timeout", "1s", "--auth", "dev", "--presence-grace", "2s", .. extra,
        ];
        var server = new ServerProcess(net.ServerNs, args, Environment);
        var exited = server.Process.WaitForExitAsync();
        var first = await Task.WhenAny(server._listening.Task, exited, Task.Delay(TimeSpan.FromSeconds(30)));
        if (first != server._listening.Task)
        {
            var log = server.Log;
            await server.DisposeAsync();
            Assert.Fail("lifeline serve did not start in the namespace:\n" + log);
        }

        return server;
    }

    private readonly Lock _closedLock = new();
    private readonly List<(DateTime At, string Line)> _closed = [];

    /// <summary>The server's own timestamps of its <c>connection ... closed</c> log lines (teardown done) since <paramref name="since"/> for peers at <paramref name="remoteIp"/>.</summary>
    public List<(DateTime At, string Line)> ClosedSince(DateTime since, string remoteIp) => LinesSince(since, remoteIp, " closed user=");

    /// <summary>The server's <c>heartbeat timeout</c> log lines (dead connection detected, close 4000 and teardown started).</summary>
    public List<(DateTime At, string Line)> TimeoutsSince(DateTime since, string remoteIp) => LinesSince(since, remoteIp, " heartbeat timeout user=");

    private List<(DateTime At, string Line)> LinesSince(DateTime since, string remoteIp, string marker)
    {
        lock (_closedLock)
        {
            return [.. _closed.Where(c => c.At >= since && c.Line.Contains(marker, StringComparison.Ordinal) && c.Line.Contains("remote=" + remoteIp + ":", StringComparison.Ordinal))];
        }
    }

    protected override void OnLine(string line, bool stdout)
    {
        base.OnLine(line, stdout);
        if (line.Contains("listening on", StringComparison.Ordinal))
        {
            _listening.TrySetResult();
        }

        // Simple console format, one line: "2026-11-28T17:59:30.123Z info: Lifeline...[4] ... connection X closed user=... remote=..."
        if ((line.Contains(" closed user=", StringComparison.Ordinal) || line.Contains(" heartbeat timeout user=", StringComparison.Ordinal)) && line.Length > 24
            && DateTime.TryParseExact(line[..24], "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at))
        {
            lock (_closedLock)
            {
                _closed.Add((at, line));
            }
        }
    }
}

/// <summary>The chaos agent (LifelineClient instances) inside a namespace, driven by JSON lines.</summary>
public sealed class AgentProcess : ChildProcess
{
    private readonly Channel<JsonObject> _replies = Channel.CreateUnbounded<JsonObject>();
    private readonly Lock _eventsLock = new();
    private readonly List<JsonObject> _events = [];
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<(Func<JsonObject, bool> Match, TaskCompletionSource<JsonObject> Tcs)> _waiters = [];

    private AgentProcess(string ns)
        : base(ChildProcessStart.Dotnet(ChaosPaths.AgentDll, []) with { Namespace = ns })
    {
    }

    public static AgentProcess Start(string ns)
    {
        Assert.True(File.Exists(ChaosPaths.AgentDll), $"the agent is not built: {ChaosPaths.AgentDll}");
        return new AgentProcess(ns);
    }

    /// <summary>State and presence events seen so far.</summary>
    public List<JsonObject> Events
    {
        get
        {
            lock (_eventsLock)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>Sends one command and waits for its reply (commands are answered in order).</summary>
    public async Task<JsonObject> RequestAsync(JsonObject command, TimeSpan? timeout = null)
    {
        await _gate.WaitAsync();
        try
        {
            await Process.StandardInput.WriteLineAsync(command.ToJsonString());
            await Process.StandardInput.FlushAsync();
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
            JsonObject reply;
            try
            {
                reply = await _replies.Reader.ReadAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"agent: no reply to {command.ToJsonString()[..Math.Min(200, command.ToJsonString().Length)]} within {timeout}\n{Log}");
                throw;
            }

            if ((string?)reply["ev"] == "error")
            {
                Assert.Fail($"agent error for {(string?)command["cmd"]}: {(string?)reply["message"]}\n{Log}");
            }

            return reply;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Waits for an event (already seen ones count).</summary>
    public async Task<JsonObject?> WaitForEventAsync(Func<JsonObject, bool> match, TimeSpan timeout)
    {
        Task<JsonObject> task;
        lock (_eventsLock)
        {
            var seen = _events.FirstOrDefault(match);
            if (seen is not null)
            {
                return seen;
            }

            var tcs = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, tcs));
            task = tcs.Task;
        }

        return await Task.WhenAny(task, Task.Delay(timeout)) == task ? await task : null;
    }

    protected override void OnLine(string line, bool stdout)
    {
        base.OnLine(line, stdout);
        if (!stdout || !line.StartsWith('{'))
        {
            return;
        }

        var o = JsonNode.Parse(line)!.AsObject();
        var ev = (string?)o["ev"];
        if (ev is "state" or "presence")
        {
            lock (_eventsLock)
            {
                _events.Add(o);
                foreach (var w in _waiters.Where(w => w.Match(o)).ToList())
                {
                    w.Tcs.TrySetResult(o);
                    _waiters.Remove(w);
                }
            }
        }
        else
        {
            _replies.Writer.TryWrite(o);
        }
    }

}
