using System.Reflection;

namespace Lifeline.Client.Tests;

/// <summary>
/// The public surface of Lifeline.Client is tracked in src/Lifeline.Client/PublicAPI.txt: a change to it is a
/// deliberate edit of that file, reviewed with the code (STYLE.md 13).
/// </summary>
public class PublicApiTests
{
    [Fact]
    public void PublicApi_MatchesTheTrackedList()
    {
        var actual = Describe(typeof(LifelineClient).Assembly);
        var path = Path.Combine(AppContext.BaseDirectory, "PublicAPI.txt");
        var tracked = File.ReadAllLines(path).Where(l => l.Length > 0).ToList();
        var added = actual.Except(tracked).ToList();
        var removed = tracked.Except(actual).ToList();
        Assert.True(
            added.Count == 0 && removed.Count == 0,
            $"update src/Lifeline.Client/PublicAPI.txt\nadded:\n  {string.Join("\n  ", added)}\nremoved:\n  {string.Join("\n  ", removed)}");
    }

    private static List<string> Describe(Assembly assembly)
    {
        const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var lines = new List<string>();
        foreach (var type in assembly.GetExportedTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            lines.Add($"{Kind(type)} {type.FullName}");
            foreach (var member in type.GetMembers(flags))
            {
                if (member.Name.StartsWith('<') || member is MethodInfo { IsSpecialName: true } || member is Type)
                {
                    continue;
                }

                lines.Add($"  {type.FullName}: {member.MemberType} {member}");
            }
        }

        return [.. lines.Distinct().Order(StringComparer.Ordinal)];
    }

    private static string Kind(Type type) =>
        type.IsEnum ? "enum" : type.IsInterface ? "interface" : type.IsValueType ? "struct" : "class";
}
