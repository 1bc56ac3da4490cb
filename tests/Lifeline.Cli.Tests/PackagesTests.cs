using System.Diagnostics;
using System.IO.Compression;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using Lifeline.Cli.Tests.Infrastructure;

namespace Lifeline.Cli.Tests;

/// <summary>
/// The packages people install (issue 19): the NuGet packages packed into a local folder feed, a fresh
/// <c>dotnet new web</c> app that references Lifeline.Server and Lifeline.Client from that feed only (no project
/// references) and exchanges a publish with itself through the packaged .NET client, the <c>lifeline</c> tool installed
/// from the feed, and the npm tarball of <c>@lifeline/client</c> installed and imported in a fresh folder. Slow (packs
/// and restores), so one class, each step bounded. Restores use a private packages folder (a stale 0.1.0 in the global
/// cache can never stand in for what was just packed) with the global cache as a read-only source, so they work
/// offline for whatever the machine has already restored; nuget.org is added only when it answers.
/// </summary>
public sealed class PackagesTests(PackagesFixture packages) : IClassFixture<PackagesFixture>
{
    private string Feed => packages.Feed;

    private string PackagesFolder => packages.PackagesFolder;

    private string Version => packages.Version;

    private string Root => packages.Root;

    private static string[] Packed => PackagesFixture.Packed;

    private Task<(int Code, string Stdout)> RunAsync(string file, string directory, string[] args, Dictionary<string, string>? environment = null) =>
        packages.RunAsync(file, directory, args, environment);

    [Fact]
    public async Task Pack_MakesEveryPackage_WithMetadataSymbolsAndOneVersion()
    {
        foreach (var id in Packed)
        {
            var package = Path.Combine(Feed, $"{id}.{Version}.nupkg");
            Assert.True(File.Exists(package), $"{id}: no {package}");
            Assert.True(File.Exists(Path.Combine(Feed, $"{id}.{Version}.snupkg")), $"{id}: no symbol package");
            using var zip = ZipFile.OpenRead(package);
            Assert.Contains(zip.Entries, e => e.FullName == "README.md");
            using var nuspecStream = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open();
            var nuspec = XDocument.Load(nuspecStream);
            string? Field(string name) => nuspec.Descendants().FirstOrDefault(e => e.Name.LocalName == name)?.Value;
            Assert.Equal(id, Field("id"));
            Assert.Equal(Version, Field("version"));
            Assert.Equal("MIT", Field("license"));
            Assert.Equal("README.md", Field("readme"));
            Assert.False(string.IsNullOrWhiteSpace(Field("description")), id);
            Assert.Contains("websocket", Field("tags"), StringComparison.Ordinal);
            var repository = nuspec.Descendants().Single(e => e.Name.LocalName == "repository");
            Assert.StartsWith("https://", repository.Attribute("url")?.Value, StringComparison.Ordinal);
            Assert.Matches("^[0-9a-f]{40}$", repository.Attribute("commit")?.Value ?? ""); // SourceLink: the commit is recorded
        }

        using var tool = ZipFile.OpenRead(Path.Combine(Feed, $"Lifeline.Cli.{Version}.nupkg"));
        Assert.Contains(tool.Entries, e => e.FullName.EndsWith("DotnetToolSettings.xml", StringComparison.Ordinal));
        Assert.DoesNotContain(Directory.GetFiles(Feed), f => Path.GetFileName(f).Contains("Tests", StringComparison.Ordinal) || Path.GetFileName(f).Contains("Bench", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AFreshWebApp_ReferencingThePackagesOnly_BuildsRuns_AndExchangesAPublish()
    {
        var app = Path.Combine(Root, "FreshApp");
        await RunAsync("dotnet", Root, ["new", "web", "-o", app, "-n", "FreshApp", "--no-restore", "--force"]);
        var project = Path.Combine(app, "FreshApp.csproj");
        var csproj = XDocument.Load(project);
        Assert.Empty(csproj.Descendants("ProjectReference"));
        csproj.Root!.Add(new XElement(
            "ItemGroup",
            new XElement("PackageReference", new XAttribute("Include", "Lifeline.Server"), new XAttribute("Version", Version)),
            new XElement("PackageReference", new XAttribute("Include", "Lifeline.Client"), new XAttribute("Version", Version))));
        csproj.Save(project);
        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), FreshAppProgram);

        await RunAsync("dotnet", app, ["build", "-c", "Release", "-nologo"]); // the NuGet.config above it applies
        var port = FreePort();
        var (_, stdout) = await RunAsync("dotnet", app, ["run", "-c", "Release", "--no-build", "--no-launch-profile"], new() { ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}" });

        Assert.Contains($"exchanged offset=1 state={{\"hello\":\"packages\"}} url=ws://127.0.0.1:{port}/ws", stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(PackagesFolder, "lifeline.server", Version, $"lifeline.server.{Version}.nupkg")), "Lifeline.Server came from somewhere else than the feed");
    }

    [Fact]
    public async Task TheTool_InstallsFromTheFeed_AndRunsServeHelp()
    {
        var tools = Path.Combine(Root, "tools");
        // The NuGet.config maps Lifeline.* to the feed (dotnet tool refuses --add-source together with source mapping).
        await RunAsync("dotnet", Root, ["tool", "install", "--tool-path", tools, "Lifeline.Cli", "--version", Version, "--configfile", Path.Combine(Root, "NuGet.config")]);

        var (_, help) = await RunAsync(Path.Combine(tools, "lifeline"), Root, ["serve", "--help"]);

        Assert.Contains("--api-key-file", help, StringComparison.Ordinal);
        Assert.Contains("--config", help, StringComparison.Ordinal);
        Assert.Contains("Default: 20s", help, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheNpmTarball_HoldsBuiltJsAndTypesOnly_AndInstallsAndImportsInAFreshFolder()
    {
        var js = Path.Combine(TestPaths.RepositoryRoot, "clients", "js");
        if (!Directory.Exists(Path.Combine(js, "node_modules")))
        {
            await RunAsync("npm", js, ["ci", "--prefer-offline", "--no-audit", "--no-fund"]);
        }

        var packs = Path.Combine(Root, "npm-pack");
        Directory.CreateDirectory(packs);
        await RunAsync("npm", js, ["pack", "--pack-destination", packs]);
        var tarball = Assert.Single(Directory.GetFiles(packs, "*.tgz"));

        var (_, listing) = await RunAsync("tar", packs, ["-tzf", tarball]);
        var files = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(f => f.Trim()).ToList();
        Assert.Contains("package/package.json", files);
        Assert.Contains("package/dist/index.js", files);
        Assert.Contains("package/dist/index.d.ts", files);
        Assert.Contains("package/dist/lifeline.js", files);
        Assert.All(files, f => Assert.True(
            f is "package/package.json" or "package/README.md"
            || (f.StartsWith("package/dist/", StringComparison.Ordinal) && (f.EndsWith(".js", StringComparison.Ordinal) || f.EndsWith(".d.ts", StringComparison.Ordinal) || f.EndsWith(".map", StringComparison.Ordinal)))
            || (f.StartsWith("package/src/", StringComparison.Ordinal) && f.EndsWith(".ts", StringComparison.Ordinal)),
            $"unexpected file in the tarball: {f}"));

        var fresh = Path.Combine(Root, "fresh-npm");
        Directory.CreateDirectory(fresh);
        await File.WriteAllTextAsync(Path.Combine(fresh, "package.json"), """{"name":"fresh","version":"1.0.0","private":true,"type":"module"}""");
        await RunAsync("npm", fresh, ["install", "--no-audit", "--no-fund", "--offline", tarball]);
        var (_, imported) = await RunAsync("node", fresh, ["-e", """
            const m = await import("@lifeline/client");
            if (typeof m.LifelineClient !== "function") { console.error("no LifelineClient export"); process.exit(1); }
            console.log("imported " + Object.keys(m).sort().join(","));
            """, "--input-type=module"]);

        Assert.StartsWith("imported ", imported, StringComparison.Ordinal);
        Assert.Contains("LifelineClient", imported, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(fresh, "node_modules", "@lifeline", "client", "dist", "index.d.ts")));
        AssertSourceMapsResolve(Path.Combine(fresh, "node_modules", "@lifeline", "client"));
    }

    /// <summary>
    /// Every <c>sourceMappingURL</c> of an installed package's dist files names a map that was installed with it, and every
    /// source of every map is there too (a debugger or a bundler finds the TypeScript, not a 404 or a warning).
    /// </summary>
    private static void AssertSourceMapsResolve(string package)
    {
        var dist = Path.Combine(package, "dist");
        var linked = 0;
        foreach (var file in Directory.GetFiles(dist, "*.*", SearchOption.AllDirectories).Where(f => f.EndsWith(".js", StringComparison.Ordinal) || f.EndsWith(".d.ts", StringComparison.Ordinal)))
        {
            var url = File.ReadLines(file).LastOrDefault(l => l.StartsWith("//# sourceMappingURL=", StringComparison.Ordinal))?["//# sourceMappingURL=".Length..];
            if (url is null)
            {
                continue;
            }

            var map = Path.Combine(Path.GetDirectoryName(file)!, url);
            Assert.True(File.Exists(map), $"{Path.GetRelativePath(package, file)} names {url}, which the package does not have");
            using var json = JsonDocument.Parse(File.ReadAllText(map));
            foreach (var source in json.RootElement.GetProperty("sources").EnumerateArray().Select(e => e.GetString()!))
            {
                Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(map)!, source)), $"{Path.GetRelativePath(package, map)} maps to {source}, which the package does not have");
            }

            linked++;
        }

        Assert.True(linked > 0, $"no dist file of {package} names a source map");
    }

    [Fact]
    public async Task TheReactTarball_InstallsWithTheClientTarball_AndImportsInAFreshFolder()
    {
        // One version for all: the npm packages carry Directory.Build.props' version, and @lifeline/react asks for exactly
        // that @lifeline/client as a peer (the application's own client instance), never a path of this repository.
        var js = Path.Combine(TestPaths.RepositoryRoot, "clients", "js");
        var react = Path.Combine(TestPaths.RepositoryRoot, "clients", "react");
        using (var client = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(js, "package.json"))))
        using (var hooks = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(react, "package.json"))))
        {
            Assert.Equal(Version, client.RootElement.GetProperty("version").GetString());
            Assert.Equal(Version, hooks.RootElement.GetProperty("version").GetString());
            Assert.Equal(Version, hooks.RootElement.GetProperty("peerDependencies").GetProperty("@lifeline/client").GetString());
            Assert.False(hooks.RootElement.TryGetProperty("dependencies", out var dependencies) && dependencies.TryGetProperty("@lifeline/client", out _), "@lifeline/client must not be a dependency (file:../js would be published)");
        }

        foreach (var folder in new[] { js, react })
        {
            if (!Directory.Exists(Path.Combine(folder, "node_modules")))
            {
                await RunAsync("npm", folder, ["ci", "--prefer-offline", "--no-audit", "--no-fund"]);
            }
        }

        var packs = Path.Combine(Root, "npm-pack-react");
        Directory.CreateDirectory(packs);
        await RunAsync("npm", js, ["pack", "--pack-destination", packs]); // first: the React package builds against clients/js/dist
        await RunAsync("npm", react, ["pack", "--pack-destination", packs]);
        var clientTarball = Path.Combine(packs, $"lifeline-client-{Version}.tgz");
        var reactTarball = Path.Combine(packs, $"lifeline-react-{Version}.tgz");
        var (_, listing) = await RunAsync("tar", packs, ["-tzf", reactTarball]);
        var files = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(f => f.Trim()).ToList();
        Assert.Contains("package/dist/index.js", files);
        Assert.Contains("package/dist/index.d.ts", files);

        var fresh = Path.Combine(Root, "fresh-npm-react");
        Directory.CreateDirectory(fresh);
        await File.WriteAllTextAsync(Path.Combine(fresh, "package.json"), """{"name":"fresh-react","version":"1.0.0","private":true,"type":"module"}""");
        await RunAsync("npm", fresh, ["install", "--no-audit", "--no-fund", "--offline", clientTarball, reactTarball]);
        var (_, imported) = await RunAsync("node", fresh, ["-e", """
            const hooks = await import("@lifeline/react");
            const client = await import("@lifeline/client");
            for (const name of ["LifelineProvider", "useChannel", "usePresence", "useConnectionState", "createChannelStore"]) {
              if (typeof hooks[name] !== "function") { console.error("no " + name + " export"); process.exit(1); }
            }
            if (typeof client.LifelineClient !== "function") { console.error("no LifelineClient export"); process.exit(1); }
            console.log("imported react " + Object.keys(hooks).sort().join(","));
            """, "--input-type=module"]);
        var (_, tree) = await RunAsync("npm", fresh, ["ls", "--all", "--json"]);

        Assert.StartsWith("imported react ", imported, StringComparison.Ordinal);
        Assert.Contains("useChannel", imported, StringComparison.Ordinal);
        // One @lifeline/client in the tree (the application's), and no link into a folder that does not exist.
        Assert.Single(Directory.GetDirectories(Path.Combine(fresh, "node_modules"), "client", SearchOption.AllDirectories), d => Path.GetFileName(Path.GetDirectoryName(d)) == "@lifeline");
        Assert.DoesNotContain("\"missing\"", tree, StringComparison.Ordinal);
        Assert.DoesNotContain("\"invalid\"", tree, StringComparison.Ordinal);
        AssertSourceMapsResolve(Path.Combine(fresh, "node_modules", "@lifeline", "react"));
    }

    /// <summary>A Program.cs for the fresh app: Lifeline on /ws, then the packaged client subscribes, publishes and sees its own delta.</summary>
    private const string FreshAppProgram = """
        using System.Text.Json.Nodes;
        using Lifeline.Client;
        using Lifeline.Server;

        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddLifeline();
        var app = builder.Build();
        app.MapLifeline("/ws");
        await app.StartAsync();

        var url = new Uri(app.Urls.First().Replace("http://", "ws://") + "/ws");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using (var client = new LifelineClient(url))
        {
            await client.ConnectAsync(timeout.Token);
            var channel = client.Channel("room:packages");
            var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            channel.Changed += (_, e) => { if (!e.IsSnapshot) changed.TrySetResult(); };
            await channel.SubscribeAsync(timeout.Token);
            var offset = await channel.PublishAsync(new JsonObject { ["hello"] = "packages" }, timeout.Token);
            await changed.Task.WaitAsync(timeout.Token);
            Console.WriteLine($"exchanged offset={offset} state={channel.GetState().GetRawText()} url={url}");
        }

        await app.StopAsync();
        """;

    private static int FreePort()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

}

/// <summary>Packs the NuGet packages once for <see cref="PackagesTests"/> into a temporary folder feed, with a NuGet.config beside it.</summary>
public sealed class PackagesFixture : IAsyncLifetime
{
    /// <summary>Every package <c>dotnet pack</c> makes.</summary>
    public static readonly string[] Packed = ["Lifeline.Protocol", "Lifeline.Engine", "Lifeline.Server", "Lifeline.Server.Prometheus", "Lifeline.Redis", "Lifeline.Client", "Lifeline.Cli"];

    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(4);

    /// <summary>The temporary folder (its NuGet.config applies to everything below it).</summary>
    public string Root { get; } = Directory.CreateTempSubdirectory("lifeline-packages-").FullName;

    /// <summary>The local folder feed.</summary>
    public string Feed => Path.Combine(Root, "feed");

    /// <summary>The private global packages folder of every restore here.</summary>
    public string PackagesFolder => Path.Combine(Root, "nuget-packages");

    /// <summary>The one version of every package (Directory.Build.props).</summary>
    public string Version { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Feed);
        Version = XDocument.Load(Path.Combine(TestPaths.RepositoryRoot, "Directory.Build.props")).Descendants("Version").Single().Value;

        // The test run built these (the test project references them); pack what was built, touching no build output.
        foreach (var project in Packed)
        {
            await RunAsync("dotnet", TestPaths.RepositoryRoot, ["pack", $"src/{project}/{project}.csproj", "-c", TestPaths.Configuration, "--no-build", "-o", Feed, "-nologo"]);
        }

        await File.WriteAllTextAsync(Path.Combine(Root, "NuGet.config"), await NuGetConfigAsync());
    }

    public Task DisposeAsync()
    {
        Directory.Delete(Root, recursive: true);
        return Task.CompletedTask;
    }

    private async Task<string> NuGetConfigAsync()
    {
        var global = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var sources = new StringBuilder();
        sources.AppendLine($"""    <add key="lifeline-feed" value="{Feed}" />""");
        sources.AppendLine($"""    <add key="machine-cache" value="{global}" />""");
        var online = await NuGetOrgAnswersAsync();
        if (online)
        {
            sources.AppendLine("""    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />""");
        }

        // Lifeline.* only from the feed just packed; everything else from the machine's cache (and nuget.org when it answers).
        return $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config><add key="globalPackagesFolder" value="{PackagesFolder}" /></config>
              <packageSources>
                <clear />
            {sources}  </packageSources>
              <packageSourceMapping>
                <packageSource key="lifeline-feed"><package pattern="Lifeline.*" /></packageSource>
                <packageSource key="machine-cache"><package pattern="*" /></packageSource>
                {(online ? """<packageSource key="nuget.org"><package pattern="*" /></packageSource>""" : "")}
              </packageSourceMapping>
            </configuration>
            """;
    }

    private static async Task<bool> NuGetOrgAnswersAsync()
    {
        // LIFELINE_TEST_OFFLINE=1 proves the offline path on a machine that is online.
        if (Environment.GetEnvironmentVariable("LIFELINE_TEST_OFFLINE") == "1")
        {
            return false;
        }

        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            using var response = await http.GetAsync(new Uri("https://api.nuget.org/v3/index.json"));
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>Runs a command to completion within <see cref="StepTimeout"/>; fails the test with its output when it fails.</summary>
    public async Task<(int Code, string Stdout)> RunAsync(string file, string directory, string[] args, Dictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["NUGET_PACKAGES"] = PackagesFolder;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        start.Environment["npm_config_cache"] = Environment.GetEnvironmentVariable("npm_config_cache") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".npm");
        foreach (var (name, value) in environment ?? [])
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(StepTimeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish within {StepTimeout.TotalMinutes} min:\n{await stdout}\n{await stderr}");
        }

        var output = await stdout;
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} exited with {process.ExitCode}:\n{output}\n{await stderr}");
        return (process.ExitCode, output);
    }
}
