using System.Reflection;
using Lifeline.Cli.Parsing;
using Lifeline.Cli.Serve;
using Lifeline.Cli.Tests.Infrastructure;
using Lifeline.Protocol;
using Lifeline.Server;
using Microsoft.Extensions.Logging;

namespace Lifeline.Cli.Tests;

/// <summary>The README and docs/ say what the code does: commands, defaults, log events, close reasons.</summary>
public class DocsTests
{
    private static string Read(string relative) => File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, relative));

    [Fact]
    public void Readme_HasTheTwoSetUpCommands()
    {
        var readme = Read("README.md");
        Assert.Contains("\ndotnet run --project src/Lifeline.Cli -- serve\n", readme, StringComparison.Ordinal);
        Assert.Contains("\n./test.sh\n", readme, StringComparison.Ordinal);
        Assert.Contains("docs/protocol.md", readme, StringComparison.Ordinal);
        Assert.Contains("docs/operations.md", readme, StringComparison.Ordinal);
    }

    [Fact]
    public void Readme_OptionsTable_ListsEveryServeOption_WithTheDefaultTheCodeUses()
    {
        var defaults = new Dictionary<string, string>
        {
            ["--bind"] = $"`{ServeSettingTable.Bind.Default}`",
            ["--port"] = $"`{ServeSettingTable.Port.Default}`",
            ["--path"] = $"`{ServeSettingTable.Path.Default}`",
            ["--heartbeat-interval"] = $"`{DurationParser.Format(LifelineOptions.DefaultHeartbeatInterval)}`",
            ["--heartbeat-timeout"] = $"`{DurationParser.Format(LifelineOptions.DefaultHeartbeatTimeout)}`",
            ["--handshake-timeout"] = $"`{DurationParser.Format(LifelineOptions.DefaultHandshakeTimeout)}`",
            ["--max-message-size"] = $"`{SizeParser.Format(LifelineOptions.DefaultMaxMessageSize)}`",
            ["--http-transport"] = $"`{ServeSettingTable.HttpTransport.Default.ToString().ToLowerInvariant()}`",
            ["--listener"] = $"`{ServeSettingTable.Listener.Default.ToString().ToLowerInvariant()}`",
            ["--auth"] = $"`{ServeSettingTable.Auth.Default.ToString().ToLowerInvariant()}`",
            ["--log-format"] = $"`{ServeSettingTable.LogFormat.Default.ToString().ToLowerInvariant()}`",
            ["--test-endpoints"] = "off",
            ["--history-size"] = $"`{Lifeline.Engine.MemoryEngineOptions.DefaultHistorySize}`",
            ["--history-age"] = $"`{DurationParser.Format(TimeSpan.FromSeconds(Lifeline.Engine.MemoryEngineOptions.DefaultHistoryAgeSeconds))}`",
            ["--resume-window"] = $"`{DurationParser.Format(LifelineOptions.DefaultResumeWindow)}`",
            ["--presence-grace"] = $"`{DurationParser.Format(LifelineOptions.DefaultPresenceGracePeriod)}`",
            ["--redis"] = "none",
            ["--jwt-key-file"] = "none",
            ["--jwt-issuer"] = "none",
            ["--jwt-audience"] = "none",
            ["--api-key-file"] = "none",
            ["--config"] = "none",
        };
        Assert.Equal(CommandLineTests.ServeOptionNames.Order(StringComparer.Ordinal), defaults.Keys.Order(StringComparer.Ordinal));

        var rows = Read("README.md").Split('\n').Where(l => l.StartsWith("| `--", StringComparison.Ordinal)).ToList();
        foreach (var (option, expected) in defaults)
        {
            var row = rows.SingleOrDefault(r => r.StartsWith($"| `{option} ", StringComparison.Ordinal) || r.StartsWith($"| `{option}`", StringComparison.Ordinal));
            Assert.True(row is not null, $"README has no table row for {option}");
            var cells = row.Split(" | ");
            Assert.True(cells.Length >= 3 && cells[1].Trim() == expected, $"README row for {option} says default {(cells.Length > 1 ? cells[1] : "?")}, the code uses {expected}");
        }
    }

    [Fact]
    public void Operations_DocumentsEveryLogEvent()
    {
        var operations = Read("docs/operations.md");
        var events = new[] { typeof(LifelineServer).Assembly, typeof(ServeLog).Assembly }
            .SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => m.GetCustomAttribute<LoggerMessageAttribute>())
            .OfType<LoggerMessageAttribute>()
            .ToList();
        Assert.Contains(events, e => e.EventName == "ConnectionOpened");
        foreach (var e in events)
        {
            Assert.False(string.IsNullOrEmpty(e.EventName), $"event {e.EventId} has no name");
            Assert.Contains($"| {e.EventId} | `{e.EventName}` |", operations, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Protocol_NotesOnThisImplementation_NameEveryCloseReasonUsed()
    {
        var protocol = Read("docs/protocol.md");
        var notes = protocol[protocol.IndexOf("## Notes on this implementation", StringComparison.Ordinal)..];
        foreach (var reason in new[]
        {
            "hello_expected", "bad_hello", "unsupported_version", "hello_timeout", CloseCode.HeartbeatTimeout.Reason,
            "slow_consumer", ProtocolConstants.RetryAfterPrefix + "N", CloseCode.UnsupportedData.Reason, CloseCode.InvalidPayload.Reason,
            CloseCode.MessageTooBig.Reason, CloseCode.Unauthorized.Reason, CloseCode.TokenExpired.Reason,
        })
        {
            Assert.Contains($"`{reason}`", notes, StringComparison.Ordinal);
        }

        Assert.Contains("[interval/2, interval]", notes, StringComparison.Ordinal);
        Assert.Contains("min(interval, timeout) / 20, clamped to [10 ms, 1 s]", notes, StringComparison.Ordinal);
    }

    [Fact]
    public void Operations_DeadClientBound_IsComputedFromTheDefaultHeartbeat()
    {
        // interval + timeout + two sweeps + the dead peer's close timeout: 20 s + 5 s + 2 x 250 ms + 100 ms = 25.6 s.
        var interval = LifelineOptions.DefaultHeartbeatInterval;
        var timeout = LifelineOptions.DefaultHeartbeatTimeout;
        var bound = interval + timeout + (2 * Lifeline.Server.Connections.HeartbeatScheduler.SweepPeriod(interval, timeout)) + LifelineOptions.DeadPeerCloseTimeout;
        var operations = Read("docs/operations.md").ReplaceLineEndings(" ");

        Assert.Equal(25.6, bound.TotalSeconds, precision: 3);
        Assert.Contains($"after its last answer: about {bound.TotalSeconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)} s with the defaults", operations, StringComparison.Ordinal);
    }
}
