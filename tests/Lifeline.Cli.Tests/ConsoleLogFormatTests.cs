using System.Globalization;
using System.Text.RegularExpressions;
using Lifeline.Cli.Commands;
using Lifeline.Cli.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Lifeline.Cli.Tests;

/// <summary>
/// The console formatter that <c>lifeline serve</c> configures writes one millisecond UTC timestamp per line, at its
/// start, whatever the message says: checked with made-up events (one shaped like a server lifecycle event, with its
/// own <c>At</c> in the state), not with the server's message texts.
/// </summary>
public partial class ConsoleLogFormatTests
{
    private const string At = "2026-01-02T03:04:05.678Z";

    [Fact]
    public void Text_EveryLineStartsWithOneMillisecondUtcTimestamp_AndHasNoOther()
    {
        var before = DateTimeOffset.UtcNow;
        var lines = Format(["serve", "--port", "0"]);
        var after = DateTimeOffset.UtcNow;

        Assert.Equal(3, lines.Count); // one line per event, the exception's stack trace included
        foreach (var line in lines)
        {
            var prefix = TextLine().Match(line);
            Assert.True(prefix.Success, $"not a text log line: {line}");
            Assert.Single(Timestamp().Matches(line));
            var stamp = DateTimeOffset.ParseExact(prefix.Groups["ts"].Value, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
            Assert.InRange(stamp, before.AddMilliseconds(-1), after); // UTC, truncated to the millisecond
        }

        Assert.EndsWith("info: Lifeline.Server.Connection[2] connection c1 open user=alice", lines[0], StringComparison.Ordinal);
        Assert.EndsWith("warn: Lifeline.Cli.Serve[3] a warning", lines[1], StringComparison.Ordinal);
        Assert.Contains("fail: Lifeline.Cli.Serve[9] it failed System.InvalidOperationException: boom", lines[2], StringComparison.Ordinal);
        Assert.DoesNotContain(At, string.Join('\n', lines), StringComparison.Ordinal);
    }

    [Fact]
    public void Json_OneObjectPerLine_WithItsTimestamp_AndTheEventsAtInItsState()
    {
        var lines = Format(["serve", "--port", "0", "--log-format", "json"]);
        Assert.Equal(3, lines.Count);
        Assert.All(lines, l => Assert.Matches("^\\{\"Timestamp\":\"\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z\",", l));
        Assert.Contains($"\"At\":\"{At}\"", lines[0], StringComparison.Ordinal);
    }

    /// <summary>Builds the serve application with <paramref name="args"/> and writes three events through its console formatter.</summary>
    private static List<string> Format(string[] args)
    {
        var (app, _) = ServeCommand.BuildApp(args[1..]);
        using (app as IDisposable)
        {
            var name = app.Services.GetRequiredService<IOptions<ConsoleLoggerOptions>>().Value.FormatterName ?? ConsoleFormatterNames.Simple;
            var formatter = app.Services.GetServices<ConsoleFormatter>().Single(f => f.Name == name);
            using var output = new StringWriter();
            IReadOnlyList<KeyValuePair<string, object?>> opened =
            [
                new("At", At), new("ConnectionId", "c1"), new("UserId", "alice"), new("{OriginalFormat}", "connection {ConnectionId} open user={UserId}"),
            ];
            formatter.Write(new LogEntry<IReadOnlyList<KeyValuePair<string, object?>>>(LogLevel.Information, "Lifeline.Server.Connection", new EventId(2, "ConnectionOpened"), opened, null, (_, _) => "connection c1 open user=alice"), null, output);
            formatter.Write(new LogEntry<string>(LogLevel.Warning, "Lifeline.Cli.Serve", new EventId(3, "Warned"), "a warning", null, (s, _) => s), null, output);
            formatter.Write(new LogEntry<string>(LogLevel.Error, "Lifeline.Cli.Serve", new EventId(9, "Failed"), "it failed", Thrown(), (s, _) => s), null, output);
            return [.. output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries)];
        }
    }

    private static InvalidOperationException Thrown()
    {
        try
        {
            throw new InvalidOperationException("boom");
        }
        catch (InvalidOperationException ex)
        {
            return ex; // with a stack trace of several lines
        }
    }

    [GeneratedRegex(@"^(?<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) (trce|dbug|info|warn|fail|crit): ")]
    private static partial Regex TextLine();

    [GeneratedRegex(@"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?")]
    private static partial Regex Timestamp();
}
