using System.Reflection;
using Microsoft.Extensions.Logging;

namespace Lifeline.Cli.Tests;

/// <summary>
/// docs/operations.md "Logs": one scheme of event ids across every Lifeline log. Each component has its own block, and
/// every [LoggerMessage] id is unique and inside its component's block.
/// </summary>
public sealed class EventIdSchemeTests
{
    /// <summary>The blocks of docs/operations.md: (assembly, category namespace) -> the ids it may use.</summary>
    private static readonly (string Assembly, string Namespace, int From, int To)[] Blocks =
    [
        ("Lifeline.Server", "Lifeline.Server.Connections", 1, 19),
        ("Lifeline.Server", "Lifeline.Server", 20, 29),
        ("Lifeline.Server", "Lifeline.Server.Channels", 40, 59),
        ("Lifeline.Server", "Lifeline.Server.Messaging", 60, 69),
        ("Lifeline.Engine", "Lifeline.Engine", 1100, 1199),
        ("Lifeline.Redis", "Lifeline.Redis", 1200, 1299),
        ("Lifeline.Client", "Lifeline.Client", 1300, 1399),
        ("lifeline", "Lifeline.Cli", 1400, 1499),
    ];

    [Fact]
    public void Every_event_id_is_unique_and_inside_its_components_block()
    {
        var events = LoggerMessages().ToList();
        Assert.True(events.Count >= 60, $"found only {events.Count} log events: the scan is broken");

        var duplicates = events.GroupBy(e => e.Id).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(e => e.Name))}").ToList();
        Assert.True(duplicates.Count == 0, "event ids used twice: " + string.Join("; ", duplicates));

        var outside = events
            .Where(e => !Blocks.Any(b => b.Assembly == e.Assembly && e.Namespace.StartsWith(b.Namespace, StringComparison.Ordinal) && e.Id >= b.From && e.Id <= b.To))
            .Select(e => $"{e.Assembly} {e.Namespace} {e.Name}={e.Id}")
            .ToList();
        Assert.True(outside.Count == 0, "event ids outside their component's block (docs/operations.md \"Logs\"): " + string.Join("; ", outside));
    }

    [Fact]
    public void Every_server_and_serve_event_is_in_the_docs_with_its_id()
    {
        var docs = File.ReadAllText(Path.Combine(Infrastructure.TestPaths.RepositoryRoot, "docs", "operations.md"));
        var missing = LoggerMessages()
            .Where(e => e.Assembly is "Lifeline.Server" or "lifeline")
            .Where(e => !docs.Contains($"| {e.Id} | `{e.Name}` |", StringComparison.Ordinal))
            .Select(e => $"{e.Name}={e.Id}")
            .ToList();
        Assert.True(missing.Count == 0, "not in docs/operations.md: " + string.Join(", ", missing));
    }

    private static IEnumerable<(string Assembly, string Namespace, string Name, int Id)> LoggerMessages()
    {
        var assemblies = new[] { "Lifeline.Server", "Lifeline.Engine", "Lifeline.Redis", "Lifeline.Client", "lifeline" }.Select(n => Assembly.Load(n));
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;
        foreach (var assembly in assemblies)
        {
            foreach (var type in assembly.GetTypes())
            {
                foreach (var method in type.GetMethods(All))
                {
                    if (method.GetCustomAttribute<LoggerMessageAttribute>() is { } attribute)
                    {
                        var ns = (type.DeclaringType ?? type).Namespace ?? string.Empty;
                        yield return (assembly.GetName().Name!, ns, attribute.EventName ?? method.Name, attribute.EventId);
                    }
                }
            }
        }
    }
}
