import type { Clock } from "./clock.js";
import type { LifelineError } from "./errors.js";
import type { BackoffOptions, RetryPolicy } from "./retry.js";
import type { FetchLike, TransportKind } from "./httpSocket.js";
import type { NetworkEvents } from "./networkEvents.js";
import type { LifelinePersistence } from "./persistence.js";
import type { WebSocketFactory } from "./socket.js";

/** The connection state of a {@link LifelineClient}. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** Who ended a connection: the client (watchdog, timeout, `close()`), the server (close frame), or the network (1006). */
export type Initiator = "client" | "server" | "network";

/** A state change, delivered to {@link LifelineClient.onStateChange} listeners. Immutable. */
export interface StateChange {
  readonly from: ConnectionState;
  readonly to: ConnectionState;
  /**
   * Why: `welcome` / `resumed` (open), a close reason or code name, `watchdog`, `connect_timeout`, `error`,
   * `client_close`, `retries_exhausted`, `offline`, `online`, `probe_timeout` (a liveness probe got no `pong`), `connect`
   * (`client.connect()` after `closed`).
   */
  readonly reason: string;
  /** The close code of the connection that ended, when there was one. */
  readonly code?: number;
  /** The error that ended the attempt, when there was one (a token function that failed, a socket that could not be created). */
  readonly error?: LifelineError;
  /** Who ended the connection (absent for `open`). */
  readonly initiator?: Initiator;
  /** Milliseconds until the next connection attempt (when `to` is `reconnecting`). */
  readonly retryInMs?: number;
  /** The transport of the connection that opened or ended (`websocket`, `http-stream`, `http-poll`). */
  readonly transport?: TransportKind;
  /** Unix ms, from the client's clock. */
  readonly ts: number;
}

/** What a {@link TokenProvider} is asked for. */
export interface TokenRequest {
  /**
   * `connect`: for the `hello` of a connection attempt; `expired`: the same, after the server closed with 4002
   * (`token_expired`), so a cached token must not be handed out again; `refresh`: for a `refresh` on a live connection.
   */
  readonly reason: "connect" | "expired" | "refresh";
}

/**
 * The application's token function: a token, or a promise of one. Called before every connection attempt and for each
 * refresh. Returning nothing (`undefined`, `""`), throwing or rejecting means "no token now": the attempt counts as a
 * failed attempt (backoff, then asked again), a refresh is retried with backoff until the token expires.
 */
export type TokenProvider = (request: TokenRequest) => string | undefined | PromiseLike<string | undefined>;

/** Options of {@link LifelineClient}. Every default is a named constant below. */
export interface LifelineClientOptions {
  /**
   * Auth token sent in `hello.token`: a fixed string, or a {@link TokenProvider} asked before each connection attempt
   * and, when the server says when the token expires (`welcome.tokenExpiresInMs`), for a `refresh` ahead of expiry.
   * A fixed string cannot be renewed: after a 4002 (`token_expired`) the client closes.
   */
  token?: string | TokenProvider;
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
  /** How long an attempt may take from its start (asking the token function, then creating the socket) to `welcome`. The default is {@link DEFAULT_CONNECT_TIMEOUT_MS}. */
  connectTimeoutMs?: number;
  /** Most publishes kept while not connected; more are rejected with `LifelineQueueFullError`. The default is {@link DEFAULT_OFFLINE_QUEUE_LIMIT}. */
  offlineQueueLimit?: number;
  /**
   * The transports the client may use, in the order it falls back (PROTOCOL.md "HTTP transport"): the WebSocket first;
   * the HTTP event stream when the upgrade fails while the HTTP endpoint answers; long polling when the stream delivers
   * no `welcome` in time (a buffering proxy). The default is {@link DEFAULT_TRANSPORTS}. `["websocket"]` turns the
   * fallback off.
   */
  transports?: readonly TransportKind[];
  /** The fetch of the HTTP transport. The default is the global `fetch`. */
  fetch?: FetchLike;
  /** While on an HTTP transport, how often the client tries the WebSocket again in the background. The default is {@link DEFAULT_TRANSPORT_PROBE_INTERVAL_MS}. */
  transportProbeIntervalMs?: number;
  /**
   * Optimistic state: `channel.state` shows this client's pending publishes (queued and in flight) at once, on top of
   * the confirmed state, rebased on every server delta and rolled back when the server refuses one. The default is
   * false: the state changes when the server's delta comes back.
   */
  optimistic?: boolean;
  /**
   * The browser's network and page-lifecycle signals (`offline`, `online`, `visibilitychange`, `pageshow`, `resume`):
   * `offline` abandons the connection at once (`reconnecting`, reason `offline`), `online` starts an attempt at once
   * (cutting any backoff wait short), and a page that wakes up probes its connection with a `ping` (no `pong` within
   * the heartbeat timeout: reconnect). The default listens on `window` and `document` when they exist; `null` turns it
   * off; tests inject their own.
   */
  networkEvents?: NetworkEvents | null;
  /** Sent in `hello.client`. The default is `lifeline-js/<version>`. */
  clientName?: string;
  /** Receives errors the client reports and goes on from (malformed messages, throwing handlers, server `error`s without a request). The default logs with `console.error` when no `onError` listener is registered. */
  onError?: (error: LifelineError) => void;
  /**
   * Keeps each channel's confirmed state, position and pending publishes (with their keys) across page reloads, for
   * example `indexedDbPersistence("my-app")`. Default: none. With it, the first connection attempt waits for the kept
   * state to be loaded; storage errors go to `onError` (a `LifelinePersistenceError`) and the client goes on without it.
   */
  persistence?: LifelinePersistence;
}

/** The default `transports`: the WebSocket, then the HTTP stream, then long polling. */
export const DEFAULT_TRANSPORTS: readonly TransportKind[] = Object.freeze(["websocket", "http-stream", "http-poll"]);
/** The default `transportProbeIntervalMs`: 5 minutes. */
export const DEFAULT_TRANSPORT_PROBE_INTERVAL_MS = 300_000;
/** How long a liveness probe waits for its `pong` when the server's heartbeat names no timeout: 5000 ms. */
export const DEFAULT_PROBE_TIMEOUT_MS = 5000;
/** The default `watchdogSlackMs`: 2000 ms. */
export const DEFAULT_WATCHDOG_SLACK_MS = 2000;
/** The default `connectTimeoutMs`: 15000 ms. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 15000;
/** The default `offlineQueueLimit`: 1000 publishes. */
export const DEFAULT_OFFLINE_QUEUE_LIMIT = 1000;
/** A refresh goes when this fraction of the token's lifetime has passed ({@link refreshDelayMs}). */
export const TOKEN_REFRESH_FRACTION = 0.8;
/** ... and at the latest this long before expiry, for tokens living long enough ({@link refreshDelayMs}). */
export const TOKEN_REFRESH_MARGIN_MS = 30_000;

/**
 * When to refresh a token that expires in `lifetimeMs`: when 80% of the lifetime has passed, and at the latest 30 s
 * before expiry, but never sooner than 30 s into the lifetime (so a short token is refreshed at 80%, not in a loop):
 * `max(min(0.8 L, L - 30 s), min(0.8 L, 30 s))`. 3 s -> 2.4 s, 40 s -> 30 s, 100 s -> 70 s, 10 min -> 8 min.
 */
export function refreshDelayMs(lifetimeMs: number): number {
  const atFraction = lifetimeMs * TOKEN_REFRESH_FRACTION;
  return Math.max(0, Math.max(Math.min(atFraction, lifetimeMs - TOKEN_REFRESH_MARGIN_MS), Math.min(atFraction, TOKEN_REFRESH_MARGIN_MS)));
}

/** After an `error` event, how long to wait for the `close` event before treating the socket as closed (1006). */
export const CLOSE_AFTER_ERROR_MS = 1000;
/** The longest idempotency key the server accepts. */
export const MAX_KEY_LENGTH = 128;
