using Microsoft.Extensions.Logging;

namespace Lifeline.Cli.Api;

/// <summary>Log events of the server API of <c>lifeline serve</c> (category <see cref="Category"/>). Ids 1410-1419.</summary>
internal static partial class ApiLog
{
    /// <summary>The logger category.</summary>
    public const string Category = "Lifeline.Cli.Api";

    [LoggerMessage(1410, LogLevel.Information, "server API enabled at {Prefix} with {KeyCount} key(s); OpenAPI document at {OpenApi}", EventName = "ApiEnabled")]
    public static partial void Enabled(ILogger logger, string prefix, int keyCount, string openApi);

    [LoggerMessage(1411, LogLevel.Warning, "server API: refused {Method} {Path} from {Remote}: {Reason}", EventName = "ApiUnauthorized")]
    public static partial void Unauthorized(ILogger logger, string method, string path, string? remote, string reason);

    [LoggerMessage(1412, LogLevel.Information, "server API: published to {Channel} at {Epoch}/{Offset} (duplicate {Duplicate})", EventName = "ApiPublished")]
    public static partial void Published(ILogger logger, string channel, string epoch, long offset, bool duplicate);

    [LoggerMessage(1413, LogLevel.Information, "server API: disconnected user {User}: {Closed} connection(s) closed with {Code}", EventName = "ApiDisconnected")]
    public static partial void Disconnected(ILogger logger, string user, int closed, int code);

    [LoggerMessage(1415, LogLevel.Debug, "server API: emitted an event to {Channel}", EventName = "ApiEmitted")]
    public static partial void Emitted(ILogger logger, string channel);

    [LoggerMessage(1416, LogLevel.Information, "server API: sent a message to user {User}: {Delivered} connection(s)", EventName = "ApiSent")]
    public static partial void Sent(ILogger logger, string user, int delivered);

    [LoggerMessage(1414, LogLevel.Debug, "server API: {Method} {Path} refused with {Status} ({Code}): {Detail}", EventName = "ApiRequestRefused")]
    public static partial void Refused(ILogger logger, string method, string path, int status, string code, string detail);
}
