using Lifeline.Cli.Serve;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Lifeline.Cli.Logging;

/// <summary>
/// The console logging of <c>lifeline serve</c>. Each line carries one timestamp, millisecond UTC
/// (<see cref="TimestampFormat"/>), written by the formatter when the line is logged: in text, at the start of the line
/// (<c>2026-11-28T16:54:22.590Z info: Lifeline.Cli.Serve[1] lifeline serve listening on ...</c>); in JSON, as the
/// <c>Timestamp</c> field (<see cref="JsonLineFormatter"/>). Log messages themselves carry no timestamp; an event's own
/// time (the server's lifecycle events' <c>At</c>) is a field of its state, shown in JSON's <c>State</c>.
/// </summary>
internal static class ConsoleLogging
{
    /// <summary>The timestamp of every console log line: millisecond UTC, ISO 8601.</summary>
    public const string TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";

    /// <summary>Replaces the logging providers with the console, in <paramref name="format"/>.</summary>
    /// <param name="logging">The host's logging.</param>
    /// <param name="format">Text (the default) or JSON lines.</param>
    public static void Configure(ILoggingBuilder logging, LogFormat format)
    {
        logging.ClearProviders();
        if (format == LogFormat.Json)
        {
            logging.AddConsole(o => o.FormatterName = JsonLineFormatter.FormatterName);
            logging.AddConsoleFormatter<JsonLineFormatter, JsonConsoleFormatterOptions>(o =>
            {
                o.TimestampFormat = TimestampFormat;
                o.UseUtcTimestamp = true;
                o.IncludeScopes = false;
            });
        }
        else
        {
            // The framework's simple formatter on one line: "{timestamp} {level}: {category}[{event id}] {message}",
            // an exception's lines joined onto the same line, so that every line starts with its timestamp.
            logging.AddSimpleConsole(o =>
            {
                o.TimestampFormat = TimestampFormat + " ";
                o.UseUtcTimestamp = true;
                o.SingleLine = true;
                o.IncludeScopes = false;
                o.ColorBehavior = LoggerColorBehavior.Default;
            });
        }
    }
}
