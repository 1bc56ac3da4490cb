using System.Text.RegularExpressions;

namespace Lifeline.Cli.Tests;

/// <summary>docs/architecture.md names real files: every <c>*.cs</c> path it mentions exists under src/ or tests/.</summary>
public sealed partial class ArchitectureDocTests
{
    [Fact]
    public void Every_file_the_architecture_doc_names_exists()
    {
        var root = Infrastructure.TestPaths.RepositoryRoot;
        var doc = File.ReadAllText(Path.Combine(root, "docs", "architecture.md"));
        var sources = new[] { "src", "tests" }
            .SelectMany(dir => Directory.GetFiles(Path.Combine(root, dir), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains("/bin/", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .ToList();
        var named = SourcePath().Matches(doc).Select(m => m.Value).Distinct().ToList();

        Assert.True(named.Count >= 20, $"only {named.Count} files named: the pattern is broken");
        var missing = named.Where(n => !sources.Any(s => s.EndsWith("/" + n, StringComparison.Ordinal) || s == n)).ToList();
        Assert.True(missing.Count == 0, "docs/architecture.md names files that do not exist: " + string.Join(", ", missing));
    }

    [GeneratedRegex(@"[A-Za-z][\w./]*\.cs\b")]
    private static partial Regex SourcePath();
}
