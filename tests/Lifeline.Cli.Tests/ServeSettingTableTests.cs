using System.Reflection;
using Lifeline.Cli.Commands;
using Lifeline.Cli.Serve;
using Lifeline.Cli.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace Lifeline.Cli.Tests;

/// <summary>
/// Every setting of <see cref="ServeSettingTable"/> is whole: a key, a default, somewhere to apply, a flag with help
/// text (or none, deliberately: configuration only), and it is in <c>serve --help</c> and in the README's tables. A new
/// setting cannot be half-declared.
/// </summary>
public class ServeSettingTableTests
{
    public static TheoryData<string> Keys => [.. ServeSettingTable.All.Select(s => s.Key)];

    private static ServeSetting Setting(string key) => ServeSettingTable.All.Single(s => s.Key == key);

    [Fact]
    public void EveryEntryIsInTheTable_OnceEach()
    {
        var declared = typeof(ServeSettingTable).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => typeof(ServeSetting).IsAssignableFrom(f.FieldType))
            .Select(f => (ServeSetting)f.GetValue(null)!)
            .ToList();
        Assert.Equal(declared.Count, ServeSettingTable.All.Count);
        Assert.All(declared, d => Assert.Contains(d, ServeSettingTable.All));
        Assert.Equal(ServeSettingTable.All.Count, ServeSettingTable.All.Select(s => s.Key).Distinct(StringComparer.OrdinalIgnoreCase).Count());
        var flags = ServeSettingTable.All.Where(s => s.Flag is not null).Select(s => s.Flag).ToList();
        Assert.Equal(flags.Count, flags.Distinct(StringComparer.Ordinal).Count());

        // The command has exactly the flags of the table, in the table's order (then --config, where settings come from).
        Assert.Equal([.. flags, "--config"], ServeCommand.Create().Command.Options.Where(o => o.Name is not "--help").Select(o => o.Name));
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public void EntryHasAKeyADefaultATargetAndAFlagWithHelp_OrIsConfigurationOnly(string key)
    {
        var setting = Setting(key);
        Assert.Matches("^[A-Z][A-Za-z]+$", setting.Key);
        Assert.Equal($"Lifeline:{key}", setting.ConfigurationKey);
        Assert.Equal($"Lifeline__{key}", setting.EnvironmentVariable);
        Assert.False(string.IsNullOrWhiteSpace(setting.DefaultText), $"{key} has no default text");
        Assert.NotEqual(SettingTargets.None, setting.Targets);
        if (setting.Flag is null)
        {
            Assert.Null(setting.Help); // help without a flag would never be shown
            return;
        }

        Assert.Matches("^--[a-z]+(-[a-z]+)*$", setting.Flag);
        Assert.False(string.IsNullOrWhiteSpace(setting.Description), $"{setting.Flag} has no help text");
        Assert.Contains(setting.DefaultText, setting.Description, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(ServeSetting.DefaultPlaceholder, setting.Description, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public async Task EntryWithAFlag_IsInServeHelp_WithItsHelpText(string key)
    {
        var setting = Setting(key);
        if (setting.Flag is null)
        {
            return;
        }

        using var output = new StringWriter();
        Assert.Equal(0, await LifelineCli.InvokeAsync(["serve", "--help"], output));
        var line = output.ToString().Split('\n').SingleOrDefault(l => l.TrimStart().StartsWith(setting.Flag + " ", StringComparison.Ordinal));
        Assert.True(line is not null, $"serve --help has no line for {setting.Flag}");
        Assert.Contains(setting.Description!, line, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public void EntryIsInTheReadme_WithItsKeyAndDefault(string key)
    {
        var setting = Setting(key);
        var rows = File.ReadAllLines(Path.Combine(TestPaths.RepositoryRoot, "README.md")).Where(l => l.StartsWith("| `", StringComparison.Ordinal)).ToList();
        var first = setting.Flag ?? setting.EnvironmentVariable;
        var row = rows.SingleOrDefault(r => r.StartsWith($"| `{first} ", StringComparison.Ordinal) || r.StartsWith($"| `{first}`", StringComparison.Ordinal));
        Assert.True(row is not null, $"README has no table row for {first}");
        var cells = row.Split(" | ");
        Assert.True(cells[1].Trim() == $"`{setting.DefaultText}`" || cells[1].Trim() == setting.DefaultText, $"README says default {cells[1]} for {first}, the table {setting.DefaultText}");
        Assert.Contains($"`{setting.EnvironmentVariable}`", row, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public void DefaultText_ReadFromConfiguration_IsTheDefault(string key)
    {
        var setting = Setting(key);
        if (setting.DefaultValue is null)
        {
            return; // none: not set
        }

        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection([new KeyValuePair<string, string?>(setting.ConfigurationKey, setting.DefaultText == "off" ? "false" : setting.DefaultText)])
            .Build();
        var errors = new List<string>();
        Assert.True(setting.TryReadConfiguration(configuration.GetSection(ServeSettings.SectionName), errors, out var value), string.Join("; ", errors));
        Assert.Equal(setting.DefaultValue, value);
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public void Flag_IsReadFromTheCommandLine(string key)
    {
        var setting = Setting(key);
        if (setting.Flag is null || setting.DefaultValue is null)
        {
            return;
        }

        var serve = ServeCommand.Create();
        string[] args = setting.DefaultValue is bool ? [setting.Flag] : [setting.Flag, setting.DefaultText];
        var result = serve.Command.Parse(args);
        Assert.Empty(result.Errors);
        var flags = serve.ReadFlags(result);
        Assert.Equal(1, flags.Count);
        Assert.True(flags.TryGet(setting, out var value));
        Assert.Equal(setting.DefaultValue is bool ? true : setting.DefaultValue, value);
    }
}
