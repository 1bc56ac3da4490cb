namespace Lifeline.Cli.Tests.Infrastructure;

/// <summary>Paths baked in at build time (see the test project file).</summary>
public static class TestPaths
{
    /// <summary>The tool's own build output, <c>src/Lifeline.Cli/bin/{Configuration}/net10.0/lifeline.dll</c>.</summary>
    public static string CliDll => Metadata("LifelineCliDll");

    /// <summary>The sample app's build output, <c>samples/EmbeddedApp/bin/{Configuration}/net10.0/EmbeddedApp.dll</c>.</summary>
    public static string EmbeddedAppDll => Metadata("EmbeddedAppDll");

    /// <summary>The repository root (README.md, docs/).</summary>
    public static string RepositoryRoot => Metadata("RepositoryRoot");

    /// <summary>The build configuration of this test assembly (and of the src projects it references): Release or Debug.</summary>
    public static string Configuration => Metadata("Configuration");

    private static string Metadata(string key) => BuildMetadata.Get(typeof(TestPaths).Assembly, key);
}
