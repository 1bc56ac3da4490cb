import type { Clock } from "./clock.js";
import type { LifelineError } from "./errors.js";
import type { BackoffOptions, RetryPolicy } from "./retry.js";
import type { WebSocketFactory } from "./socket.js";

/** The connection state of a {@link LifelineClient}. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** Who ended a connection: the client (watchdog, timeout, `close()`), the server (close frame), or the network (1006). */
export type Initiator = "client" | "server" | "network";

/** A state change, delivered to {@link LifelineClient.onStateChange} listeners. Immutable. */
export interface StateChange {
  readonly from: ConnectionState;
  readonly to: ConnectionState;
  /** Why: `welcome` / `resumed` (open), a close reason or code name, `watchdog`, `connect_timeout`, `error`, `client_close`, `retries_exhausted`. */
  readonly reason: string;
  /** The close code of the connection that ended, when there was one. */
  readonly code?: number;
  /** Who ended the connection (absent for `open`). */
  readonly initiator?: Initiator;
  /** Milliseconds until the next connection attempt (when `to` is `reconnecting`). */
  readonly retryInMs?: number;
  /** Unix ms, from the client's clock. */
  readonly ts: number;
}

/** Options of {@link LifelineClient}. Every default is a named constant below. */
export interface LifelineClientOptions {
  /** Auth token sent in `hello.token`; a function is called before each connection attempt. */
  token?: string | (() => string | undefined);
  /** Time source for every timer. The default is the real clock. */
  clock?: Clock;
  /** Random numbers in [0, 1) for backoff jitter and idempotency keys. The default is `Math.random` (keys use `crypto.getRandomValues` when present). */
  random?: () => number;
  /** Creates the socket of each attempt. The default uses the global `WebSocket`. */
  webSocketFactory?: WebSocketFactory;
  /** Backoff of the default retry policy: `min(capMs, baseMs * 2^k)` with full jitter. Defaults 1000 / 30000 / unlimited. */
  reconnect?: BackoffOptions;
  /** Replaces the default backoff policy (then `reconnect` is ignored). */
  retryPolicy?: RetryPolicy;
  /** Added to `heartbeat.intervalMs + heartbeat.timeoutMs` for the receive watchdog. The default is {@link DEFAULT_WATCHDOG_SLACK_MS}. */
  watchdogSlackMs?: number;
  /** How long an attempt may take from socket creation to `welcome`. The default is {@link DEFAULT_CONNECT_TIMEOUT_MS}. */
  connectTimeoutMs?: number;
  /** Most publishes kept while not connected; more are rejected with `LifelineQueueFullError`. The default is {@link DEFAULT_OFFLINE_QUEUE_LIMIT}. */
  offlineQueueLimit?: number;
  /** Sent in `hello.client`. The default is `lifeline-js/<version>`. */
  clientName?: string;
  /** Receives errors the client reports and goes on from (malformed messages, throwing handlers, server `error`s without a request). The default logs with `console.error` when no `onError` listener is registered. */
  onError?: (error: LifelineError) => void;
}

/** The default `watchdogSlackMs`: 2000 ms. */
export const DEFAULT_WATCHDOG_SLACK_MS = 2000;
/** The default `connectTimeoutMs`: 15000 ms. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 15000;
/** The default `offlineQueueLimit`: 1000 publishes. */
export const DEFAULT_OFFLINE_QUEUE_LIMIT = 1000;
/** After an `error` event, how long to wait for the `close` event before treating the socket as closed (1006). */
export const CLOSE_AFTER_ERROR_MS = 1000;
/** The longest idempotency key the server accepts. */
export const MAX_KEY_LENGTH = 128;
