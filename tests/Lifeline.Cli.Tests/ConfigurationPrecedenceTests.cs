using Lifeline.Cli.Commands;
using Lifeline.Cli.Serve;
using Lifeline.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lifeline.Cli.Tests;

/// <summary>These tests set process environment variables, so they run alone (not in parallel with anything else).</summary>
[CollectionDefinition(nameof(EnvironmentCollection), DisableParallelization = true)]
public sealed class EnvironmentCollection;

/// <summary>
/// Flag over environment over appsettings.json in the current directory over appsettings.json next to the binary
/// over the default, through the real configuration of the built application.
/// </summary>
[Collection(nameof(EnvironmentCollection))]
public sealed class ConfigurationPrecedenceTests : IDisposable
{
    private readonly string _contentRoot = Directory.CreateTempSubdirectory("lifeline-cli-test-").FullName;
    private readonly string _binaryAppSettings = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
    private readonly List<string> _variables = [];

    [Fact]
    public void FlagOverEnvironmentOverAppSettingsOverDefault()
    {
        File.WriteAllText(_binaryAppSettings, """
            {"Lifeline": {"MaxMessageSize": "128KiB", "HandshakeTimeout": "7s", "Path": "/from-binary-dir"}}
            """);
        File.WriteAllText(Path.Combine(_contentRoot, "appsettings.json"), """
            {"Lifeline": {"HeartbeatInterval": "20s", "HeartbeatTimeout": "9s", "HandshakeTimeout": "00:00:04", "Path": "/live"}}
            """);
        SetEnvironment("Lifeline__HeartbeatInterval", "5s");
        SetEnvironment("Lifeline__HeartbeatTimeout", "00:00:03");
        SetEnvironment("Lifeline__Auth", "dev");
        SetEnvironment("Lifeline__Port", "9000");
        SetEnvironment("Lifeline__DrainTimeout", "40s");

        var (app, settings) = ServeCommand.BuildApp(["--heartbeat-interval", "2s"], _contentRoot);
        using (app as IDisposable)
        {
            Assert.Equal(TimeSpan.FromSeconds(2), settings.Get(ServeSettingTable.HeartbeatInterval));       // flag
            Assert.Equal(TimeSpan.FromSeconds(3), settings.Get(ServeSettingTable.HeartbeatTimeout));        // environment, TimeSpan style
            Assert.Equal(TimeSpan.FromSeconds(4), settings.Get(ServeSettingTable.HandshakeTimeout));        // current directory's appsettings.json
            Assert.Equal("/live", settings.Get(ServeSettingTable.Path));                                    // current directory over binary directory
            Assert.Equal(128 * 1024, settings.Get(ServeSettingTable.MaxMessageSize));                       // binary directory's appsettings.json
            Assert.Equal(AuthMode.Dev, settings.Get(ServeSettingTable.Auth));                               // environment
            Assert.Equal(9000, settings.Get(ServeSettingTable.Port));                                       // environment
            Assert.Equal(LogFormat.Text, settings.Get(ServeSettingTable.LogFormat));                        // default
            Assert.Equal("127.0.0.1", settings.Get(ServeSettingTable.Bind));                                // default

            var options = app.Services.GetRequiredService<IOptions<LifelineOptions>>().Value;
            Assert.Equal(TimeSpan.FromSeconds(2), options.HeartbeatInterval);
            Assert.Equal(TimeSpan.FromSeconds(3), options.HeartbeatTimeout);
            Assert.Equal(TimeSpan.FromSeconds(4), options.HandshakeTimeout);
            Assert.Equal(128 * 1024, options.MaxMessageSize);
            Assert.Equal(TimeSpan.FromSeconds(40), options.DrainTimeout);
            Assert.Equal(TimeSpan.FromSeconds(45), app.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout);
            Assert.IsType<DevTokenAuthenticator>(app.Services.GetRequiredService<ILifelineAuthenticator>());
        }
    }

    [Fact]
    public void DefaultLogLevels_InformationForLifeline_WarningForMicrosoft_OverridableByEnvironment()
    {
        var (app, _) = ServeCommand.BuildApp([], _contentRoot);
        using (app as IDisposable)
        {
            var factory = app.Services.GetRequiredService<ILoggerFactory>();
            Assert.True(factory.CreateLogger("Lifeline.Server.Connection").IsEnabled(LogLevel.Information));
            Assert.False(factory.CreateLogger("Lifeline.Server.Connection").IsEnabled(LogLevel.Debug));
            Assert.False(factory.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Information));
            Assert.True(factory.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Warning));
        }

        SetEnvironment("Logging__LogLevel__Lifeline", "Debug");
        var (debugApp, _) = ServeCommand.BuildApp([], _contentRoot);
        using (debugApp as IDisposable)
        {
            Assert.True(debugApp.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Lifeline.Server.Connection").IsEnabled(LogLevel.Debug));
        }
    }

    [Fact]
    public void BadEnvironmentValue_IsRefusedWithItsName()
    {
        SetEnvironment("Lifeline__HeartbeatInterval", "soon");
        var ex = Assert.Throws<ServeSettingsException>(() => ServeCommand.BuildApp([], _contentRoot));
        Assert.Contains("Lifeline:HeartbeatInterval", ex.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        foreach (var name in _variables)
        {
            Environment.SetEnvironmentVariable(name, null);
        }

        File.Delete(_binaryAppSettings);
        Directory.Delete(_contentRoot, recursive: true);
    }

    private void SetEnvironment(string name, string value)
    {
        _variables.Add(name);
        Environment.SetEnvironmentVariable(name, value);
    }
}
