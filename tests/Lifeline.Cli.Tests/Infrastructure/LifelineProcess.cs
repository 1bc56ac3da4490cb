using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Lifeline.Cli.Tests.Infrastructure;

/// <summary>
/// The built <c>lifeline</c> tool run as a real child process (<c>dotnet lifeline.dll ...</c>), with its standard
/// output and error collected line by line. Disposing kills it if it is still running.
/// </summary>
public sealed partial class LifelineProcess : IAsyncDisposable
{
    private const int SigTerm = 15;

    private readonly Process _process;
    private readonly Lock _lock = new();
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly List<(Func<string, bool> Predicate, TaskCompletionSource<string> Tcs)> _waiters = [];

    private LifelineProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public IReadOnlyList<string> Stdout
    {
        get
        {
            lock (_lock)
            {
                return _stdout.ToList();
            }
        }
    }

    public IReadOnlyList<string> Stderr
    {
        get
        {
            lock (_lock)
            {
                return _stderr.ToList();
            }
        }
    }

    /// <summary>Starts <c>dotnet lifeline.dll</c> with <paramref name="args"/> and extra environment variables.</summary>
    public static LifelineProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        Assert.True(File.Exists(TestPaths.CliDll), $"the tool is not built: {TestPaths.CliDll}");
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(TestPaths.CliDll)!,
        };
        start.ArgumentList.Add(TestPaths.CliDll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // A clean slate: no Lifeline settings leak in from the machine running the tests.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("Lifeline__", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var wrapper = new LifelineProcess(process);
        process.OutputDataReceived += (_, e) => wrapper.OnLine(e.Data, wrapper._stdout);
        process.ErrorDataReceived += (_, e) => wrapper.OnLine(e.Data, wrapper._stderr);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return wrapper;
    }

    /// <summary>Runs the tool to completion (for short commands such as <c>--help</c>).</summary>
    public static async Task<(int ExitCode, IReadOnlyList<string> Stdout, IReadOnlyList<string> Stderr)> RunAsync(params string[] args)
    {
        await using var process = Start(args);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (code, process.Stdout, process.Stderr);
    }

    /// <summary>Waits for a standard-output line matching <paramref name="predicate"/> (lines already seen count).</summary>
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
        var exited = _process.WaitForExitAsync();
        var first = await Task.WhenAny(waiting, exited, Task.Delay(limit));
        if (first == waiting)
        {
            return await waiting;
        }

        Assert.Fail((first == exited ? "lifeline exited" : $"no matching line within {limit}") + $" while waiting for a line.{Environment.NewLine}{Describe()}");
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>Waits for the startup line and returns the port the server listens on.</summary>
    public async Task<int> WaitForListeningPortAsync()
    {
        var line = await WaitForLineAsync(l => ListeningPattern().IsMatch(l));
        return int.Parse(ListeningPattern().Match(line).Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Sends SIGTERM, as a service manager or <c>docker stop</c> does.</summary>
    public void Terminate()
    {
        if (kill(_process.Id, SigTerm) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Kills the process with SIGKILL, as a crash or the OOM killer would: no drain, no cleanup.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>Waits for the process to exit and returns its exit code; fails the test past <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"lifeline did not exit within {timeout}.{Environment.NewLine}{Describe()}");
        }

        return _process.ExitCode;
    }

    /// <summary>Everything the process printed, for failure messages.</summary>
    public string Describe() =>
        "stdout:" + Environment.NewLine + string.Join(Environment.NewLine, Stdout) + Environment.NewLine
        + "stderr:" + Environment.NewLine + string.Join(Environment.NewLine, Stderr);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    private void OnLine(string? line, List<string> into)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            into.Add(line);
            if (!ReferenceEquals(into, _stdout))
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

    [GeneratedRegex(@"listening on http://127\.0\.0\.1:(?<port>\d+)")]
    private static partial Regex ListeningPattern();

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
