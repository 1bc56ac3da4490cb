using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace Lifeline.NetLab;

/// <summary>How to start a <see cref="ChildProcess"/>.</summary>
/// <param name="FileName">The program (for a .NET app, <see cref="ChildProcess.DotnetHost"/>).</param>
/// <param name="Arguments">Its arguments.</param>
public sealed record ChildProcessStart(string FileName, IReadOnlyList<string> Arguments)
{
    /// <summary>A network namespace to run in (<c>ip netns exec NS</c>, which execs: the pid stays the program's). Null: this one.</summary>
    public string? Namespace { get; init; }

    /// <summary>Environment variables to set (after <see cref="RemoveEnvironmentPrefix"/> cleared inherited ones).</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>Inherited variables with this prefix are removed, so no setting leaks in from the machine (e.g. <c>Lifeline__</c>).</summary>
    public string? RemoveEnvironmentPrefix { get; init; }

    /// <summary>The working directory; null: this process's.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>How many of the latest lines of each stream to keep; null: all (a long-running, chatty server wants a bound).</summary>
    public int? MaxLinesKept { get; init; }

    /// <summary><c>dotnet DLL ARGS</c> in the DLL's folder, with <c>Lifeline__*</c> variables removed.</summary>
    public static ChildProcessStart Dotnet(string dll, IEnumerable<string> args) =>
        new(ChildProcess.DotnetHost, [dll, .. args]) { WorkingDirectory = Path.GetDirectoryName(dll), RemoveEnvironmentPrefix = "Lifeline__" };
}

/// <summary>
/// A child process (a <c>lifeline serve</c>, an agent, a tool), optionally inside a network namespace, with its standard
/// output and error collected line by line. Subclasses watch lines through <see cref="OnLine"/>. Disposing kills it if it
/// is still running; so does the exit of this process (<see cref="KillAll"/>), so none is left behind.
/// </summary>
public class ChildProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<ChildProcess, byte> Live = new();
    private readonly Lock _lock = new();
    private readonly int _maxLines;
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly List<string> _all = [];
    private readonly List<(Func<string, bool> Predicate, TaskCompletionSource<string> Tcs)> _waiters = [];

    static ChildProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();

    /// <summary>Starts the process described by <paramref name="start"/>.</summary>
    protected ChildProcess(ChildProcessStart start)
    {
        _maxLines = start.MaxLinesKept ?? int.MaxValue;
        Name = Path.GetFileName(start.FileName == DotnetHost && start.Arguments.Count > 0 ? start.Arguments[0] : start.FileName);
        IEnumerable<string> command = start.Namespace is null ? [start.FileName, .. start.Arguments] : ["ip", "netns", "exec", start.Namespace, start.FileName, .. start.Arguments];
        var info = new ProcessStartInfo(command.First())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = start.WorkingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in command.Skip(1))
        {
            info.ArgumentList.Add(a);
        }

        if (start.RemoveEnvironmentPrefix is { } prefix)
        {
            foreach (var key in info.Environment.Keys.Where(k => k.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)).ToList())
            {
                info.Environment.Remove(key);
            }
        }

        foreach (var (key, value) in start.Environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        Process = new Process { StartInfo = info, EnableRaisingEvents = true };
        Process.OutputDataReceived += (_, e) => Receive(e.Data, stdout: true);
        Process.ErrorDataReceived += (_, e) => Receive(e.Data, stdout: false);
        Process.Start();
        Live[this] = 0;
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
    }

    /// <summary>The dotnet host that runs this process (a child runs on the same runtime).</summary>
    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host
        : Path.Combine(Path.GetDirectoryName(Environment.ProcessPath ?? "/usr/bin/dotnet")!, "dotnet") is var p && File.Exists(p) ? p : "dotnet";

    /// <summary>The process (its standard input is redirected: a test may drive it line by line).</summary>
    public Process Process { get; }

    /// <summary>Its pid (under <c>ip netns exec</c>, the program's own).</summary>
    public int Pid => Process.Id;

    /// <summary>True once it exited.</summary>
    public bool HasExited => Process.HasExited;

    /// <summary>Every standard-output line so far.</summary>
    public IReadOnlyList<string> Stdout
    {
        get
        {
            lock (_lock)
            {
                return [.. _stdout];
            }
        }
    }

    /// <summary>Every standard-error line so far.</summary>
    public IReadOnlyList<string> Stderr
    {
        get
        {
            lock (_lock)
            {
                return [.. _stderr];
            }
        }
    }

    /// <summary>The last 60 lines of both streams in order (standard error marked <c>! </c>), for failure messages.</summary>
    public string Log
    {
        get
        {
            lock (_lock)
            {
                return string.Join('\n', _all.TakeLast(60));
            }
        }
    }

    /// <summary>Starts a process.</summary>
    public static ChildProcess Start(ChildProcessStart start) => new(start);

    /// <summary>Kills every child process still running (process exit, Ctrl-C, a failed run).</summary>
    public static void KillAll()
    {
        foreach (var child in Live.Keys)
        {
            try
            {
                child.Process.Kill(entireProcessTree: true);
            }
            catch (Exception ex) when (ex is InvalidOperationException or Win32Exception)
            {
            }
        }
    }

    /// <summary>Everything the process printed, for failure messages.</summary>
    public string Describe() =>
        "stdout:" + Environment.NewLine + string.Join(Environment.NewLine, Stdout) + Environment.NewLine
        + "stderr:" + Environment.NewLine + string.Join(Environment.NewLine, Stderr);

    /// <summary>
    /// Waits for a standard-output line matching <paramref name="predicate"/> (lines already seen count). Throws
    /// <see cref="TimeoutException"/> when none came within <paramref name="timeout"/> (30 s by default) or the process exited first.
    /// </summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan? timeout = null)
    {
        Task<string> waiting;
        lock (_lock)
        {
            var seen = _stdout.FirstOrDefault(predicate);
            if (seen is not null)
            {
                return seen;
            }

            var tcs = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((predicate, tcs));
            waiting = tcs.Task;
        }

        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var exited = Process.WaitForExitAsync();
        var first = await Task.WhenAny(waiting, exited, Task.Delay(limit));
        if (first == waiting)
        {
            return await waiting;
        }

        throw new TimeoutException((first == exited ? $"{Name} exited" : $"no matching line within {limit}") + $" while waiting for a line.{Environment.NewLine}{Describe()}");
    }

    /// <summary>Sends SIGTERM, as a service manager or <c>docker stop</c> does (nothing when it already exited).</summary>
    public void Terminate()
    {
        if (!Process.HasExited && !Native.Signal(Pid, Native.SigTerm))
        {
            throw new InvalidOperationException($"kill({Pid}, SIGTERM) failed");
        }
    }

    /// <summary>SIGKILL, as a crash or the OOM killer would: no drain, no cleanup. Waits (10 s at most) for the exit.</summary>
    public async Task KillAsync()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await Process.WaitForExitAsync(cts.Token);
    }

    /// <summary>Waits for the process to exit and returns its exit code; throws <see cref="TimeoutException"/> past <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await Process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Name} did not exit within {timeout}.{Environment.NewLine}{Describe()}");
        }

        return Process.ExitCode;
    }

    /// <summary>Waits at most <paramref name="timeout"/> for the process to exit; true when it has.</summary>
    public async Task<bool> ExitedWithinAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await Process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>VmRSS from /proc/PID/status, in kB.</summary>
    public long RssKb()
    {
        var line = File.ReadLines($"/proc/{Pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    /// <summary>Called for every line (on a thread-pool thread); the base records it and wakes <see cref="WaitForLineAsync"/>.</summary>
    protected virtual void OnLine(string line, bool stdout)
    {
        lock (_lock)
        {
            Keep(stdout ? _stdout : _stderr, line);
            Keep(_all, (stdout ? "" : "! ") + line);
            if (!stdout)
            {
                return;
            }

            foreach (var waiter in _waiters.Where(w => w.Predicate(line)).ToList())
            {
                waiter.Tcs.TrySetResult(line);
                _waiters.Remove(waiter);
            }
        }
    }

    /// <summary>Kills the process (if it still runs) and releases it.</summary>
    public async ValueTask DisposeAsync()
    {
        Live.TryRemove(this, out _);
        try
        {
            await KillAsync();
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException or Win32Exception)
        {
        }

        Process.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>What failure messages call it: the DLL for a .NET app, else the program.</summary>
    private string Name { get; }

    private void Keep(List<string> lines, string line)
    {
        lines.Add(line);
        if (lines.Count > _maxLines)
        {
            lines.RemoveAt(0);
        }
    }

    private void Receive(string? line, bool stdout)
    {
        if (line is not null)
        {
            OnLine(line, stdout);
        }
    }
}
