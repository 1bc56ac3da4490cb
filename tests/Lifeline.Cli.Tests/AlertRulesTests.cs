using Lifeline.Cli.Tests.Infrastructure;

namespace Lifeline.Cli.Tests;

/// <summary>deploy/prometheus/alerts.yml is valid and its unit tests (alerts.test.yml) pass under <c>promtool test rules</c>.</summary>
public class AlertRulesTests
{
    private static string Dir => Path.Combine(TestPaths.RepositoryRoot, "deploy", "prometheus");

    [Fact]
    public async Task AlertRules_AreValid_AndCoverTheFiveAlerts()
    {
        var promtool = ExternalTool.Require("promtool", "prometheus");
        var (code, stdout, stderr) = await ExternalTool.RunAsync(promtool, null, Dir, "check", "rules", "alerts.yml");
        Assert.True(code == 0, $"promtool check rules: exit {code}{Environment.NewLine}{stdout}{stderr}");
        Assert.Contains("SUCCESS: 5 rules found", stdout, StringComparison.Ordinal);

        var rules = File.ReadAllText(Path.Combine(Dir, "alerts.yml"));
        var tests = File.ReadAllText(Path.Combine(Dir, "alerts.test.yml"));
        foreach (var alert in new[] { "LifelineCloseWaitHigh", "LifelineAbnormalCloseSurge", "LifelineActiveConnectionsDrop", "LifelineSyncLatencyHigh", "LifelineMemoryGrowsWithCloseWait" })
        {
            Assert.Contains($"- alert: {alert}\n", rules, StringComparison.Ordinal);
            // each rule is tested firing (exp_alerts with labels) and not firing (exp_alerts: [])
            var blocks = tests.Split("alertname: " + alert + "\n").Skip(1).Select(b => b.TrimStart()).ToList();
            Assert.Contains(blocks, b => b.StartsWith("exp_alerts: []", StringComparison.Ordinal));
            Assert.Contains(blocks, b => b.StartsWith("exp_alerts:\n", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task AlertRules_UnitTests_Pass()
    {
        var promtool = ExternalTool.Require("promtool", "prometheus");
        var (code, stdout, stderr) = await ExternalTool.RunAsync(promtool, null, Dir, "test", "rules", "alerts.test.yml");
        Assert.True(code == 0, $"promtool test rules: exit {code}{Environment.NewLine}{stdout}{stderr}");
        Assert.Contains("SUCCESS", stdout + stderr, StringComparison.Ordinal);
    }
}
