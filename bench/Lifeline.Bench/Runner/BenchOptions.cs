using System.Globalization;
using Lifeline.Bench.Servers;

namespace Lifeline.Bench.Runner;

/// <summary>
/// The command line of <c>lifeline-bench run</c>:
/// <c>run WORKLOAD[,WORKLOAD...]|all [--servers lifeline,signalr,ws] [--runs 3] [--out DIR] [--param key=value]... [--server-env KEY=VALUE]... [--repo DIR] [--configuration Release]</c>.
/// </summary>
internal sealed class BenchOptions
{
    public const string Usage = "lifeline-bench run WORKLOAD[,WORKLOAD...]|all [--servers lifeline,signalr,ws] [--runs 3] [--out DIR] "
        + "[--param key=value]... [--server-env KEY=VALUE]... [--repo DIR] [--configuration Release]";

    public IReadOnlyList<string> Workloads { get; private set; } = [];

    public IReadOnlyList<ServerKind> Servers { get; private set; } = ServerKinds.All;

    public int Runs { get; private set; } = 3;

    public string OutDir { get; private set; } = Path.Combine(Path.GetTempPath(), "lifeline-bench-results");

    public string? Repo { get; private set; }

    public string Configuration { get; private set; } = "Release";

    public Dictionary<string, string> Parameters { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, string> ServerEnvironment { get; } = new(StringComparer.Ordinal);

    /// <summary>Parses the arguments after <c>run</c>.</summary>
    /// <exception cref="ArgumentException">Bad usage; the message says what.</exception>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0)
        {
            throw new ArgumentException("usage: " + Usage);
        }

        var options = new BenchOptions { Workloads = args[0].Split(',', StringSplitOptions.RemoveEmptyEntries) };
        for (var i = 1; i < args.Count; i += 2)
        {
            var value = i + 1 < args.Count ? args[i + 1] : throw new ArgumentException(args[i] + " needs a value");
            switch (args[i])
            {
                case "--servers": options.Servers = value.Split(',').Select(ServerKinds.Parse).ToList(); break;
                case "--runs": options.Runs = Math.Max(1, int.Parse(value, CultureInfo.InvariantCulture)); break;
                case "--out": options.OutDir = value; break;
                case "--repo": options.Repo = value; break;
                case "--configuration": options.Configuration = value; break;
                case "--param": AddPair(options.Parameters, value); break;
                case "--server-env": AddPair(options.ServerEnvironment, value); break;
                default: throw new ArgumentException("unknown option " + args[i]);
            }
        }

        return options;
    }

    private static void AddPair(Dictionary<string, string> target, string pair)
    {
        var at = pair.IndexOf('=', StringComparison.Ordinal);
        if (at <= 0)
        {
            throw new ArgumentException($"'{pair}' is not key=value");
        }

        target[pair[..at]] = pair[(at + 1)..];
    }
}
