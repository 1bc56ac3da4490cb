using Microsoft.Extensions.Logging;

namespace Lifeline.Client;

// Source-generated log messages. Event ids are stable: never reuse or renumber one (tests and tools match on names).
public sealed partial class LifelineClient
{
    internal static partial class Log
    {
        [LoggerMessage(1301, LogLevel.Information, "Client state {OldState} -> {NewState} at {TimestampMs} (reason {Reason}, close code {CloseCode})", EventName = "StateChanged")]
        public static partial void StateChanged(ILogger logger, ClientState oldState, ClientState newState, string reason, int? closeCode, long timestampMs);

        [LoggerMessage(1302, LogLevel.Debug, "Connecting to {Url} (connection {ConnectionNumber}, retry {Retry})", EventName = "Connecting")]
        public static partial void Connecting(ILogger logger, Uri url, long connectionNumber, int retry);

        [LoggerMessage(1303, LogLevel.Information, "Welcome on connection {ConnectionNumber}: server id {ServerConnectionId}, user {User}, resumed {Resumed}, heartbeat {IntervalMs} + {TimeoutMs} ms", EventName = "Welcomed")]
        public static partial void Welcomed(ILogger logger, long connectionNumber, string serverConnectionId, string? user, bool resumed, long intervalMs, long timeoutMs);

        [LoggerMessage(1304, LogLevel.Information, "Connection ended: {Reason} (close code {CloseCode}, reconnect allowed {ShouldReconnect})", EventName = "ConnectionEnded")]
        public static partial void ConnectionEnded(ILogger logger, string reason, int? closeCode, bool shouldReconnect, Exception? exception);

        [LoggerMessage(1305, LogLevel.Information, "Reconnect attempt {Attempt} in {DelayMs} ms after {Reason}", EventName = "ReconnectScheduled")]
        public static partial void ReconnectScheduled(ILogger logger, int attempt, long delayMs, string reason);

        [LoggerMessage(1306, LogLevel.Warning, "The retry policy gave up after {Retries} retries; last failure: {Reason}", EventName = "RetryGaveUp")]
        public static partial void RetryGaveUp(ILogger logger, int retries, string reason);

        [LoggerMessage(1307, LogLevel.Error, "The retry policy threw; the client stops reconnecting", EventName = "RetryPolicyFailed")]
        public static partial void RetryPolicyFailed(ILogger logger, Exception exception);

        [LoggerMessage(1308, LogLevel.Warning, "Nothing received on connection {ConnectionNumber} for {TimeoutMs} ms; aborting it", EventName = "WatchdogFired")]
        public static partial void WatchdogFired(ILogger logger, long connectionNumber, long timeoutMs);

        [LoggerMessage(1309, LogLevel.Warning, "Dropped a malformed message on connection {ConnectionNumber}: {Problem}", EventName = "MalformedMessage")]
        public static partial void MalformedMessage(ILogger logger, long connectionNumber, string problem);

        [LoggerMessage(1310, LogLevel.Error, "An application handler for {EventName} threw", EventName = "HandlerFailed")]
        public static partial void HandlerFailed(ILogger logger, string eventName, Exception exception);

        [LoggerMessage(1311, LogLevel.Warning, "Server error on connection {ConnectionNumber}: {Code} {Message} (request {RequestId})", EventName = "ServerError")]
        public static partial void ServerError(ILogger logger, long connectionNumber, string code, string message, long? requestId);

        [LoggerMessage(1312, LogLevel.Warning, "Gap on channel {Channel}: expected offset {Expected}, received {Received}; subscribing again", EventName = "ChannelGap")]
        public static partial void ChannelGap(ILogger logger, string channel, long expected, long received);

        [LoggerMessage(1313, LogLevel.Debug, "Subscribing to {Channel} again since {Epoch}:{Offset}", EventName = "Resubscribing")]
        public static partial void Resubscribing(ILogger logger, string channel, string? epoch, long? offset);

        [LoggerMessage(1314, LogLevel.Warning, "The server refused the subscription to {Channel}: {Code} {Message}", EventName = "SubscribeRefused")]
        public static partial void SubscribeRefused(ILogger logger, string channel, string? code, string message);

        [LoggerMessage(1315, LogLevel.Debug, "Close handshake on connection {ConnectionNumber} did not complete; aborting", EventName = "CloseHandshakeFailed")]
        public static partial void CloseHandshakeFailed(ILogger logger, long connectionNumber, Exception exception);

        [LoggerMessage(1316, LogLevel.Information, "The server closed connection {ConnectionNumber}: {CloseCode} {Reason}", EventName = "ServerClosed")]
        public static partial void ServerClosed(ILogger logger, long connectionNumber, int? closeCode, string reason);

        [LoggerMessage(1317, LogLevel.Warning, "Dropped a binary frame of {Length} bytes on connection {ConnectionNumber}", EventName = "BinaryFrameDropped")]
        public static partial void BinaryFrameDropped(ILogger logger, long connectionNumber, int length);

        [LoggerMessage(1318, LogLevel.Error, "The receive loop of connection {ConnectionNumber} failed", EventName = "ReceiveLoopFailed")]
        public static partial void ReceiveLoopFailed(ILogger logger, long connectionNumber, Exception exception);

        [LoggerMessage(1319, LogLevel.Debug, "Ignored a message of unknown type on connection {ConnectionNumber}", EventName = "UnknownMessageType")]
        public static partial void UnknownMessageType(ILogger logger, long connectionNumber);

        [LoggerMessage(1320, LogLevel.Error, "Handling a {Type} message on connection {ConnectionNumber} failed", EventName = "MessageHandlingFailed")]
        public static partial void MessageHandlingFailed(ILogger logger, long connectionNumber, string type, Exception exception);

        [LoggerMessage(1321, LogLevel.Warning, "Ignored a second welcome on connection {ConnectionNumber}", EventName = "DuplicateWelcome")]
        public static partial void DuplicateWelcome(ILogger logger, long connectionNumber);

        [LoggerMessage(1322, LogLevel.Debug, "Sent {Count} queued publishes on connection {ConnectionNumber}", EventName = "QueueFlushed")]
        public static partial void QueueFlushed(ILogger logger, long connectionNumber, int count);

        [LoggerMessage(1323, LogLevel.Debug, "Connection {ConnectionNumber} torn down", EventName = "Disconnected")]
        public static partial void Disconnected(ILogger logger, long connectionNumber);

        [LoggerMessage(1324, LogLevel.Error, "The client's supervisor failed", EventName = "SupervisorFailed")]
        public static partial void SupervisorFailed(ILogger logger, Exception exception);

        [LoggerMessage(1325, LogLevel.Critical, "Impossible state move {OldState} -> {NewState} refused", EventName = "ImpossibleStateChange")]
        public static partial void ImpossibleStateChange(ILogger logger, ClientState oldState, ClientState newState);

        // Tokens (issue 14). None of these carries a token: only lifetimes, counts and the failure.
        [LoggerMessage(1326, LogLevel.Warning, "The token provider failed before connection attempt {Retry}; the attempt counts as failed", EventName = "TokenProviderFailed")]
        public static partial void TokenProviderFailed(ILogger logger, int retry, Exception exception);

        [LoggerMessage(1327, LogLevel.Debug, "Token refresh on connection {ConnectionNumber} due in {DueMs} ms (lifetime {LifetimeMs} ms)", EventName = "TokenRefreshScheduled")]
        public static partial void TokenRefreshScheduled(ILogger logger, long connectionNumber, long dueMs, long lifetimeMs);

        [LoggerMessage(1328, LogLevel.Information, "Token refreshed on connection {ConnectionNumber}: it expires in {ExpiresInMs} ms (after {Failures} failed tries)", EventName = "TokenRefreshed")]
        public static partial void TokenRefreshed(ILogger logger, long connectionNumber, long? expiresInMs, int failures);

        [LoggerMessage(1329, LogLevel.Warning, "Token refresh {Failures} on connection {ConnectionNumber} failed (code {Code}); next try in {DelayMs} ms, {RemainingMs} ms before expiry", EventName = "TokenRefreshFailed")]
        public static partial void TokenRefreshFailed(ILogger logger, long connectionNumber, int failures, long delayMs, long remainingMs, string? code, Exception exception);

        [LoggerMessage(1330, LogLevel.Warning, "Token refresh on connection {ConnectionNumber} gave up after {Failures} failed tries (code {Code}), {RemainingMs} ms before expiry; the server will close with 4002", EventName = "TokenRefreshGaveUp")]
        public static partial void TokenRefreshGaveUp(ILogger logger, long connectionNumber, int failures, long remainingMs, string? code, Exception exception);

        [LoggerMessage(1331, LogLevel.Information, "The token of connection {ConnectionNumber} expires in {ExpiresInMs} ms and cannot be refreshed (no TokenProvider); the server will close with 4002 then", EventName = "TokenNotRefreshable")]
        public static partial void TokenNotRefreshable(ILogger logger, long connectionNumber, long expiresInMs);

        [LoggerMessage(1332, LogLevel.Error, "The token refresh loop of connection {ConnectionNumber} failed", EventName = "TokenRefreshLoopFailed")]
        public static partial void TokenRefreshLoopFailed(ILogger logger, long connectionNumber, Exception exception);

        [LoggerMessage(1333, LogLevel.Debug, "An event on channel {Channel} was not sent: {Code}: {Problem}", EventName = "EmitFailed")]
        public static partial void EmitFailed(ILogger logger, string channel, string code, string problem);

        // Issue 15 (network awareness, restart, conditional updates): 1350-1359.
        [LoggerMessage(1350, LogLevel.Debug, "Update of {Channel} conflicted (try {Try}): expected {Epoch}:{Offset}, the channel was at {CurrentEpoch}:{CurrentOffset}; retrying once caught up", EventName = "UpdateConflict")]
        public static partial void UpdateConflict(ILogger logger, string channel, int @try, string epoch, long offset, string? currentEpoch, long? currentOffset);

        [LoggerMessage(1351, LogLevel.Information, "The network became {Availability}", EventName = "NetworkAvailabilityChanged")]
        private static partial void NetworkAvailabilityChangedCore(ILogger logger, string availability);

        public static void NetworkAvailabilityChanged(ILogger logger, bool available) => NetworkAvailabilityChangedCore(logger, available ? "available" : "unavailable");

        [LoggerMessage(1352, LogLevel.Information, "A network address changed (connected {Connected}): probing the connection, or trying at once", EventName = "NetworkAddressChanged")]
        public static partial void NetworkAddressChanged(ILogger logger, bool connected);

        [LoggerMessage(1353, LogLevel.Debug, "Liveness probe ping {N} on connection {ConnectionNumber}; a pong is due within {TimeoutMs} ms", EventName = "ProbeSent")]
        public static partial void ProbeSent(ILogger logger, long connectionNumber, long n, long timeoutMs);

        [LoggerMessage(1354, LogLevel.Debug, "Liveness probe {N} answered on connection {ConnectionNumber}", EventName = "ProbeAnswered")]
        public static partial void ProbeAnswered(ILogger logger, long connectionNumber, long n);

        [LoggerMessage(1355, LogLevel.Warning, "No pong for liveness probe {N} on connection {ConnectionNumber}; aborting it", EventName = "ProbeTimedOut")]
        public static partial void ProbeTimedOut(ILogger logger, long connectionNumber, long n);

        [LoggerMessage(1356, LogLevel.Warning, "Network change notifications are unavailable; the client relies on its timers alone", EventName = "NetworkMonitorUnavailable")]
        public static partial void NetworkMonitorUnavailable(ILogger logger, Exception exception);

        [LoggerMessage(1357, LogLevel.Information, "Reconnecting at once: the network came back during the wait", EventName = "ReconnectWaitCut")]
        public static partial void ReconnectWaitCut(ILogger logger);

        [LoggerMessage(1358, LogLevel.Debug, "Update of {Channel} expecting {Epoch}:{Offset} lost to the delta at offset {DeltaOffset}: retrying at once, without waiting for its conflict reply", EventName = "UpdateSuperseded")]
        public static partial void UpdateSuperseded(ILogger logger, string channel, string epoch, long offset, long deltaOffset);

        [LoggerMessage(1359, LogLevel.Debug, "Update of {Channel} waits up to {WaitMs} ms for another writer's delta first: an update of this channel conflicted {SinceMs} ms ago", EventName = "UpdateYielding")]
        public static partial void UpdateYielding(ILogger logger, string channel, long waitMs, long sinceMs);
    }
}
