namespace Lifeline.Chaos.Tests.Infrastructure;

/// <summary>Paths baked in at build time (see the project file).</summary>
public static class ChaosPaths
{
    public static string CliDll => Metadata("LifelineCliDll");

    public static string AgentDll => Metadata("ChaosAgentDll");

    private static string Metadata(string key) => BuildMetadata.Get(typeof(ChaosPaths).Assembly, key);
}
