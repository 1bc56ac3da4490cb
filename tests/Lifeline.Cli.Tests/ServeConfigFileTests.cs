using Lifeline.Cli.Commands;
using Lifeline.Cli.Serve;
using Lifeline.Redis;
using Lifeline.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Lifeline.Cli.Tests;

/// <summary>
/// <c>lifeline serve --config FILE</c> (issue 19): the same keys as section <c>Lifeline</c>, layered flag over
/// environment over the file over appsettings.json, and refused at start with the file and the key named.
/// </summary>
[Collection(nameof(EnvironmentCollection))]
public sealed class ServeConfigFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lifeline-config-test-").FullName;
    private readonly List<string> _variables = [];

    [Fact]
    public void FlagOverEnvironmentOverConfigFileOverAppSettings()
    {
        File.WriteAllText(Path.Combine(_dir, "appsettings.json"), """
            {"Lifeline": {"HeartbeatInterval": "9s", "HeartbeatTimeout": "9s", "HandshakeTimeout": "9s", "Path": "/from-appsettings", "MaxMessageSize": "128KiB"}}
            """);
        var file = Write("lifeline.json", """
            {
              // comments and trailing commas are allowed, as in appsettings.json
              "HeartbeatInterval": "7s",
              "HeartbeatTimeout": "7s",
              "handshakeTimeout": "7s",
              "Port": 0,
              "TestEndpoints": true,
              "HistorySize": 42,
              "Redis": null,
            }
            """);
        SetEnvironment("Lifeline__HeartbeatTimeout", "3s");
        SetEnvironment("Lifeline__HeartbeatInterval", "3s");

        var (app, settings) = ServeCommand.BuildApp(["--config", file, "--heartbeat-interval", "2s"], _dir);
        using (app as IDisposable)
        {
            Assert.Equal(TimeSpan.FromSeconds(2), settings.Get(ServeSettingTable.HeartbeatInterval));   // flag
            Assert.Equal(TimeSpan.FromSeconds(3), settings.Get(ServeSettingTable.HeartbeatTimeout));    // environment over the file
            Assert.Equal(TimeSpan.FromSeconds(7), settings.Get(ServeSettingTable.HandshakeTimeout));    // the file (key case ignored) over appsettings.json
            Assert.Equal("/from-appsettings", settings.Get(ServeSettingTable.Path));                    // appsettings.json: the file says nothing
            Assert.Equal(128 * 1024, settings.Get(ServeSettingTable.MaxMessageSize));
            Assert.Equal(0, settings.Get(ServeSettingTable.Port));                                      // a JSON number
            Assert.True(settings.Get(ServeSettingTable.TestEndpoints));                                 // a JSON boolean
            Assert.Equal(42, settings.Get(ServeSettingTable.HistorySize));
            Assert.Null(settings.Get(ServeSettingTable.Redis));                                         // null: unset
            Assert.Equal(TimeSpan.FromSeconds(7), app.Services.GetRequiredService<IOptions<LifelineOptions>>().Value.HandshakeTimeout);
        }
    }

    [Fact]
    public void RedisEngineObject_IsBoundToTheRedisEngineOptions()
    {
        var file = Write("lifeline.json", """{"Redis": "127.0.0.1:1", "RedisEngine": {"KeyPrefix": "tenant1:", "NodeTtl": "00:00:20"}}""");

        var (app, _) = ServeCommand.BuildApp(["--config", file], _dir);
        using (app as IDisposable)
        {
            var options = app.Services.GetRequiredService<IOptions<RedisEngineOptions>>().Value;
            Assert.Equal("tenant1:", options.KeyPrefix);
            Assert.Equal(TimeSpan.FromSeconds(20), options.NodeTtl);
            Assert.Equal("127.0.0.1:1", options.Configuration);
        }
    }

    [Theory]
    [InlineData("""{"Prot": 9000}""", "unknown key 'Prot'")]
    [InlineData("""{"Lifeline": {"Port": 9000}}""", "unknown key 'Lifeline' (write the keys of section Lifeline at the top level of the file)")]
    [InlineData("""{"RedisEngine": {"KeyPrefx": "a:"}}""", "unknown key 'RedisEngine.KeyPrefx'")]
    [InlineData("""{"RedisEngine": "a"}""", "key 'RedisEngine' must be an object (was String)")]
    [InlineData("""{"Port": "ninety"}""", "key 'Port': configuration Lifeline:Port='ninety' is not a whole number")]
    [InlineData("""{"Port": 70000}""", "key 'Port': port must be between 0 and 65535 (was 70000)")]
    [InlineData("""{"Port": {"value": 1}}""", "key 'Port' must be a string, a number or a boolean (was object)")]
    [InlineData("""{"HeartbeatInterval": "soon"}""", "key 'HeartbeatInterval': configuration Lifeline:HeartbeatInterval: ")]
    [InlineData("""{"Auth": "magic"}""", "key 'Auth': configuration Lifeline:Auth='magic'")]
    [InlineData("""{"HistorySize": 0}""", "key 'HistorySize': history size must be at least 1 (was 0)")]
    [InlineData("""{"RedisEngine": {"NodeTtl": "soon"}}""", "key 'RedisEngine':")]
    [InlineData("""{"Port": 9000,}x""", "not valid JSON")]
    [InlineData("""[1, 2]""", "must hold one JSON object whose keys are the settings of section Lifeline (was Array)")]
    public void BadFile_IsRefusedAtStart_NamingTheFileAndTheKey(string json, string expected)
    {
        var file = Write("bad.json", json);

        var ex = Assert.Throws<ServeSettingsException>(() => ServeCommand.BuildApp(["--config", file], _dir));

        Assert.Contains($"--config {file}: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryProblemIsListed_NotOnlyTheFirst()
    {
        var file = Write("bad.json", """{"Prot": 1, "Port": "x", "HistorySize": 0}""");

        var ex = Assert.Throws<ServeSettingsException>(() => ServeCommand.BuildApp(["--config", file], _dir));

        Assert.Equal(3, ex.Message.Split(Environment.NewLine).Length);
    }

    [Fact]
    public async Task MissingFile_ExitsWithBadSettings_AndAClearError()
    {
        var missing = Path.Combine(_dir, "nope.json");
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = await LifelineCli.InvokeAsync(["serve", "--config", missing, "--port", "0"], output, error);

        Assert.Equal(ExitCodes.BadSettings, code);
        Assert.Equal($"lifeline serve: --config {missing}: file not found ({missing})", error.ToString().Trim());
    }

    [Fact]
    public async Task UnknownKey_ExitsWithBadSettings_NamingKeyAndFile()
    {
        var file = Write("lifeline.json", """{"HeartbeatIntervall": "5s"}""");
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = await LifelineCli.InvokeAsync(["serve", "--config", file, "--port", "0"], output, error);

        Assert.Equal(ExitCodes.BadSettings, code);
        Assert.StartsWith($"lifeline serve: --config {file}: unknown key 'HeartbeatIntervall'; known keys: Bind, Port, Path, HeartbeatInterval", error.ToString(), StringComparison.Ordinal);
    }

    public void Dispose()
    {
        foreach (var name in _variables)
        {
            Environment.SetEnvironmentVariable(name, null);
        }

        Directory.Delete(_dir, recursive: true);
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private void SetEnvironment(string name, string value)
    {
        _variables.Add(name);
        Environment.SetEnvironmentVariable(name, value);
    }
}
