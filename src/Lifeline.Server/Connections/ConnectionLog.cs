using System.Net;
using Microsoft.Extensions.Logging;

namespace Lifeline.Server.Connections;

/// <summary>
/// Lifecycle log events (source-generated, stable ids and names; ids 1-19 of the scheme in docs/operations.md "Log
/// events"). Each transition has its own event carrying the connection id, the user, the remote endpoint and, when
/// closing, code, reason and initiator: the lines operators match on to find where a partition ended and teardown
/// began. Each also carries <c>At</c>, the event's millisecond UTC timestamp on the server's <see cref="TimeProvider"/>,
/// in its structured state only: the text line gets its one timestamp from the logging provider, and a disabled level
/// formats nothing (<see cref="LogTime"/> is a struct formatted on demand).
/// </summary>
// SYSLIB1015 (argument not referenced from the message) is the point for At: state only, not text.
#pragma warning disable SYSLIB1015
internal static partial class ConnectionLog
{
    [LoggerMessage(1, LogLevel.Debug, "connection {ConnectionId} accepted from {RemoteEndPoint}", EventName = "ConnectionAccepted")]
    public static partial void Accepted(ILogger logger, LogTime At, string connectionId, IPEndPoint? remoteEndPoint);

    [LoggerMessage(2, LogLevel.Information, "connection {ConnectionId} open user={UserId} remote={RemoteEndPoint} resumed={Resumed}", EventName = "ConnectionOpened")]
    public static partial void Opened(ILogger logger, LogTime At, string connectionId, string? userId, IPEndPoint? remoteEndPoint, bool resumed);

    [LoggerMessage(3, LogLevel.Information, "connection {ConnectionId} closing user={UserId} remote={RemoteEndPoint} code={CloseCode} reason={Reason} initiator={Initiator}", EventName = "ConnectionClosing")]
    public static partial void Closing(ILogger logger, LogTime At, string connectionId, string? userId, IPEndPoint? remoteEndPoint, int closeCode, string reason, DisconnectInitiator initiator);

    [LoggerMessage(4, LogLevel.Information, "connection {ConnectionId} closed user={UserId} remote={RemoteEndPoint} code={CloseCode} reason={Reason} initiator={Initiator} durationMs={DurationMs}", EventName = "ConnectionClosed")]
    public static partial void Closed(ILogger logger, LogTime At, string connectionId, string? userId, IPEndPoint? remoteEndPoint, int closeCode, string reason, DisconnectInitiator initiator, long durationMs);

    [LoggerMessage(5, LogLevel.Warning, "connection {ConnectionId} heartbeat timeout user={UserId} remote={RemoteEndPoint} ping={Ping}", EventName = "HeartbeatTimeout")]
    public static partial void HeartbeatTimeout(ILogger logger, LogTime At, string connectionId, string? userId, IPEndPoint? remoteEndPoint, long ping);

    [LoggerMessage(6, LogLevel.Warning, "connection {ConnectionId} no hello within the handshake timeout remote={RemoteEndPoint}", EventName = "HelloTimeout")]
    public static partial void HelloTimeout(ILogger logger, LogTime At, string connectionId, IPEndPoint? remoteEndPoint);

    [LoggerMessage(7, LogLevel.Warning, "connection {ConnectionId} bad input remote={RemoteEndPoint} code={CloseCode}: {Problem}", EventName = "BadInput")]
    public static partial void BadInput(ILogger logger, LogTime At, string connectionId, IPEndPoint? remoteEndPoint, int closeCode, string problem);

    [LoggerMessage(8, LogLevel.Warning, "connection {ConnectionId} unauthorized remote={RemoteEndPoint} reason={Reason}", EventName = "Unauthorized")]
    public static partial void Unauthorized(ILogger logger, LogTime At, string connectionId, IPEndPoint? remoteEndPoint, string reason);

    [LoggerMessage(9, LogLevel.Warning, "connection {ConnectionId} slow consumer user={UserId} remote={RemoteEndPoint}: send queue over {Limit} messages", EventName = "SlowConsumer")]
    public static partial void SlowConsumer(ILogger logger, LogTime At, string connectionId, string? userId, IPEndPoint? remoteEndPoint, int limit);

    [LoggerMessage(10, LogLevel.Information, "connection {ConnectionId} aborted with TCP reset remote={RemoteEndPoint}", EventName = "ConnectionReset")]
    public static partial void Reset(ILogger logger, LogTime At, string connectionId, IPEndPoint? remoteEndPoint);

    [LoggerMessage(11, LogLevel.Error, "Connection {ConnectionId}: the {Hook} hook failed", EventName = "HookFailed")]
    public static partial void HookFailed(ILogger logger, Exception exception, string connectionId, string hook);

    [LoggerMessage(12, LogLevel.Error, "Connection {ConnectionId}: the {Hook} hook did not finish within {Timeout}", EventName = "HookTimedOut")]
    public static partial void HookTimedOut(ILogger logger, string connectionId, string hook, TimeSpan timeout);

    [LoggerMessage(13, LogLevel.Error, "Connection {ConnectionId}: teardown failed", EventName = "TeardownFailed")]
    public static partial void TeardownFailed(ILogger logger, Exception exception, string connectionId);

    [LoggerMessage(15, LogLevel.Warning, "connection {ConnectionId} refused: too many connections per {Scope} (limit {Limit}) remote={RemoteEndPoint}", EventName = "TooManyConnections")]
    public static partial void TooManyConnections(ILogger logger, LogTime At, string connectionId, IPEndPoint? remoteEndPoint, string scope, int limit);

    [LoggerMessage(16, LogLevel.Warning, "connection {ConnectionId} closed for abusing the rate limit user={UserId} remote={RemoteEndPoint}", EventName = "RateLimitAbused")]
    public static partial void RateLimitAbused(ILogger logger, LogTime At, string connectionId, string? userId, IPEndPoint? remoteEndPoint);

    [LoggerMessage(17, LogLevel.Error, "Connection {ConnectionId}: a message handler failed", EventName = "HandlerFailed")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, string connectionId);

    [LoggerMessage(18, LogLevel.Information, "connection {ConnectionId} token refresh user={UserId} result={Result} reason={Reason} expiresInMs={ExpiresInMs}", EventName = "TokenRefresh")]
    public static partial void TokenRefresh(ILogger logger, LogTime At, string connectionId, string? userId, string result, string reason, long? expiresInMs);

    [LoggerMessage(19, LogLevel.Warning, "connection {ConnectionId} token expired user={UserId} remote={RemoteEndPoint}", EventName = "TokenExpired")]
    public static partial void TokenExpired(ILogger logger, LogTime At, string connectionId, string? userId, IPEndPoint? remoteEndPoint);

    [LoggerMessage(14, LogLevel.Error, "Connection {ConnectionId}: the authenticator failed", EventName = "AuthenticatorFailed")]
    public static partial void AuthenticatorFailed(ILogger logger, Exception exception, string connectionId);
    }
