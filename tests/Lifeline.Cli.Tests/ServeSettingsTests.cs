using Lifeline.Cli.Serve;
using Lifeline.Server;
using Microsoft.Extensions.Configuration;

namespace Lifeline.Cli.Tests;

public class ServeSettingsTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void DefaultsAreTheDocumentedOnes()
    {
        var s = ServeSettings.Resolve(Config(), ServeFlags.None);
        Assert.Equal("127.0.0.1", s.Get(ServeSettingTable.Bind));
        Assert.Equal(8080, s.Get(ServeSettingTable.Port));
        Assert.Equal("/ws", s.Get(ServeSettingTable.Path));
        Assert.Equal(TimeSpan.FromSeconds(20), s.Get(ServeSettingTable.HeartbeatInterval));
        Assert.Equal(TimeSpan.FromSeconds(5), s.Get(ServeSettingTable.HeartbeatTimeout));
        Assert.Equal(TimeSpan.FromSeconds(10), s.Get(ServeSettingTable.HandshakeTimeout));
        Assert.Equal(64 * 1024, s.Get(ServeSettingTable.MaxMessageSize));
        Assert.Equal(AuthMode.Anonymous, s.Get(ServeSettingTable.Auth));
        Assert.Equal(LogFormat.Text, s.Get(ServeSettingTable.LogFormat));
        Assert.False(s.Get(ServeSettingTable.TestEndpoints));
        Assert.Equal("http://127.0.0.1:8080", s.ListenUrl);

        // The server's own defaults flow through unchanged.
        var fromSettings = new LifelineOptions();
        s.Apply(fromSettings);
        var plain = new LifelineOptions();
        Assert.Equal(plain.HeartbeatInterval, fromSettings.HeartbeatInterval);
        Assert.Equal(plain.HeartbeatTimeout, fromSettings.HeartbeatTimeout);
        Assert.Equal(plain.HandshakeTimeout, fromSettings.HandshakeTimeout);
        Assert.Equal(plain.MaxMessageSize, fromSettings.MaxMessageSize);
        Assert.Equal(plain.DrainTimeout, fromSettings.DrainTimeout);
        Assert.Equal(plain.ShutdownRetrySpread, fromSettings.ShutdownRetrySpread);
        Assert.Equal(plain.CloseHandshakeTimeout, fromSettings.CloseHandshakeTimeout);
        Assert.Equal(plain.DisconnectedHookTimeout, fromSettings.DisconnectedHookTimeout);
        Assert.Equal(plain.ResumeWindow, fromSettings.ResumeWindow);
        Assert.Equal(plain.SendQueueLimit, fromSettings.SendQueueLimit);
        Assert.Equal(plain.PublishBacklogLimit, fromSettings.PublishBacklogLimit);
        Assert.Equal(plain.PublishBacklogTimeout, fromSettings.PublishBacklogTimeout);
        Assert.Equal(plain.MaxFrameSize, fromSettings.MaxFrameSize);
    }

    [Fact]
    public void ConfigurationOverridesDefaults_InBothDurationStyles()
    {
        var s = ServeSettings.Resolve(
            Config(
                ("Lifeline:Bind", "0.0.0.0"),
                ("Lifeline:Port", "9000"),
                ("Lifeline:Path", "/live"),
                ("Lifeline:HeartbeatInterval", "5s"),
                ("Lifeline:HeartbeatTimeout", "00:00:02"),
                ("Lifeline:HandshakeTimeout", "1500ms"),
                ("Lifeline:MaxMessageSize", "1MiB"),
                ("Lifeline:Auth", "dev"),
                ("Lifeline:LogFormat", "JSON"),
                ("Lifeline:TestEndpoints", "true"),
                ("Lifeline:DrainTimeout", "00:00:20"),
                ("Lifeline:SendQueueLimit", "100"),
                ("Lifeline:MaxFrameSize", "128KiB")),
            ServeFlags.None);
        Assert.Equal("0.0.0.0", s.Get(ServeSettingTable.Bind));
        Assert.Equal(9000, s.Get(ServeSettingTable.Port));
        Assert.Equal("/live", s.Get(ServeSettingTable.Path));
        Assert.Equal(TimeSpan.FromSeconds(5), s.Get(ServeSettingTable.HeartbeatInterval));
        Assert.Equal(TimeSpan.FromSeconds(2), s.Get(ServeSettingTable.HeartbeatTimeout));
        Assert.Equal(TimeSpan.FromMilliseconds(1500), s.Get(ServeSettingTable.HandshakeTimeout));
        Assert.Equal(1024 * 1024, s.Get(ServeSettingTable.MaxMessageSize));
        Assert.Equal(AuthMode.Dev, s.Get(ServeSettingTable.Auth));
        Assert.Equal(LogFormat.Json, s.Get(ServeSettingTable.LogFormat));
        Assert.True(s.Get(ServeSettingTable.TestEndpoints));
        Assert.Equal(TimeSpan.FromSeconds(20), s.Get(ServeSettingTable.DrainTimeout));
        Assert.Equal(TimeSpan.FromSeconds(25), s.ShutdownTimeout);
        Assert.Equal(100, s.Get(ServeSettingTable.SendQueueLimit));
        Assert.Equal(128 * 1024, s.Get(ServeSettingTable.MaxFrameSize));
    }

    [Fact]
    public void FlagsOverrideConfiguration()
    {
        var config = Config(
            ("Lifeline:Port", "9000"),
            ("Lifeline:HeartbeatInterval", "5s"),
            ("Lifeline:HeartbeatTimeout", "3s"),
            ("Lifeline:Auth", "dev"),
            ("Lifeline:LogFormat", "json"),
            ("Lifeline:TestEndpoints", "true"));
        var s = ServeSettings.Resolve(config, ServeFlags.None
            .With(ServeSettingTable.Port, 9100)
            .With(ServeSettingTable.HeartbeatInterval, TimeSpan.FromMilliseconds(500))
            .With(ServeSettingTable.Auth, AuthMode.Anonymous)
            .With(ServeSettingTable.LogFormat, LogFormat.Text)
            .With(ServeSettingTable.TestEndpoints, false));
        Assert.Equal(9100, s.Get(ServeSettingTable.Port));
        Assert.Equal(TimeSpan.FromMilliseconds(500), s.Get(ServeSettingTable.HeartbeatInterval));
        Assert.Equal(TimeSpan.FromSeconds(3), s.Get(ServeSettingTable.HeartbeatTimeout)); // no flag: configuration
        Assert.Equal(AuthMode.Anonymous, s.Get(ServeSettingTable.Auth));
        Assert.Equal(LogFormat.Text, s.Get(ServeSettingTable.LogFormat));
        Assert.False(s.Get(ServeSettingTable.TestEndpoints));
    }

    [Fact]
    public void BadConfigurationIsRefusedWithEveryProblemNamed()
    {
        var ex = Assert.Throws<ServeSettingsException>(() => ServeSettings.Resolve(
            Config(
                ("Lifeline:Port", "eighty"),
                ("Lifeline:HeartbeatInterval", "5"),
                ("Lifeline:MaxMessageSize", "64KB"),
                ("Lifeline:Auth", "oauth"),
                ("Lifeline:LogFormat", "xml"),
                ("Lifeline:TestEndpoints", "maybe"),
                ("Lifeline:Path", "ws")),
            ServeFlags.None));
        Assert.Contains("Lifeline:Port='eighty' is not a whole number", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Lifeline:HeartbeatInterval: '5' has no unit", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Lifeline:MaxMessageSize: '64KB'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Lifeline:Auth='oauth' must be anonymous or dev or jwt", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Lifeline:LogFormat='xml' must be text or json", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Lifeline:TestEndpoints='maybe'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("path must start with '/'", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(65536)]
    public void PortOutOfRangeIsRefused(int port)
    {
        var ex = Assert.Throws<ServeSettingsException>(() => ServeSettings.Resolve(Config(), ServeFlags.None.With(ServeSettingTable.Port, port)));
        Assert.Contains("port must be between 0 and 65535", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1", 8080, "http://127.0.0.1:8080")]
    [InlineData("::1", 9000, "http://[::1]:9000")]
    [InlineData("localhost", 0, "http://localhost:0")]
    public void ListenUrl(string bind, int port, string expected) =>
        Assert.Equal(expected, ServeSettings.Defaults.With(ServeSettingTable.Bind, bind).With(ServeSettingTable.Port, port).ListenUrl);
}
