import type { Clock, TimerHandle } from "./clock.js";
import { LifelineDisconnectedError, type LifelineError } from "./errors.js";
import type { TransportKind } from "./httpSocket.js";
import { DEFAULT_PROBE_TIMEOUT_MS, type Initiator } from "./options.js";
import type { WebSocketLike } from "./socket.js";

/** One connection (attempt) of a client: its socket, its timers, and what its token and liveness probe are doing. */
export interface Connection {
  readonly seq: number;
  readonly controller: AbortController;
  /** The transport of this attempt. */
  readonly transport: TransportKind;
  socket: WebSocketLike | undefined;
  /** The socket opened (for a WebSocket: the upgrade succeeded). */
  opened: boolean;
  welcomed: boolean;
  lastReceivedAt: number;
  watchdogLimitMs: number;
  connectTimer: TimerHandle | undefined;
  watchdogTimer: TimerHandle | undefined;
  errorTimer: TimerHandle | undefined;
  /** The token of this attempt's `hello` is being asked for (the socket is not created yet). */
  awaitingToken: boolean;
  /** The token for `hello`, once known. */
  token: string | undefined;
  /** Client clock time at which the current token expires (from `tokenExpiresInMs`), when known. */
  tokenExpiresAt: number | undefined;
  /** When the next refresh is due; its timer. */
  refreshAt: number | undefined;
  refreshTimer: TimerHandle | undefined;
  /** Refreshes failed in a row (the backoff exponent). */
  refreshFailures: number;
  /** Bumped by each refresh, so that a late answer of an earlier one is ignored. */
  refreshSeq: number;
  /** How long a liveness probe waits for its `pong`: `welcome.heartbeat.timeoutMs`. */
  probeTimeoutMs: number;
  /** The `n` of the liveness probe in flight, and its deadline. */
  probeN: number;
  probeTimer: TimerHandle | undefined;
}

/** A new attempt: no socket, no timers yet. */
export function newConnection(seq: number, controller: AbortController, transport: TransportKind, now: number): Connection {
  return {
    seq,
    controller,
    transport,
    socket: undefined,
    opened: false,
    welcomed: false,
    lastReceivedAt: now,
    watchdogLimitMs: 0,
    connectTimer: undefined,
    watchdogTimer: undefined,
    errorTimer: undefined,
    awaitingToken: false,
    token: undefined,
    tokenExpiresAt: undefined,
    refreshAt: undefined,
    refreshTimer: undefined,
    refreshFailures: 0,
    refreshSeq: 0,
    probeTimeoutMs: DEFAULT_PROBE_TIMEOUT_MS,
    probeN: 0,
    probeTimer: undefined,
  };
}

/** The close code the client sends when it abandons a connection it believes dead (watchdog, timeouts). */
const ABANDON_CODE = 4000;

/** Releases one connection: timers, handlers, socket, signal. */
export function releaseConnection(conn: Connection, clock: Clock, reason: string, code: number = ABANDON_CODE): void {
  for (const timer of [conn.connectTimer, conn.watchdogTimer, conn.errorTimer, conn.refreshTimer, conn.probeTimer]) {
    if (timer !== undefined) clock.clearTimeout(timer);
  }
  conn.connectTimer = conn.watchdogTimer = conn.errorTimer = conn.refreshTimer = conn.probeTimer = undefined;
  conn.refreshSeq++;
  const socket = conn.socket;
  if (socket !== undefined) {
    socket.onopen = socket.onmessage = socket.onerror = null;
    socket.onclose = null;
    if (socket.readyState < 2) {
      try {
        socket.close(code, reason.slice(0, 100));
      } catch {
        // Already closing, or a code the socket refuses: it is abandoned either way.
      }
    }
  }
  conn.controller.abort(new LifelineDisconnectedError(`the connection dropped (${reason})`));
}

/** Why a connection ended, and how the next attempt goes. */
export interface LostInfo {
  readonly reason: string;
  readonly code?: number;
  readonly initiator: Initiator;
  readonly error?: LifelineError;
  /** The next attempt goes at once and is not counted as a retry (a transport fallback or switch). */
  readonly immediate?: boolean;
  /** The attempt did not fail because of its transport (the network went away): the transport ladder is not told. */
  readonly notTransport?: boolean;
  readonly transport?: TransportKind;
}
