import { LifelineChannel, type PublishRequest } from "./channel.js";
import { systemClock, type Clock, type TimerHandle } from "./clock.js";
import { closeCodeInfo, parseRetryAfterMs } from "./closeCodes.js";
import {
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
import { deepFreeze, isJsonObject, type JsonObject, type JsonValue } from "./json.js";
import { parseFrame, PROTOCOL_VERSION, type ReplyMessage, type ServerMessage, type SubscribedMessage, type WelcomeMessage } from "./protocol.js";
import { backoffWindowMs, DEFAULT_BASE_MS, DEFAULT_CAP_MS, exponentialBackoff, type RetryPolicy } from "./retry.js";
import { defaultFetch, HttpSocket, type FetchLike, type TransportKind } from "./httpSocket.js";
import { TransportLadder } from "./transportLadder.js";
import { defaultWebSocketFactory, WS_OPEN, type CloseEventLike, type MessageEventLike, type WebSocketFactory, type WebSocketLike } from "./socket.js";
import {
  CLOSE_AFTER_ERROR_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_OFFLINE_QUEUE_LIMIT,
  DEFAULT_PROBE_TIMEOUT_MS,
  DEFAULT_TRANSPORT_PROBE_INTERVAL_MS,
  DEFAULT_TRANSPORTS,
  DEFAULT_WATCHDOG_SLACK_MS,
  MAX_KEY_LENGTH,
  refreshDelayMs,
  type ConnectionState,
  type Initiator,
  type LifelineClientOptions,
  type StateChange,
  type TokenProvider,
  type TokenRequest,
} from "./options.js";
import { addEntry, errorText, makeKeyPrefix, nonNegative, positive, type Entry } from "./util.js";
import { browserNetworkEvents, type NetworkEvents } from "./networkEvents.js";
import { abortReason } from "./update.js";
import { PersistenceKeeper } from "./keeper.js";
import { LifelinePersistenceError, type KeptLoad, type LifelinePersistence } from "./persistence.js";
import { VERSION } from "./version.js";

/** The close code the client sends when it abandons a connection it believes dead (watchdog, timeouts). */
const ABANDON_CODE = 4000;
/** The longest delay timers take (2^31 - 1 ms); a longer wait is split, never fired early. */
const MAX_TIMER_MS = 2_147_483_647;

interface Connection {
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

/** A message from the application's server to this user (`SendToUserAsync`): not stored, not replayed. */
export interface UserMessage {
  /** What the server sent (any JSON value, frozen). */
  readonly data: JsonValue;
  /** Server time, Unix ms. */
  readonly ts?: number;
}

interface LostInfo {
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

interface PublishRecord {
  readonly seq: number;
  readonly channel: string;
  readonly patch: JsonObject;
  readonly key: string;
  readonly if: PublishRequest["if"];
  /** Sent at least once: it may have been applied, so aborting it keeps it for the resend. */
  sent: boolean;
  readonly resolve: (offset: number) => void;
  readonly reject: (error: Error) => void;
}

type PendingRequest =
  | { readonly kind: "publish"; readonly record: PublishRecord }
  | {
      readonly kind: "subscribe" | "unsubscribe" | "presence" | "refresh" | "emit";
      readonly channel: string;
      readonly onReply: (message: ReplyMessage | SubscribedMessage) => void;
      readonly onFail: (error: LifelineError) => void;
    };

const ALLOWED: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  connecting: ["open", "reconnecting", "closed"],
  open: ["reconnecting", "closed"],
  reconnecting: ["open", "closed"],
  closed: ["connecting"],
};

/**
 * A Lifeline connection that survives the network: it reconnects with capped exponential
 * backoff and full jitter, detects dead connections with a receive watchdog armed from the
 * server's heartbeat, resumes its session and every channel from its last position, and
 * re-sends publishes made while offline, in order and exactly once.
 *
 * The client starts connecting when constructed. Handlers registered on the client and its
 * channels belong to the client, not to a socket: they fire once per message across any
 * number of reconnects.
 */
export class LifelineClient {
  /** The server's WebSocket URL (for example `wss://example.com/ws`). */
  readonly url: string;

  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly factory: WebSocketFactory;
  private readonly policy: RetryPolicy;
  private readonly watchdogSlackMs: number;
  private readonly connectTimeoutMs: number;
  private readonly offlineQueueLimit: number;
  private readonly clientName: string;
  private readonly token: LifelineClientOptions["token"];
  private readonly refreshBaseMs: number;
  private readonly refreshCapMs: number;
  private readonly errorOption: ((error: LifelineError) => void) | undefined;
  private readonly ladder: TransportLadder;
  private readonly fetchOption: FetchLike | undefined;
  private readonly probeIntervalMs: number;
  private readonly optimistic: boolean;
  private readonly networkEvents: NetworkEvents | null;
  private detachNetwork: (() => void) | undefined;
  /** The browser said `offline` and not `online` since: failed attempts say nothing about the transport. */
  private offline = false;
  private pingSeq = 0;
  /** The promise of `connect()`, settled at the next `open` or `closed`. */
  private openWaiter: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } | undefined;
  private probeTimer: TimerHandle | undefined;
  private probeSocket: WebSocketLike | undefined;
  private lastTransport: TransportKind;

  private current: ConnectionState = "connecting";
  private conn: Connection | undefined;
  private connSeq = 0;
  private lastSignal: AbortSignal;
  private reconnectTimer: TimerHandle | undefined;
  private retryCount = 0;
  private lostAt: number | undefined;
  private sessionToken: string | undefined;
  private userId: string | null = null;
  private wasResumed = false;
  /** The server closed with 4002 since the last welcome: the token function is asked with reason `expired`. */
  private tokenExpired = false;
  /** The one immediate attempt after a 4002 was made since the last welcome. */
  private immediateUsed = false;

  private readonly channels = new Map<string, LifelineChannel<JsonObject>>();
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;
  private readonly outbox = new Map<number, PublishRecord>();
  private publishSeq = 0;
  private readonly keyPrefix: string;
  private keyCounter = 0;
  private readonly dirty = new Set<LifelineChannel<JsonObject>>();
  private reconcileQueued = false;

  private readonly stateListeners = new Set<Entry<(change: StateChange) => void>>();
  private readonly errorListeners = new Set<Entry<(error: LifelineError) => void>>();
  private readonly messageListeners = new Set<Entry<(message: UserMessage) => void>>();
  private readonly keeper: PersistenceKeeper | undefined;

  constructor(url: string, options: LifelineClientOptions = {}) {
    this.url = url;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.factory = options.webSocketFactory ?? defaultWebSocketFactory;
    this.policy = options.retryPolicy ?? exponentialBackoff(options.reconnect ?? {}, this.random);
    this.watchdogSlackMs = nonNegative("watchdogSlackMs", options.watchdogSlackMs ?? DEFAULT_WATCHDOG_SLACK_MS);
    this.connectTimeoutMs = positive("connectTimeoutMs", options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    this.offlineQueueLimit = nonNegative("offlineQueueLimit", options.offlineQueueLimit ?? DEFAULT_OFFLINE_QUEUE_LIMIT);
    this.clientName = options.clientName ?? `lifeline-js/${VERSION}`;
    const token = options.token;
    if (token !== undefined && typeof token !== "string" && typeof token !== "function") {
      throw new TypeError("token must be a string or a function");
    }
    this.token = token;
    this.refreshBaseMs = options.reconnect?.baseMs ?? DEFAULT_BASE_MS;
    this.refreshCapMs = Math.max(this.refreshBaseMs, options.reconnect?.capMs ?? DEFAULT_CAP_MS);
    this.errorOption = options.onError;
    this.ladder = new TransportLadder(url, options.transports ?? DEFAULT_TRANSPORTS);
    this.lastTransport = this.ladder.next;
    this.fetchOption = options.fetch;
    this.probeIntervalMs = positive("transportProbeIntervalMs", options.transportProbeIntervalMs ?? DEFAULT_TRANSPORT_PROBE_INTERVAL_MS);
    this.keyPrefix = makeKeyPrefix(options.random);
    this.optimistic = options.optimistic === true;
    this.networkEvents = options.networkEvents === undefined ? browserNetworkEvents : options.networkEvents;
    this.lastSignal = new AbortController().signal;
    const persistence = options.persistence;
    if (persistence === undefined) {
      this.attachNetwork();
      this.attempt();
    } else {
      this.keeper = new PersistenceKeeper(persistence, this.clock, (name) => this.channels.get(name)?._keep(), (e) => this.report(e));
      this.startFromKept(persistence);
    }
  }

  /** Loads what was kept, starts each channel from it and queues its publishes again (same keys), then connects. */
  private startFromKept(persistence: LifelinePersistence): void {
    const keeper = this.keeper!;
    let loading: Promise<KeptLoad>;
    try {
      loading = Promise.resolve(persistence.load());
    } catch (e) {
      loading = Promise.reject(e);
    }
    loading
      .then(
        (kept) => {
          for (const problem of kept.problems) this.report(problem);
          if (this.current === "closed") return;
          for (const channel of kept.channels) {
            this.channel(channel.channel)._restore(channel);
            for (const p of channel.pending) {
              this._publish(channel.channel, p.patch, { key: p.key, if: p.if, signal: undefined }).catch((e: unknown) => {
                if (!(e instanceof LifelineClosedError)) this.report(e instanceof LifelineError ? e : new LifelinePersistenceError(String(e), { cause: e }));
              });
            }
          }
        },
        (e: unknown) => keeper.fail(e, "reading kept state failed"),
      )
      .finally(() => {
        // close() (or connect() after it) may have come while loading.
        if (this.current === "closed" || this.conn !== undefined || this.reconnectTimer !== undefined) return;
        this.attachNetwork();
        this.attempt();
      });
  }

  // ---- public surface -------------------------------------------------------------------

  /** The connection state. */
  get state(): ConnectionState {
    return this.current;
  }

  /**
   * The AbortSignal of the current connection (attempt). It aborts, with a
   * `LifelineDisconnectedError` as reason, when that connection drops; a new signal comes with
   * each attempt. Pending requests are failed the same way (publishes are re-sent instead).
   */
  get signal(): AbortSignal {
    return this.lastSignal;
  }

  /**
   * The transport of the current connection (or of the attempt in progress): `websocket`, `http-stream` (Server-Sent
   * Events) or `http-poll` (long polling). A switch shows as a state change (`reconnecting`, then `open`) whose
   * `transport` member names the new one.
   */
  get transport(): TransportKind {
    return this.lastTransport;
  }

  /** The session of the last `welcome` (sent as `hello.resume` on reconnect). */
  get session(): string | undefined {
    return this.sessionToken;
  }

  /** The user id the server authenticated, or null (anonymous / not yet welcomed). */
  get user(): string | null {
    return this.userId;
  }

  /** Whether the last `welcome` resumed the previous session. */
  get resumed(): boolean {
    return this.wasResumed;
  }

  /** Publishes waiting for the server's reply (queued offline or in flight). */
  get pendingPublishes(): number {
    return this.outbox.size;
  }

  /** Returns the channel called `name`, the same object for the same name. `T` types its state (unchecked). */
  channel<T = JsonObject>(name: string): LifelineChannel<T> {
    if (typeof name !== "string" || name.length === 0) {
      throw new TypeError("channel(name): name must be a non-empty string");
    }
    let channel = this.channels.get(name);
    if (channel === undefined) {
      channel = new LifelineChannel<JsonObject>(name, this, this.optimistic);
      if (this.keeper !== undefined) {
        const keeper = this.keeper;
        channel._onChange = () => keeper.changed(name);
      }
      this.channels.set(name, channel);
    }
    return channel as unknown as LifelineChannel<T>;
  }

  /** Registers a state-change listener; returns the function that unregisters it. */
  onStateChange(listener: (change: StateChange) => void): () => void {
    return addEntry(this.stateListeners, listener);
  }

  /** Registers an error listener (see {@link LifelineClientOptions.onError}); returns the function that unregisters it. */
  onError(listener: (error: LifelineError) => void): () => void {
    return addEntry(this.errorListeners, listener);
  }

  /**
   * Registers a listener for messages the application's server sends to this user
   * (`SendToUserAsync`): called once per message, only for messages sent while this client is
   * connected (they are not stored or replayed). Returns the function that unregisters it.
   */
  onMessage(listener: (message: UserMessage) => void): () => void {
    return addEntry(this.messageListeners, listener);
  }

  /**
   * Closes the client for good: closes the socket with 1000, stops reconnecting, and rejects
   * pending requests and queued publishes with `LifelineClosedError`. Idempotent.
   */
  close(): void {
    if (this.current === "closed") return;
    this.shutdown({ reason: "client_close", initiator: "client" }, 1000);
  }

  /**
   * Connects again after `close()` or after the client gave up (`maxAttempts`, a close code that is not retried): the
   * same object, with every channel, listener and position. The session resumes when the server still has it, every
   * channel is resubscribed with `since`, and publishes made from now on are queued and flushed on `open`. Resolves
   * at `open`; rejects with `LifelineClosedError` when the client closes first. While connecting, reconnecting or
   * open it starts nothing (never a second attempt in flight) and returns the same promise (resolved when open).
   */
  connect(): Promise<void> {
    if (this.current === "open") return Promise.resolve();
    if (this.openWaiter === undefined) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.openWaiter = { promise, resolve, reject };
    }
    const waiter = this.openWaiter;
    if (this.current === "closed") {
      this.retryCount = 0;
      this.lostAt = undefined;
      this.tokenExpired = false;
      this.immediateUsed = false;
      this.transition("connecting", { reason: "connect", initiator: "client" });
      this.attachNetwork();
      this.attempt();
    }
    return waiter.promise;
  }

  // ---- network awareness ----------------------------------------------------------------

  private attachNetwork(): void {
    if (this.networkEvents === null || this.detachNetwork !== undefined) return;
    try {
      this.detachNetwork = this.networkEvents.subscribe({
        offline: () => this.onNetworkOffline(),
        online: () => this.onNetworkOnline(),
        wake: () => this.onWake(),
      });
    } catch (e) {
      this.report(new LifelineError("internal_error", `attaching the network listeners failed: ${errorText(e)}`, { cause: e }));
    }
  }

  private detachNetworkEvents(): void {
    const detach = this.detachNetwork;
    this.detachNetwork = undefined;
    this.offline = false;
    try {
      detach?.();
    } catch {
      // Nothing to do: the listeners are gone or were never there.
    }
  }

  /** `offline`: the socket cannot be trusted; say so at once instead of waiting for the watchdog. */
  private onNetworkOffline(): void {
    if (this.current === "closed") return;
    this.offline = true;
    const conn = this.conn;
    // Waiting for the next attempt: nothing to abandon.
    if (conn !== undefined) this.connectionLost(conn, { reason: "offline", initiator: "network", notTransport: true });
  }

  /** `online`: an attempt at once, whatever the backoff state; a live connection is probed (the route may have changed). */
  private onNetworkOnline(): void {
    if (this.current === "closed") return;
    this.offline = false;
    this.retryCount = 0;
    const conn = this.conn;
    if (conn === undefined) {
      this.attemptNow();
    } else if (!conn.welcomed) {
      // Started while offline, it may hang until its connect timeout: start over now.
      this.connectionLost(conn, { reason: "online", initiator: "client", immediate: true, notTransport: true });
    } else {
      this.startLivenessProbe(conn);
    }
  }

  /** The page may have slept: probe a live connection; cut a backoff wait short. */
  private onWake(): void {
    if (this.current === "closed") return;
    const conn = this.conn;
    if (conn === undefined) {
      if (!this.offline) this.attemptNow();
    } else if (conn.welcomed) {
      this.startLivenessProbe(conn);
    }
  }

  /** Ends a backoff wait: the next attempt starts now. */
  private attemptNow(): void {
    if (this.conn !== undefined || this.current === "closed") return;
    if (this.reconnectTimer !== undefined) {
      this.clock.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
    this.attempt();
  }

  /** A client `ping`: no `pong` with the same `n` within the heartbeat timeout means the connection is dead. */
  private startLivenessProbe(conn: Connection): void {
    if (conn !== this.conn || conn.probeTimer !== undefined) return;
    const n = ++this.pingSeq;
    conn.probeN = n;
    if (!this.send(conn, { type: "ping", n })) return;
    conn.probeTimer = this.clock.setTimeout(() => {
      conn.probeTimer = undefined;
      if (conn !== this.conn) return;
      this.connectionLost(conn, { reason: "probe_timeout", initiator: "client", immediate: true, notTransport: true });
    }, conn.probeTimeoutMs);
  }

  // ---- connection lifecycle ------------------------------------------------------------

  /**
   * Starts one attempt; there is never more than one connection or attempt at a time. The attempt first gets its
   * token (a token function may answer later), then creates the socket; `connectTimeoutMs` covers both.
   */
  private attempt(): void {
    if (this.current === "closed" || this.conn !== undefined) return;
    const controller = new AbortController();
    const transport = this.ladder.next;
    this.lastTransport = transport;
    const conn: Connection = {
      seq: ++this.connSeq,
      controller,
      transport,
      socket: undefined,
      opened: false,
      welcomed: false,
      lastReceivedAt: this.clock.now(),
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
    this.conn = conn;
    this.lastSignal = controller.signal;
    conn.connectTimer = this.clock.setTimeout(() => this.onConnectTimeout(conn), this.connectTimeoutMs);
    const provider = this.token;
    if (typeof provider !== "function") {
      conn.token = provider;
      this.openSocket(conn);
      return;
    }
    conn.awaitingToken = true;
    this.obtainToken(
      provider,
      this.tokenExpired ? "expired" : "connect",
      (token) => {
        if (conn !== this.conn) return; // abandoned meanwhile (timeout, close())
        conn.awaitingToken = false;
        conn.token = token;
        this.openSocket(conn);
      },
      (error) => {
        if (conn !== this.conn) return;
        conn.awaitingToken = false;
        this.report(error);
        this.connectionLost(conn, { reason: "token_failed", initiator: "client", error });
      },
    );
  }

  /**
   * Asks the token function; `done` and `fail` are called once, synchronously for a synchronous answer. Never throws
   * and never leaves a rejection unhandled; the errors it makes never hold the token.
   */
  private obtainToken(
    provider: TokenProvider,
    reason: TokenRequest["reason"],
    done: (token: string) => void,
    fail: (error: LifelineTokenError) => void,
  ): void {
    const what = reason === "refresh" ? "a token refresh" : "a connection attempt";
    const accept = (value: unknown): void => {
      if (typeof value === "string" && value.length > 0) {
        done(value);
      } else {
        fail(new LifelineTokenError(reason, `the token function returned ${value === "" ? "an empty string" : value === undefined || value === null ? "nothing" : `a ${typeof value}, not a string`} for ${what}`));
      }
    };
    const reject = (e: unknown): void =>
      fail(new LifelineTokenError(reason, `the token function failed for ${what}: ${errorText(e)}`, { cause: e }));
    let result: ReturnType<TokenProvider>;
    try {
      result = provider(Object.freeze({ reason }));
    } catch (e) {
      reject(e);
      return;
    }
    if (result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function") {
      Promise.resolve(result)
        .then(accept, reject)
        .then(undefined, (e: unknown) => this.report(new LifelineError("internal_error", `handling a token failed: ${errorText(e)}`, { cause: e })));
      return;
    }
    accept(result);
  }

  /** Creates the socket of an attempt whose token is known. */
  private openSocket(conn: Connection): void {
    let socket: WebSocketLike;
    try {
      socket = conn.transport === "websocket" ? this.factory(this.url) : new HttpSocket(this.url, conn.transport, this.fetchOption ?? defaultFetch());
    } catch (e) {
      const error = new LifelineError("connect_failed", `could not create the WebSocket: ${errorText(e)}`, { cause: e });
      this.report(error);
      if (e instanceof Error && e.name === "SyntaxError") {
        // An invalid URL never gets better.
        this.shutdown({ reason: "invalid_url", initiator: "client", error });
      } else {
        this.connectionLost(conn, { reason: "connect_failed", initiator: "client", error });
      }
      return;
    }
    conn.socket = socket;
    // Socket handlers only forward to the client, tagged with their connection: events of an
    // abandoned socket are recognised and dropped, so nothing fires twice.
    socket.onopen = () => this.onSocketOpen(conn);
    socket.onmessage = (event: MessageEventLike) => this.onSocketMessage(conn, event);
    socket.onerror = () => this.onSocketError(conn);
    socket.onclose = (event: CloseEventLike) => this.onSocketClose(conn, event);
  }

  private onSocketOpen(conn: Connection): void {
    if (conn !== this.conn) return;
    conn.opened = true;
    this.send(conn, { type: "hello", v: PROTOCOL_VERSION, token: conn.token, resume: this.sessionToken, client: this.clientName });
  }

  private onSocketError(conn: Connection): void {
    if (conn !== this.conn || conn.errorTimer !== undefined) return;
    // Browsers follow `error` with `close`; the close carries the code, so wait for it, but
    // not forever. Either way the connection is handled once: one reconnect, not two.
    conn.errorTimer = this.clock.setTimeout(() => {
      conn.errorTimer = undefined;
      this.connectionLost(conn, { reason: "error", code: 1006, initiator: "network" });
    }, CLOSE_AFTER_ERROR_MS);
  }

  private onSocketClose(conn: Connection, event: CloseEventLike): void {
    if (conn !== this.conn) return;
    const code = typeof event.code === "number" ? event.code : 1006;
    const reason = typeof event.reason === "string" && event.reason.length > 0 ? event.reason : closeCodeInfo(code).name;
    this.connectionLost(conn, { reason, code, initiator: code === 1006 ? "network" : "server" });
  }

  private onConnectTimeout(conn: Connection): void {
    conn.connectTimer = undefined;
    if (conn !== this.conn || conn.welcomed) return;
    if (conn.awaitingToken) {
      // The token function has not answered: the attempt fails like any other; a late answer is ignored.
      const error = new LifelineTokenError(this.tokenExpired ? "expired" : "connect", `the token function did not answer within connectTimeoutMs (${this.connectTimeoutMs} ms)`);
      this.report(error);
      this.connectionLost(conn, { reason: "token_timeout", initiator: "client", error });
      return;
    }
    this.connectionLost(conn, { reason: "connect_timeout", initiator: "client" });
  }

  private checkWatchdog(conn: Connection): void {
    conn.watchdogTimer = undefined;
    if (conn !== this.conn) return;
    const silentMs = this.clock.now() - conn.lastReceivedAt;
    if (silentMs >= conn.watchdogLimitMs) {
      this.connectionLost(conn, { reason: "watchdog", initiator: "client" });
    } else {
      // Received something meanwhile: sleep until the new deadline (one timer, not one per message).
      conn.watchdogTimer = this.clock.setTimeout(() => this.checkWatchdog(conn), conn.watchdogLimitMs - silentMs);
    }
  }

  /**
   * Every way a connection ends comes here, once per connection: tear it down, fail or
   * re-queue what was waiting on it, then reconnect or close depending on the close code
   * and the retry policy.
   */
  private connectionLost(conn: Connection, info: LostInfo): void {
    if (conn !== this.conn) return;
    this.conn = undefined;
    this.teardown(conn, info.reason);
    this.failPending(new LifelineDisconnectedError(`the connection dropped (${info.reason})`));
    if (this.current === "closed") return;

    const codeInfo = info.code === undefined ? undefined : closeCodeInfo(info.code);
    if (codeInfo !== undefined && !codeInfo.shouldReconnect) {
      this.shutdown(info);
      return;
    }
    if (!conn.welcomed && !info.immediate && !info.notTransport && !this.offline && conn.socket !== undefined) {
      const opened = conn.socket instanceof HttpSocket ? conn.socket.responded : conn.opened;
      if (this.ladder.failed({ kind: conn.transport, opened, reason: info.reason })) {
        info = { ...info, immediate: true };
      }
    }
    if (info.immediate) {
      this.reconnectTimer = this.clock.setTimeout(() => {
        this.reconnectTimer = undefined;
        this.attempt();
      }, 0);
      this.transition("reconnecting", { ...info, retryInMs: 0, transport: conn.transport });
      return;
    }
    if (info.code === 4002) {
      // token_expired: only the token function can make a fresh token; a fixed token never gets better.
      if (typeof this.token !== "function") {
        this.shutdown(info);
        return;
      }
      this.tokenExpired = true;
    }
    const now = this.clock.now();
    this.lostAt ??= now;
    let delay: number | null;
    try {
      const context = { retryCount: this.retryCount, elapsedMs: now - this.lostAt, reason: info.reason };
      delay = this.policy.nextRetryDelayMs(info.code === undefined ? context : { ...context, code: info.code });
    } catch (e) {
      this.report(new LifelineError("retry_policy_failed", `the retry policy threw: ${errorText(e)}`, { cause: e }));
      delay = null;
    }
    if (delay === null || !Number.isFinite(delay)) {
      this.shutdown({ ...info, reason: "retries_exhausted" });
      return;
    }
    const retryAfter = info.code === 1001 ? parseRetryAfterMs(info.reason) : undefined;
    // 4002: one attempt at once (with a fresh token), then the usual backoff from its start.
    const immediate = codeInfo?.reconnectImmediately === true && !this.immediateUsed;
    let retryInMs: number;
    if (immediate) {
      this.immediateUsed = true;
      retryInMs = 0;
    } else {
      // The server's hint is a floor; the policy's jitter still spreads the crowd above it.
      retryInMs = Math.max(0, delay) + (retryAfter ?? 0);
      this.retryCount++;
    }
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.attempt();
    }, retryInMs);
    this.transition("reconnecting", { ...info, retryInMs, transport: conn.transport });
  }

  /** Releases one connection: timers, handlers, socket, signal. */
  private teardown(conn: Connection, reason: string, code: number = ABANDON_CODE): void {
    this.stopProbe();
    for (const timer of [conn.connectTimer, conn.watchdogTimer, conn.errorTimer, conn.refreshTimer, conn.probeTimer]) {
      if (timer !== undefined) this.clock.clearTimeout(timer);
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
    for (const channel of this.channels.values()) channel._onDisconnected();
  }

  /** Moves to `closed` for good. */
  private shutdown(info: LostInfo, socketCode?: number): void {
    if (this.reconnectTimer !== undefined) {
      this.clock.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined) this.teardown(conn, info.reason, socketCode);
    const error = new LifelineClosedError(`the client is closed (${info.reason})`);
    this.failPending(error);
    const queued = [...this.outbox.values()];
    this.outbox.clear();
    for (const record of queued) {
      this.channels.get(record.channel)?._pendingDropped(record.seq);
      record.reject(error);
    }
    this.detachNetworkEvents();
    // Settled before the listeners hear of `closed`: a listener that calls connect() starts a new wait.
    const waiter = this.openWaiter;
    this.openWaiter = undefined;
    waiter?.reject(error);
    for (const channel of this.channels.values()) channel._onClientClosed();
    this.transition("closed", info);
  }

  /** Fails the requests waiting on the connection; publishes stay in the outbox to be re-sent. */
  private failPending(error: LifelineError): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const entry of entries) {
      if (entry.kind !== "publish") entry.onFail(error);
    }
  }

  private transition(to: ConnectionState, info: Partial<LostInfo> & { retryInMs?: number }): void {
    const from = this.current;
    if (from === to) return;
    if (!ALLOWED[from].includes(to)) {
      this.report(new LifelineError("internal_error", `impossible state change ${from} -> ${to}`));
      return;
    }
    this.current = to;
    this.emitStateChange(from, to, info);
  }

  private emitStateChange(from: ConnectionState, to: ConnectionState, info: Partial<LostInfo> & { retryInMs?: number }): void {
    const change: StateChange = Object.freeze({
      from,
      to,
      reason: info.reason ?? to,
      ...(info.code === undefined ? {} : { code: info.code }),
      ...(info.initiator === undefined ? {} : { initiator: info.initiator }),
      ...(info.retryInMs === undefined ? {} : { retryInMs: info.retryInMs }),
      ...(info.error === undefined ? {} : { error: info.error }),
      ...(info.transport === undefined ? {} : { transport: info.transport }),
      ts: this.clock.now(),
    });
    for (const entry of [...this.stateListeners]) {
      if (!entry.active) continue;
      try {
        entry.fn(change);
      } catch (e) {
        this._reportHandlerError("state change", e);
      }
    }
  }

  // ---- transport probe ------------------------------------------------------------------

  /** On an HTTP transport, tries the WebSocket again in the background every `transportProbeIntervalMs`. */
  private armProbe(conn: Connection): void {
    this.stopProbe();
    if (!this.ladder.probes) return;
    this.probeTimer = this.clock.setTimeout(() => this.probe(conn), this.probeIntervalMs);
  }

  private probe(conn: Connection): void {
    this.probeTimer = undefined;
    if (conn !== this.conn || !this.isOpen) return;
    let socket: WebSocketLike;
    try {
      socket = this.factory(this.url);
    } catch {
      this.armProbe(conn);
      return;
    }
    this.probeSocket = socket;
    const give = (): void => {
      if (this.probeSocket !== socket) return;
      this.stopProbe();
      this.armProbe(conn);
    };
    socket.onmessage = null;
    socket.onerror = give;
    socket.onclose = give;
    socket.onopen = () => {
      if (this.probeSocket !== socket) return;
      this.stopProbe();
      if (conn !== this.conn) return;
      // The WebSocket gets through again: move to it. The session resumes and every channel resubscribes with its
      // position, so nothing is lost or repeated; publishes in flight are re-sent with their keys.
      this.ladder.switchTo("websocket");
      this.connectionLost(conn, { reason: "transport_switch", initiator: "client", immediate: true });
    };
    this.probeTimer = this.clock.setTimeout(give, this.connectTimeoutMs);
  }

  private stopProbe(): void {
    if (this.probeTimer !== undefined) {
      this.clock.clearTimeout(this.probeTimer);
      this.probeTimer = undefined;
    }
    const socket = this.probeSocket;
    this.probeSocket = undefined;
    if (socket !== undefined) {
      socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
      try {
        socket.close(1000, "probe");
      } catch {
        // Not open yet, or already closed: it is dropped either way.
      }
    }
  }

  // ---- token refresh --------------------------------------------------------------------

  /**
   * The server told when the connection's token expires (welcome, or the reply to a refresh): schedule the next
   * refresh from it (see {@link refreshDelayMs}). Only a token function can give a new token; with a fixed one the
   * server closes with 4002 at expiry.
   */
  private tokenRenewed(conn: Connection, expiresInMs: number): void {
    if (conn.refreshTimer !== undefined) {
      this.clock.clearTimeout(conn.refreshTimer);
      conn.refreshTimer = undefined;
    }
    const now = this.clock.now();
    conn.tokenExpiresAt = now + expiresInMs;
    conn.refreshFailures = 0;
    if (typeof this.token !== "function") return;
    this.armRefresh(conn, now + refreshDelayMs(expiresInMs));
  }

  private armRefresh(conn: Connection, at: number): void {
    conn.refreshAt = at;
    conn.refreshTimer = this.clock.setTimeout(() => this.onRefreshTimer(conn), Math.min(MAX_TIMER_MS, Math.max(0, at - this.clock.now())));
  }

  private onRefreshTimer(conn: Connection): void {
    conn.refreshTimer = undefined;
    if (conn !== this.conn || !this.isOpen || conn.refreshAt === undefined) return;
    if (conn.refreshAt > this.clock.now()) {
      this.armRefresh(conn, conn.refreshAt); // a wait longer than a timer can take
      return;
    }
    const provider = this.token;
    if (typeof provider !== "function") return;
    const seq = ++conn.refreshSeq;
    const current = () => conn === this.conn && seq === conn.refreshSeq && this.isOpen;
    this.obtainToken(
      provider,
      "refresh",
      (token) => {
        if (!current()) return;
        this.request(
          {
            kind: "refresh",
            channel: "",
            onReply: (message) => {
              if (!current()) return;
              const expiresInMs = message.type === "reply" ? message.tokenExpiresInMs : undefined;
              if (expiresInMs !== undefined) {
                this.tokenRenewed(conn, expiresInMs);
              } else {
                // Accepted, but the server names no expiry: nothing left to schedule.
                conn.tokenExpiresAt = conn.refreshAt = undefined;
                conn.refreshFailures = 0;
              }
            },
            onFail: (error) => {
              // A dropped connection ends its refreshes; the next welcome starts over.
              if (error instanceof LifelineDisconnectedError || error instanceof LifelineClosedError || !current()) return;
              this.refreshFailed(conn, new LifelineRequestError(error.code, `token refresh refused: ${error.message}`));
            },
          },
          { type: "refresh", token },
        );
      },
      (error) => {
        if (current()) this.refreshFailed(conn, error);
      },
    );
  }

  /** A refresh failed: report it and retry with backoff while the token is still valid (after that the server closes with 4002). */
  private refreshFailed(conn: Connection, error: LifelineError): void {
    this.report(error);
    const window = backoffWindowMs(conn.refreshFailures, this.refreshBaseMs, this.refreshCapMs);
    conn.refreshFailures++;
    const r = this.random();
    // Half the window at least: a failing provider is not asked in a tight loop.
    const delay = Math.floor(window * (0.5 + 0.5 * (r >= 0 && r < 1 ? r : 0)));
    const at = this.clock.now() + delay;
    if (conn.tokenExpiresAt !== undefined && at >= conn.tokenExpiresAt) {
      conn.refreshAt = undefined;
      return;
    }
    this.armRefresh(conn, at);
  }

  // ---- receiving ------------------------------------------------------------------------

  private onSocketMessage(conn: Connection, event: MessageEventLike): void {
    if (conn !== this.conn) return;
    conn.lastReceivedAt = this.clock.now();
    const data = event.data;
    if (typeof data !== "string") {
      this.report(new LifelineProtocolError("binary frame received; Lifeline uses text frames only", "<binary>"));
      return;
    }
    for (const line of parseFrame(data)) {
      // A handler may have closed the client or dropped the connection: stop at once.
      if (conn !== this.conn) return;
      if (!line.ok) {
        this.report(new LifelineProtocolError(`malformed message dropped: ${line.error}`, line.raw));
        continue;
      }
      try {
        this.handleMessage(conn, line.message);
      } catch (e) {
        this.report(new LifelineError("internal_error", `handling a ${line.message.type} message failed: ${errorText(e)}`, { cause: e }));
      }
    }
  }

  private handleMessage(conn: Connection, message: ServerMessage): void {
    switch (message.type) {
      case "welcome":
        this.onWelcome(conn, message);
        return;
      case "ping":
        // Answered from the message loop: proves the application is alive, not just TCP.
        this.send(conn, { type: "pong", n: message.n });
        return;
      case "pong":
        if (conn.probeTimer !== undefined && message.n === conn.probeN) {
          this.clock.clearTimeout(conn.probeTimer);
          conn.probeTimer = undefined;
        }
        return;
      case "other":
        return;
      case "subscribed": {
        const entry = this.takePending(message.id);
        if (entry !== undefined && entry.kind !== "publish") {
          entry.onReply(message);
        }
        return;
      }
      case "snapshot":
        this.channels.get(message.channel)?._onSnapshot(message);
        return;
      case "delta": {
        const channel = this.channels.get(message.channel);
        if (channel !== undefined && channel._onDelta(message) === "gap" && channel._wire === "subscribed" && this.isOpen) {
          // Offsets are missing: ask for them again from where we are.
          channel._resyncing = true;
          this.sendSubscribe(channel);
        }
        return;
      }
      case "presence":
        this.channels.get(message.channel)?._onPresenceEvent(message);
        return;
      case "event":
        this.channels.get(message.channel)?._onEvent(message);
        return;
      case "message":
        this.emitUserMessage(Object.freeze({ data: deepFreeze(message.data), ...(message.ts === undefined ? {} : { ts: message.ts }) }));
        return;
      case "reply":
        this.onReply(message);
        return;
      case "error": {
        const error = new LifelineRequestError(message.code, message.message);
        const entry = message.id === undefined ? undefined : this.takePending(message.id);
        if (entry === undefined) {
          this.report(error);
        } else {
          this.failRequest(entry, error);
        }
        return;
      }
    }
  }

  private onWelcome(conn: Connection, message: WelcomeMessage): void {
    if (conn.welcomed) {
      this.report(new LifelineProtocolError("second welcome on one connection ignored", JSON.stringify(message)));
      return;
    }
    conn.welcomed = true;
    if (conn.connectTimer !== undefined) {
      this.clock.clearTimeout(conn.connectTimer);
      conn.connectTimer = undefined;
    }
    this.sessionToken = message.session;
    this.userId = typeof message.user === "string" ? message.user : null;
    this.wasResumed = message.resumed === true;
    this.retryCount = 0;
    this.lostAt = undefined;
    this.tokenExpired = false;
    this.immediateUsed = false;
    if (message.tokenExpiresInMs !== undefined) this.tokenRenewed(conn, message.tokenExpiresInMs);
    const { intervalMs, timeoutMs } = message.heartbeat;
    if (timeoutMs > 0) conn.probeTimeoutMs = timeoutMs;
    if (intervalMs > 0) {
      conn.watchdogLimitMs = intervalMs + timeoutMs + this.watchdogSlackMs;
      conn.watchdogTimer = this.clock.setTimeout(() => this.checkWatchdog(conn), conn.watchdogLimitMs);
    }

    // PROTOCOL.md "Reconnection": resubscribe every channel from its position, then flush the
    // publishes queued offline in order, with their keys. The state is already open for this,
    // but listeners hear of it only afterwards, so a publish they make goes after the queue.
    const from = this.current;
    this.current = "open";
    for (const channel of this.channels.values()) {
      if (conn !== this.conn) return;
      if (channel._wanted && channel._wire === "none") this.sendSubscribe(channel);
    }
    for (const record of [...this.outbox.values()]) {
      if (conn !== this.conn) return;
      this.sendPublish(record);
    }
    if (conn !== this.conn) return;
    this.ladder.welcomed(conn.transport);
    this.armProbe(conn);
    this.emitStateChange(from, "open", { reason: this.wasResumed ? "resumed" : "welcome", transport: conn.transport });
    const waiter = this.openWaiter;
    if (waiter !== undefined && this.current === "open") {
      this.openWaiter = undefined;
      waiter.resolve();
    }
  }

  private onReply(message: ReplyMessage): void {
    const entry = this.takePending(message.id);
    if (entry === undefined) return;
    if (!message.ok) {
      const err = message.error;
      if (err?.code === "conflict") {
        const position = typeof err.epoch === "string" && typeof err.offset === "number" ? { epoch: err.epoch, offset: err.offset } : undefined;
        this.failRequest(entry, new LifelineConflictError(err.message ?? "conflict", position));
        return;
      }
      this.failRequest(entry, new LifelineRequestError(err?.code ?? "unknown", err?.message ?? "request refused"));
      return;
    }
    if (entry.kind === "publish") {
      this.outbox.delete(entry.record.seq);
      if (typeof message.offset === "number") {
        this.channels.get(entry.record.channel)?._pendingAcked(entry.record.seq, message.offset);
        entry.record.resolve(message.offset);
      } else {
        entry.record.reject(new LifelineProtocolError("publish reply without offset", JSON.stringify(message)));
      }
      return;
    }
    entry.onReply(message);
  }

  private takePending(id: number): PendingRequest | undefined {
    const entry = this.pending.get(id);
    if (entry !== undefined) this.pending.delete(id);
    return entry;
  }

  private failRequest(entry: PendingRequest, error: LifelineError): void {
    if (entry.kind === "publish") {
      this.outbox.delete(entry.record.seq);
      this.channels.get(entry.record.channel)?._pendingDropped(entry.record.seq);
      entry.record.reject(error);
    } else {
      entry.onFail(error);
    }
  }

  // ---- sending --------------------------------------------------------------------------

  private get isOpen(): boolean {
    return this.current === "open" && this.conn !== undefined && this.conn.welcomed;
  }

  /** Sends one message on `conn`; a failing send ends the connection. */
  private send(conn: Connection, message: Record<string, unknown>): boolean {
    const socket = conn.socket;
    if (conn !== this.conn || socket === undefined || socket.readyState !== WS_OPEN) return false;
    try {
      socket.send(JSON.stringify(message));
      return true;
    } catch (e) {
      this.report(new LifelineError("send_failed", `send failed: ${errorText(e)}`, { cause: e }));
      this.connectionLost(conn, { reason: "send_failed", code: 1006, initiator: "network" });
      return false;
    }
  }

  private request(entry: PendingRequest, message: Record<string, unknown>): void {
    const conn = this.conn;
    if (conn === undefined) return;
    const id = this.nextId++;
    this.pending.set(id, entry);
    this.send(conn, { ...message, id });
  }

  private sendSubscribe(channel: LifelineChannel<JsonObject>): void {
    const since = channel._position;
    channel._wire = "subscribing";
    this.request(
      {
        kind: "subscribe",
        channel: channel.name,
        onReply: (message) => {
          if (message.type === "subscribed") channel._onSubscribed(message);
          else channel._wire = "subscribed";
          this.requestPresence(channel, undefined);
          this.reconcile(channel);
        },
        onFail: (error) => {
          channel._wire = "none";
          channel._resyncing = false;
          if (!(error instanceof LifelineDisconnectedError) && !(error instanceof LifelineClosedError)) {
            channel._dropAccepted(); // no delta will come to confirm them
            this.report(new LifelineRequestError(error.code, `subscribe to "${channel.name}" refused: ${error.message}`));
          }
        },
      },
      { type: "subscribe", channel: channel.name, ...(since === undefined ? {} : { since: { epoch: since.epoch, offset: since.offset } }) },
    );
  }

  private sendUnsubscribe(channel: LifelineChannel<JsonObject>): void {
    channel._wire = "unsubscribing";
    const done = () => {
      channel._wire = "none";
      channel._dropAccepted(); // no delta will come to confirm them
      this.reconcile(channel);
    };
    this.request({ kind: "unsubscribe", channel: channel.name, onReply: done, onFail: (e) => (e instanceof LifelineRequestError ? done() : undefined) }, {
      type: "unsubscribe",
      channel: channel.name,
    });
  }

  private requestPresence(
    channel: LifelineChannel<JsonObject>,
    callbacks: { resolve: (members: readonly string[]) => void; reject: (error: Error) => void } | undefined,
  ): void {
    this.request(
      {
        kind: "presence",
        channel: channel.name,
        onReply: (message) => {
          const members = message.type === "reply" && message.members !== undefined ? message.members : [];
          channel._onPresenceMembers(members);
          callbacks?.resolve(channel.presence);
        },
        onFail: (error) => {
          if (callbacks !== undefined) callbacks.reject(error);
          else if (error instanceof LifelineRequestError) this.report(error);
        },
      },
      { type: "presence", channel: channel.name },
    );
  }

  private sendPublish(record: PublishRecord): void {
    record.sent = true;
    this.request(
      { kind: "publish", record },
      { type: "publish", channel: record.channel, key: record.key, patch: record.patch, ...(record.if === undefined ? {} : { if: record.if }) },
    );
  }

  /** Brings a channel's wire subscription in line with its listeners. */
  private reconcile(channel: LifelineChannel<JsonObject>): void {
    if (!this.isOpen) return;
    if (channel._wanted && channel._wire === "none") {
      this.sendSubscribe(channel);
    } else if (!channel._wanted && channel._wire === "subscribed") {
      this.sendUnsubscribe(channel);
    }
    // "subscribing"/"unsubscribing": the reply calls reconcile again.
  }

  // ---- ChannelHost ----------------------------------------------------------------------

  /** @internal */
  _interestChanged(channel: LifelineChannel<JsonObject>): void {
    this.dirty.add(channel);
    if (this.reconcileQueued) return;
    this.reconcileQueued = true;
    // Coalesce listener churn of one tick (React StrictMode mounts, unmounts and remounts).
    queueMicrotask(() => {
      this.reconcileQueued = false;
      const channels = [...this.dirty];
      this.dirty.clear();
      for (const c of channels) this.reconcile(c);
    });
  }

  /** @internal */
  _publish(channel: string, patch: JsonObject, request: PublishRequest): Promise<number> {
    if (this.current === "closed") {
      return Promise.reject(new LifelineClosedError());
    }
    const signal = request.signal;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    const finalKey = request.key ?? this.nextKey();
    if (typeof finalKey !== "string" || finalKey.length === 0 || finalKey.length > MAX_KEY_LENGTH) {
      return Promise.reject(new TypeError(`publish key must be a string of 1 to ${MAX_KEY_LENGTH} characters`));
    }
    let copy: JsonObject;
    try {
      // A private copy: the application may change its object while the publish waits offline.
      const parsed: unknown = JSON.parse(JSON.stringify(patch));
      if (!isJsonObject(parsed)) throw new TypeError("not an object");
      copy = parsed;
    } catch (e) {
      return Promise.reject(new TypeError(`publish(patch): patch is not serializable JSON: ${errorText(e)}`));
    }
    if (!this.isOpen && this.outbox.size >= this.offlineQueueLimit) {
      return Promise.reject(new LifelineQueueFullError(this.offlineQueueLimit));
    }
    return new Promise<number>((resolve, reject) => {
      const onAbort = (): void => this.abortPublish(record, abortReason(signal));
      const done = (): void => signal?.removeEventListener("abort", onAbort);
      const record: PublishRecord = {
        seq: ++this.publishSeq,
        channel,
        patch: copy,
        key: finalKey,
        if: request.if,
        sent: false,
        resolve: (offset) => {
          done();
          resolve(offset);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      this.outbox.set(record.seq, record);
      this.channel(channel)._pendingAdded(record.seq, copy, record.key, record.if);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (this.isOpen) this.sendPublish(record);
    });
  }

  /**
   * A publish's signal aborted: one never sent leaves the queue (and its overlay); one already sent may have been
   * applied, so it stays for the resend (its key makes that exactly-once) and only its caller stops waiting.
   */
  private abortPublish(record: PublishRecord, reason: Error): void {
    if (!this.outbox.has(record.seq)) return;
    if (!record.sent) {
      this.outbox.delete(record.seq);
      this.channels.get(record.channel)?._pendingDropped(record.seq);
    }
    record.reject(reason);
  }

  /** @internal */
  _fetchPresence(channel: string, signal: AbortSignal | undefined): Promise<readonly string[]> {
    if (this.current === "closed") return Promise.reject(new LifelineClosedError());
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    if (!this.isOpen) return Promise.reject(new LifelineDisconnectedError("not connected"));
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        return true;
      };
      const onAbort = (): void => {
        if (settle()) reject(abortReason(signal));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.requestPresence(this.channel(channel), {
        resolve: (members) => {
          if (settle()) resolve(members);
        },
        reject: (error) => {
          if (settle()) reject(error);
        },
      });
    });
  }

  /** @internal Events are now or never: never queued while disconnected. */
  _emit(channel: string, data: JsonValue): Promise<void> {
    if (this.current === "closed") return Promise.reject(new LifelineClosedError());
    if (!this.isOpen) return Promise.reject(new LifelineDisconnectedError("not connected: events are not queued"));
    let copy: JsonValue;
    try {
      copy = JSON.parse(JSON.stringify(data)) as JsonValue;
    } catch (e) {
      return Promise.reject(new TypeError(`emit(data): data is not serializable JSON: ${errorText(e)}`));
    }
    return new Promise<void>((resolve, reject) => {
      this.request({ kind: "emit", channel, onReply: () => resolve(), onFail: reject }, { type: "emit", channel, data: copy });
    });
  }

  /** @internal */
  _reportHandlerError(where: string, error: unknown): void {
    this.report(new LifelineHandlerError(where, error));
  }

  // ---- helpers --------------------------------------------------------------------------

  private nextKey(): string {
    this.keyCounter++;
    return `${this.keyPrefix}-${this.keyCounter.toString(36)}`;
  }

  private emitUserMessage(message: UserMessage): void {
    for (const entry of [...this.messageListeners]) {
      if (!entry.active) continue;
      try {
        entry.fn(message);
      } catch (e) {
        this.report(new LifelineHandlerError("message", e));
      }
    }
  }

  private report(error: LifelineError): void {
    let delivered = false;
    if (this.errorOption !== undefined) {
      delivered = true;
      try {
        this.errorOption(error);
      } catch {
        // An error reporter that throws has nowhere left to report to.
      }
    }
    for (const entry of [...this.errorListeners]) {
      if (!entry.active) continue;
      delivered = true;
      try {
        entry.fn(error);
      } catch {
        // Same as above.
      }
    }
    if (!delivered) {
      console.error("[lifeline]", error);
    }
  }
}
