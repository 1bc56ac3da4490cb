/**
 * @lifeline/client: the browser client of Lifeline, real-time state sync over WebSockets.
 * See README.md for usage and PROTOCOL.md for the wire contract.
 */
export { LifelineClient, type UserMessage } from "./client.js";
export {
  CLOSE_AFTER_ERROR_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_OFFLINE_QUEUE_LIMIT,
  DEFAULT_PROBE_TIMEOUT_MS,
  DEFAULT_TRANSPORT_PROBE_INTERVAL_MS,
  DEFAULT_TRANSPORTS,
  DEFAULT_WATCHDOG_SLACK_MS,
  MAX_KEY_LENGTH,
  refreshDelayMs,
  TOKEN_REFRESH_FRACTION,
  TOKEN_REFRESH_MARGIN_MS,
  type ConnectionState,
  type Initiator,
  type LifelineClientOptions,
  type StateChange,
  type TokenProvider,
  type TokenRequest,
} from "./options.js";
export { LifelineChannel, type ChannelEvent, type ChannelEventListener, type PresenceEvent, type PresenceListener, type PublishOptions, type StateListener } from "./channel.js";
export { systemClock, type Clock, type TimerHandle } from "./clock.js";
export { CloseCodes, closeCodeInfo, parseRetryAfterMs, type CloseCodeInfo } from "./closeCodes.js";
export {
  LifelineClosedError,
  LifelineConflictError,
  LifelineDisconnectedError,
  LifelineError,
  LifelineHandlerError,
  LifelineProtocolError,
  LifelineQueueFullError,
  LifelineRequestError,
  LifelineTokenError,
} from "./errors.js";
export { applyMergePatch, type JsonArray, type JsonObject, type JsonValue } from "./json.js";
export { createMergePatch } from "./mergePatch.js";
export { DEFAULT_UPDATE_RETRIES, type UpdateOptions } from "./update.js";
export { browserNetworkEvents, type NetworkEventHandlers, type NetworkEvents } from "./networkEvents.js";
export {
  backoffWindowMs,
  DEFAULT_BASE_MS,
  DEFAULT_CAP_MS,
  exponentialBackoff,
  type BackoffOptions,
  type RetryContext,
  type RetryPolicy,
} from "./retry.js";
export { type CloseEventLike, type MessageEventLike, type WebSocketFactory, type WebSocketLike } from "./socket.js";
export { httpBaseUrl, SEND_HEADER, type FetchInit, type FetchLike, type FetchResponseLike, type TransportKind } from "./httpSocket.js";
export {
  indexedDbPersistence,
  LifelinePersistenceError,
  PERSIST_INTERVAL_MS,
  PERSISTENCE_VERSION,
  type IndexedDbPersistenceOptions,
  type KeptChannel,
  type KeptLoad,
  type KeptPublish,
  type LifelinePersistence,
} from "./persistence.js";
export { VERSION } from "./version.js";
