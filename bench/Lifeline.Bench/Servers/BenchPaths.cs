using System.Diagnostics;

namespace Lifeline.Bench.Servers;

/// <summary>Where the repository and the built benchmark servers are (bench/run.sh builds them in Release).</summary>
internal sealed class BenchPaths
{
    public BenchPaths(string repoRoot, string configuration = "Release")
    {
        RepoRoot = repoRoot;
        Configuration = configuration;
    }

    public string RepoRoot { get; }

    public string Configuration { get; }

    public string ServersDir => Path.Combine(RepoRoot, "bench", "servers");

    /// <summary>Finds the repository root (the directory holding Lifeline.sln) above <paramref name="start"/>.</summary>
    public static BenchPaths Discover(string? start = null, string configuration = "Release")
    {
        var dir = new DirectoryInfo(start ?? AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Lifeline.sln")))
        {
            dir = dir.Parent;
        }

        return dir is null
            ? throw new InvalidOperationException("Lifeline.sln not found above " + (start ?? AppContext.BaseDirectory) + "; pass --repo")
            : new BenchPaths(dir.FullName, configuration);
    }

    /// <summary>The command that runs <paramref name="kind"/> (arguments are appended by the caller).</summary>
    public ProcessStartInfo ServerCommand(ServerKind kind)
    {
        switch (kind)
        {
            case ServerKind.Ws:
                var script = Path.Combine(ServersDir, "ws", "server.js");
                var info = new ProcessStartInfo("node") { WorkingDirectory = Path.GetDirectoryName(script)! };
                info.ArgumentList.Add(script);
                return info;
            default:
                var name = kind is ServerKind.Lifeline or ServerKind.LifelineHttp or ServerKind.LifelineLean ? "LifelineServer" : "SignalRServer";
                var dll = Path.Combine(ServersDir, name, "bin", Configuration, "net10.0", name + ".dll");
                if (!File.Exists(dll))
                {
                    throw new FileNotFoundException($"{dll} not built: run bench/run.sh or dotnet build bench/servers/{name} -c {Configuration}", dll);
                }

                var dotnet = new ProcessStartInfo("dotnet") { WorkingDirectory = Path.GetDirectoryName(dll)! };
                dotnet.ArgumentList.Add(dll);
                return dotnet;
        }
    }
}
