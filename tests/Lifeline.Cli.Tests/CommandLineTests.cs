using Lifeline.Cli.Commands;
using Lifeline.Cli.Serve;

namespace Lifeline.Cli.Tests;

public class CommandLineTests
{
    /// <summary>Every option of <c>lifeline serve</c>, as documented in the README.</summary>
    public static readonly string[] ServeOptionNames =
    [
        "--bind", "--port", "--path", "--heartbeat-interval", "--heartbeat-timeout", "--handshake-timeout",
        "--max-message-size", "--http-transport", "--listener", "--auth", "--jwt-key-file", "--jwt-issuer", "--jwt-audience", "--log-format", "--test-endpoints",
        "--history-size", "--history-age", "--resume-window", "--presence-grace", "--redis",
        "--api-key-file", "--config",
    ];

    [Fact]
    public void ServeHasExactlyTheDocumentedOptions_EachWithHelpText()
    {
        var command = ServeCommand.Create().Command;
        var options = command.Options.Where(o => o.Name is not "--help").ToList();
        Assert.Equal(ServeOptionNames.Order(StringComparer.Ordinal), options.Select(o => o.Name).Order(StringComparer.Ordinal));
        Assert.All(options, o => Assert.False(string.IsNullOrWhiteSpace(o.Description), o.Name));
        Assert.False(string.IsNullOrWhiteSpace(command.Description));
    }

    [Fact]
    public void FlagsNotGivenAreNull_SoConfigurationApplies()
    {
        var serve = ServeCommand.Create();
        var flags = serve.ReadFlags(serve.Command.Parse([]));
        Assert.Equal(ServeFlags.None, flags);
    }

    [Fact]
    public void FlagsGivenAreRead()
    {
        var serve = ServeCommand.Create();
        var result = serve.Command.Parse([
            "--bind", "0.0.0.0", "--port", "9000", "--path", "/live",
            "--heartbeat-interval", "500ms", "--heartbeat-timeout", "2s", "--handshake-timeout", "1m",
            "--max-message-size", "1MiB", "--auth", "dev", "--log-format", "json", "--test-endpoints",
        ]);
        Assert.Empty(result.Errors);
        var flags = serve.ReadFlags(result);
        Assert.Equal(
            ServeFlags.None
                .With(ServeSettingTable.Bind, "0.0.0.0")
                .With(ServeSettingTable.Port, 9000)
                .With(ServeSettingTable.Path, "/live")
                .With(ServeSettingTable.HeartbeatInterval, TimeSpan.FromMilliseconds(500))
                .With(ServeSettingTable.HeartbeatTimeout, TimeSpan.FromSeconds(2))
                .With(ServeSettingTable.HandshakeTimeout, TimeSpan.FromMinutes(1))
                .With(ServeSettingTable.MaxMessageSize, 1024 * 1024)
                .With(ServeSettingTable.Auth, AuthMode.Dev)
                .With(ServeSettingTable.LogFormat, LogFormat.Json)
                .With(ServeSettingTable.TestEndpoints, true),
            flags);
    }

    [Theory]
    [InlineData("--heartbeat-interval", "5x", "--heartbeat-interval: '5x' has an unknown unit 'x'")]
    [InlineData("--heartbeat-timeout", "5", "--heartbeat-timeout: '5' has no unit")]
    [InlineData("--handshake-timeout", "0s", "--handshake-timeout: must be longer than zero")]
    [InlineData("--heartbeat-interval", "-1s", "negative")]
    [InlineData("--max-message-size", "64KB", "--max-message-size: '64KB': write binary units, KiB or MiB")]
    [InlineData("--auth", "oauth", "--auth: 'oauth' must be anonymous or dev or jwt")]
    [InlineData("--log-format", "xml", "--log-format: 'xml' must be text or json")]
    [InlineData("--port", "http", "http")]
    public async Task BadFlagValues_ExitNonZero_WithAClearMessage(string option, string value, string expected)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await LifelineCli.InvokeAsync(["serve", option, value], output, error);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SettingsRefusedAtStartUp_ExitWithBadSettings()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await LifelineCli.InvokeAsync(["serve", "--port", "0", "--max-message-size", "100"], output, error);
        Assert.Equal(ExitCodes.BadSettings, code);
        Assert.Contains("MaxMessageSize must be at least 256 bytes", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RootHelp_ExitsZero_AndListsServe()
    {
        using var output = new StringWriter();
        var code = await LifelineCli.InvokeAsync(["--help"], output);
        Assert.Equal(0, code);
        Assert.Contains("serve", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServeHelp_ExitsZero_ListsEveryOption_AndWarnsAboutDevAuthAndTestEndpoints()
    {
        using var output = new StringWriter();
        var code = await LifelineCli.InvokeAsync(["serve", "--help"], output);
        Assert.Equal(0, code);
        var help = output.ToString();
        foreach (var option in ServeOptionNames)
        {
            Assert.Contains(option, help, StringComparison.Ordinal);
        }

        Assert.Contains("FOR DEVELOPMENT AND TESTS ONLY", help, StringComparison.Ordinal);
        Assert.Contains("FOR TESTS ONLY", help, StringComparison.Ordinal);
        Assert.Contains("Default: 20s", help, StringComparison.Ordinal);
        Assert.Contains("Default: 64KiB", help, StringComparison.Ordinal);
    }
}
