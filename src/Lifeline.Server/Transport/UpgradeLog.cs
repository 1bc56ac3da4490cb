using Microsoft.Extensions.Logging;

namespace Lifeline.Server.Transport;

/// <summary>The logs of the WebSocket upgrade, behind <c>MapLifeline</c> and on the lean listener (category <c>Lifeline.Server.Upgrade</c>).</summary>
internal static partial class UpgradeLog
{
    [LoggerMessage(20, LogLevel.Warning, "WebSocket upgrade refused with 403: origin {Origin} is not allowed remote={RemoteAddress}", EventName = "OriginRefused")]
    public static partial void OriginRefused(ILogger logger, string origin, string? remoteAddress);

    [LoggerMessage(21, LogLevel.Warning, "WebSocket upgrade refused with 503: {Max} connections are already waiting for their hello remote={RemoteAddress}", EventName = "TooManyHandshakes")]
    public static partial void TooManyHandshakes(ILogger logger, int max, string? remoteAddress);

    [LoggerMessage(25, LogLevel.Debug, "Lean listener refused an upgrade with {Status}: {Why} remote={RemoteEndPoint}", EventName = "LeanUpgradeRefused")]
    public static partial void LeanUpgradeRefused(ILogger logger, int status, string why, System.Net.EndPoint? remoteEndPoint);

    [LoggerMessage(26, LogLevel.Debug, "Lean listener closed a connection whose request head did not arrive within {Timeout} remote={RemoteEndPoint}", EventName = "LeanHeadTimedOut")]
    public static partial void LeanHeadTimedOut(ILogger logger, TimeSpan timeout, System.Net.EndPoint? remoteEndPoint);
}
