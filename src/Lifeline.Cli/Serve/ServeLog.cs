using Microsoft.Extensions.Logging;

namespace Lifeline.Cli.Serve;

/// <summary>
/// Log events of <c>lifeline serve</c> itself (category <see cref="Category"/>); connection lifecycle events come
/// from the server (category <c>Lifeline.Server.Connection</c>). Ids are stable; never reuse one.
/// </summary>
internal static partial class ServeLog
{
    /// <summary>The logger category.</summary>
    public const string Category = "Lifeline.Cli.Serve";

    [LoggerMessage(1401, LogLevel.Information, "lifeline serve listening on {Urls} websocket={WebSocketUrls} health={HealthUrls} auth={Auth} heartbeat={HeartbeatInterval}/{HeartbeatTimeout}", EventName = "Listening")]
    public static partial void Listening(ILogger logger, string urls, string webSocketUrls, string healthUrls, string auth, string heartbeatInterval, string heartbeatTimeout);

    [LoggerMessage(1402, LogLevel.Warning, "auth=dev: hello.token is taken as the user id, unchecked. FOR DEVELOPMENT AND TESTS ONLY: never expose this server", EventName = "DevAuthenticator")]
    public static partial void DevAuthenticator(ILogger logger);

    [LoggerMessage(1403, LogLevel.Warning, "test endpoints enabled (POST /_test/pause-pings, /_test/resume-pings). FOR TESTS ONLY", EventName = "TestEndpointsEnabled")]
    public static partial void TestEndpointsEnabled(ILogger logger);

    [LoggerMessage(1404, LogLevel.Information, "stopping: draining {Connections} connections (drain timeout {DrainTimeout})", EventName = "Stopping")]
    public static partial void Stopping(ILogger logger, int connections, string drainTimeout);

    [LoggerMessage(1405, LogLevel.Information, "stopped", EventName = "Stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(1406, LogLevel.Warning, "test endpoint: server pings {Pings}", EventName = "PingsSwitched")]
    public static partial void PingsSwitched(ILogger logger, string pings);
}
