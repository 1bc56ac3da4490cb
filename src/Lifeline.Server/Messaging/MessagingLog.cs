using System.Net;
using Lifeline.Server.Connections;
using Microsoft.Extensions.Logging;

namespace Lifeline.Server.Messaging;

/// <summary>
/// Logs of what is sent and never stored (events, user messages, disconnect orders) and of the cluster-wide connection
/// slots behind them: ids 60-69 (docs/operations.md "Logs"), category <c>Lifeline.Server.Connection</c>.
/// </summary>
// SYSLIB1015 (argument not referenced from the message) is the point for At: state only, not text (as ConnectionLog).
#pragma warning disable SYSLIB1015
internal static partial class MessagingLog
{
    [LoggerMessage(60, LogLevel.Warning, "connection {ConnectionId} closed with 1013: the engine could not count its {Scope} remote={RemoteEndPoint}", EventName = "EngineUnavailableAtConnect")]
    public static partial void EngineUnavailableAtConnect(ILogger logger, LogTime At, string connectionId, IPEndPoint? remoteEndPoint, string scope);
}
