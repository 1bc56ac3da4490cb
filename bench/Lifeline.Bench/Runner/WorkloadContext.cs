using System.Globalization;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Runner;

/// <summary>What a workload gets from the runner: parameters (<c>--param key=value</c>), paths, logging, servers.</summary>
internal sealed class WorkloadContext
{
    private readonly IReadOnlyDictionary<string, string> _parameters;

    public WorkloadContext(BenchPaths paths, IReadOnlyDictionary<string, string> parameters, IReadOnlyDictionary<string, string> serverEnvironment, TextWriter log)
    {
        Paths = paths;
        _parameters = parameters;
        ServerEnvironment = serverEnvironment;
        Log = log;
    }

    public BenchPaths Paths { get; }

    /// <summary>Extra environment for the .NET and Node servers (<c>--server-env KEY=VALUE</c>), e.g. GC settings.</summary>
    public IReadOnlyDictionary<string, string> ServerEnvironment { get; }

    public TextWriter Log { get; }

    /// <summary>The parameters actually read, with their values (for the report).</summary>
    public SortedDictionary<string, string> UsedParameters { get; } = new(StringComparer.Ordinal);

    public int Int(string key, int fallback) => (int)Double(key, fallback);

    public double Double(string key, double fallback)
    {
        var value = _parameters.TryGetValue(key, out var text) ? double.Parse(text, CultureInfo.InvariantCulture) : fallback;
        UsedParameters[key] = value.ToString(CultureInfo.InvariantCulture);
        return value;
    }

    /// <summary>A text parameter, one of <paramref name="allowed"/> (the first is the default).</summary>
    /// <exception cref="ArgumentException">The value is not one of <paramref name="allowed"/>.</exception>
    public string Choice(string key, params string[] allowed)
    {
        var value = _parameters.TryGetValue(key, out var text) ? text : allowed[0];
        if (!allowed.Contains(value, StringComparer.Ordinal))
        {
            throw new ArgumentException($"--param {key}={value}: expected one of {string.Join(", ", allowed)}");
        }

        UsedParameters[key] = value;
        return value;
    }

    public TimeSpan Seconds(string key, double fallback) => TimeSpan.FromSeconds(Double(key, fallback));

    public Task<ServerProcess> StartServerAsync(ServerKind kind, ServerOptions options, CancellationToken cancellationToken) =>
        ServerProcess.StartAsync(kind, options with { Environment = ServerEnvironment }, Paths, cancellationToken);

    public void Info(string message) =>
        Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{DateTime.UtcNow:HH:mm:ss.fff}] {message}"));
}
