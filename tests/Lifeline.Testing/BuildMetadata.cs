using System.Reflection;

namespace Lifeline.Testing;

/// <summary>
/// Paths a test project bakes in at build time (<c>&lt;AssemblyAttribute Include="System.Reflection.AssemblyMetadataAttribute"&gt;</c>
/// in its project file: the tool's build output, the repository root), read back by key.
/// </summary>
public static class BuildMetadata
{
    /// <summary>The value of the <see cref="AssemblyMetadataAttribute"/> named <paramref name="key"/> on <paramref name="assembly"/>.</summary>
    public static string Get(Assembly assembly, string key) =>
        assembly.GetCustomAttributes<AssemblyMetadataAttribute>().SingleOrDefault(a => a.Key == key)?.Value
        ?? throw new InvalidOperationException($"assembly metadata {key} missing from {assembly.GetName().Name} (see its project file)");
}
