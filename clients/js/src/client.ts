import { LifelineChannel, type PublishRequest } from "./channel.js";
import { systemClock, type Clock, type TimerHandle } from "./clock.js";
import { closeCodeInfo } from "./closeCodes.js";
import { newConnection, releaseConnection, type Connection, type LostInfo } from "./connection.js";
import { LifelineClosedError, LifelineDisconnectedError, LifelineError, LifelineHandlerError, LifelineProtocolError, LifelineTokenError } from "./errors.js";
import { ClientEvents, type StateChangeInfo, type UserMessage } from "./events.js";
import { deepFreeze, type JsonObject, type JsonValue } from "./json.js";
import { Liveness, type LivenessHost } from "./liveness.js";
import { parseFrame, PROTOCOL_VERSION, type ServerMessage, type WelcomeMessage } from "./protocol.js";
import { Requests, type RequestHost } from "./requests.js";
import { ReconnectSchedule } from "./reconnect.js";
import { exponentialBackoff } from "./retry.js";
import { defaultFetch, HttpSocket, type FetchLike, type TransportKind } from "./httpSocket.js";
import { TransportLadder } from "./transportLadder.js";
import { defaultWebSocketFactory, WS_OPEN, type CloseEventLike, type MessageEventLike, type WebSocketFactory, type WebSocketLike } from "./socket.js";
import {
  CLOSE_AFTER_ERROR_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_OFFLINE_QUEUE_LIMIT,
  DEFAULT_TRANSPORT_PROBE_INTERVAL_MS,
  DEFAULT_TRANSPORTS,
  DEFAULT_WATCHDOG_SLACK_MS,
  type ConnectionState,
  type LifelineClientOptions,
  type StateChange,
} from "./options.js";
import { errorText, makeKeyPrefix, nonNegative, positive } from "./util.js";
import { browserNetworkEvents } from "./networkEvents.js";
import { Tokens, type TokenHost } from "./token.js";
import { PersistenceKeeper } from "./keeper.js";
import { VERSION } from "./version.js";

export type { UserMessage } from "./events.js";

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
  private readonly factory: WebSocketFactory;
  private readonly watchdogSlackMs: number;
  private readonly connectTimeoutMs: number;
  private readonly clientName: string;
  private readonly ladder: TransportLadder;
  private readonly fetchOption: FetchLike | undefined;
  private readonly optimistic: boolean;
  /** The promise of `connect()`, settled at the next `open` or `closed`. */
  private openWaiter: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } | undefined;
  private lastTransport: TransportKind;

  private current: ConnectionState = "connecting";
  private conn: Connection | undefined;
  private connSeq = 0;
  private lastSignal: AbortSignal;
  private reconnectTimer: TimerHandle | undefined;
  private sessionToken: string | undefined;
  private userId: string | null = null;
  private wasResumed = false;
  /** The server closed with 4002 since the last welcome: the token function is asked with reason `expired`. */
  private tokenExpired = false;

  private readonly channels = new Map<string, LifelineChannel<JsonObject>>();
  // One job each; the client keeps the public surface, the connection state machine and the message dispatch.
  private readonly events: ClientEvents;
  private readonly schedule: ReconnectSchedule;
  private readonly tokens: Tokens;
  private readonly liveness: Liveness;
  private readonly requests: Requests;
  private readonly keeper: PersistenceKeeper | undefined;

  constructor(url: string, options: LifelineClientOptions = {}) {
    this.url = url;
    this.clock = options.clock ?? systemClock;
    const random = options.random ?? Math.random;
    this.factory = options.webSocketFactory ?? defaultWebSocketFactory;
    const policy = options.retryPolicy ?? exponentialBackoff(options.reconnect ?? {}, random);
    this.watchdogSlackMs = nonNegative("watchdogSlackMs", options.watchdogSlackMs ?? DEFAULT_WATCHDOG_SLACK_MS);
    this.connectTimeoutMs = positive("connectTimeoutMs", options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    const offlineQueueLimit = nonNegative("offlineQueueLimit", options.offlineQueueLimit ?? DEFAULT_OFFLINE_QUEUE_LIMIT);
    this.clientName = options.clientName ?? `lifeline-js/${VERSION}`;
    this.events = new ClientEvents(this.clock, options.onError);
    // What the collaborators may ask of the client: each takes the part its interface names.
    const core: TokenHost & LivenessHost & RequestHost = {
      clock: this.clock,
      random,
      isClosed: () => this.current === "closed",
      isOpen: () => this.isOpen,
      current: () => this.conn,
      send: (conn, message) => this.send(conn, message),
      lost: (conn, info) => this.connectionLost(conn, info),
      resetRetries: () => this.schedule.resetCount(),
      attemptNow: () => this.attemptNow(),
      channel: (name) => this.channel(name),
      requestRefresh: (token, onReply, onFail) => this.requests.refresh(token, onReply, onFail),
      report: (error) => this.events.report(error),
    };
    this.schedule = new ReconnectSchedule(policy, this.clock, core.report);
    this.tokens = new Tokens(options, core);
    this.ladder = new TransportLadder(url, options.transports ?? DEFAULT_TRANSPORTS);
    this.lastTransport = this.ladder.next;
    this.fetchOption = options.fetch;
    const probeIntervalMs = positive("transportProbeIntervalMs", options.transportProbeIntervalMs ?? DEFAULT_TRANSPORT_PROBE_INTERVAL_MS);
    this.requests = new Requests(core, this.channels, offlineQueueLimit, makeKeyPrefix(options.random));
    this.optimistic = options.optimistic === true;
    const networkEvents = options.networkEvents === undefined ? browserNetworkEvents : options.networkEvents;
    this.liveness = new Liveness(core, networkEvents, this.ladder, () => this.factory(this.url), probeIntervalMs, this.connectTimeoutMs);
    this.lastSignal = new AbortController().signal;
    const persistence = options.persistence;
    if (persistence === undefined) {
      this.liveness.attachNetwork();
      this.attempt();
    } else {
      this.keeper = new PersistenceKeeper(persistence, this.clock, (name) => this.channels.get(name)?._keep(), core.report);
      this.keeper.load({
        isClosed: core.isClosed,
        restore: (kept) => this.channel(kept.channel)._restore(kept),
        publish: (channel, p) => this.requests.publish(channel, p.patch, { key: p.key, if: p.if, signal: undefined }),
        start: () => {
          // close() (or connect() after it) may have come while loading.
          if (this.current === "closed" || this.conn !== undefined || this.reconnectTimer !== undefined) return;
          this.liveness.attachNetwork();
          this.attempt();
        },
      });
    }
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
    return this.requests.pendingPublishes;
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
    return this.events.onStateChange(listener);
  }

  /** Registers an error listener (see {@link LifelineClientOptions.onError}); returns the function that unregisters it. */
  onError(listener: (error: LifelineError) => void): () => void {
    return this.events.onError(listener);
  }

  /**
   * Registers a listener for messages the application's server sends to this user
   * (`SendToUserAsync`): called once per message, only for messages sent while this client is
   * connected (they are not stored or replayed). Returns the function that unregisters it.
   */
  onMessage(listener: (message: UserMessage) => void): () => void {
    return this.events.onMessage(listener);
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
      this.schedule.reset();
      this.tokenExpired = false;
      this.transition("connecting", { reason: "connect", initiator: "client" });
      // A state listener may have closed the client again (its promise is rejected): attach nothing to a closed client.
      if (this.state !== "connecting") return waiter.promise;
      this.liveness.attachNetwork();
      this.attempt();
    }
    return waiter.promise;
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
    const conn = newConnection(++this.connSeq, controller, transport, this.clock.now());
    this.conn = conn;
    this.lastSignal = controller.signal;
    conn.connectTimer = this.clock.setTimeout(() => this.onConnectTimeout(conn), this.connectTimeoutMs);
    const provider = this.tokens.provider;
    if (provider === undefined) {
      conn.token = this.tokens.fixed;
      this.openSocket(conn);
      return;
    }
    conn.awaitingToken = true;
    this.tokens.obtain(
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
        this.events.report(error);
        this.connectionLost(conn, { reason: "token_failed", initiator: "client", error });
      },
    );
  }

  /** Creates the socket of an attempt whose token is known. */
  private openSocket(conn: Connection): void {
    let socket: WebSocketLike;
    try {
      socket = conn.transport === "websocket" ? this.factory(this.url) : new HttpSocket(this.url, conn.transport, this.fetchOption ?? defaultFetch(), this.clock);
    } catch (e) {
      const error = new LifelineError("connect_failed", `could not create the WebSocket: ${errorText(e)}`, { cause: e });
      this.events.report(error);
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
      this.events.report(error);
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
    this.requests.failPending(new LifelineDisconnectedError(`the connection dropped (${info.reason})`));
    if (this.current === "closed") return;

    const codeInfo = info.code === undefined ? undefined : closeCodeInfo(info.code);
    if (codeInfo !== undefined && !codeInfo.shouldReconnect) {
      this.shutdown(info);
      return;
    }
    if (!conn.welcomed && !info.immediate && !info.notTransport && !this.liveness.offline && conn.socket !== undefined) {
      const opened = conn.socket instanceof HttpSocket ? conn.socket.responded : conn.opened;
      if (this.ladder.failed({ kind: conn.transport, opened, reason: info.reason })) {
        info = { ...info, immediate: true };
      }
    }
    if (info.immediate) {
      this.reconnectIn(0, info, conn.transport);
      return;
    }
    if (info.code === 4002) {
      // token_expired: only the token function can make a fresh token; a fixed token never gets better.
      if (this.tokens.provider === undefined) {
        this.shutdown(info);
        return;
      }
      this.tokenExpired = true;
    }
    const retryInMs = this.schedule.next(info, codeInfo);
    if (retryInMs === null) {
      this.shutdown({ ...info, reason: "retries_exhausted" });
      return;
    }
    this.reconnectIn(retryInMs, info, conn.transport);
  }

  /** Schedules the next attempt and says so (`reconnecting`). */
  private reconnectIn(retryInMs: number, info: LostInfo, transport: TransportKind): void {
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.attempt();
    }, retryInMs);
    this.transition("reconnecting", { ...info, retryInMs, transport });
  }

  /** Releases one connection (and the transport probe); its channels learn they are disconnected. */
  private teardown(conn: Connection, reason: string, code?: number): void {
    this.liveness.stopProbe();
    releaseConnection(conn, this.clock, reason, code);
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
    this.requests.close(error);
    this.liveness.detachNetworkEvents();
    // Settled before the listeners hear of `closed`: a listener that calls connect() starts a new wait.
    const waiter = this.openWaiter;
    this.openWaiter = undefined;
    waiter?.reject(error);
    for (const channel of this.channels.values()) channel._onClientClosed();
    // The transport of the connection that ended (or of the last attempt), as every other state change says.
    this.transition("closed", { ...info, transport: info.transport ?? this.lastTransport });
  }

  private transition(to: ConnectionState, info: StateChangeInfo): void {
    const from = this.current;
    if (from === to) return;
    if (!ALLOWED[from].includes(to)) {
      this.events.report(new LifelineError("internal_error", `impossible state change ${from} -> ${to}`));
      return;
    }
    this.current = to;
    this.events.stateChanged(from, to, info);
  }

  // ---- receiving ------------------------------------------------------------------------

  private onSocketMessage(conn: Connection, event: MessageEventLike): void {
    if (conn !== this.conn) return;
    conn.lastReceivedAt = this.clock.now();
    const data = event.data;
    if (typeof data !== "string") {
      this.events.report(new LifelineProtocolError("binary frame received; Lifeline uses text frames only", "<binary>"));
      return;
    }
    for (const line of parseFrame(data)) {
      // A handler may have closed the client or dropped the connection: stop at once.
      if (conn !== this.conn) return;
      if (!line.ok) {
        this.events.report(new LifelineProtocolError(`malformed message dropped: ${line.error}`, line.raw));
        continue;
      }
      try {
        this.handleMessage(conn, line.message);
      } catch (e) {
        this.events.report(new LifelineError("internal_error", `handling a ${line.message.type} message failed: ${errorText(e)}`, { cause: e }));
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
        this.liveness.pong(conn, message.n);
        return;
      case "other":
        return;
      case "subscribed":
        this.requests.onSubscribed(message);
        return;
      case "snapshot":
        this.channels.get(message.channel)?._onSnapshot(message);
        return;
      case "delta": {
        const channel = this.channels.get(message.channel);
        if (channel !== undefined && channel._onDelta(message) === "gap" && channel._wire === "subscribed" && this.isOpen) {
          // Offsets are missing: ask for them again from where we are.
          channel._resyncing = true;
          this.requests.subscribe(channel);
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
        this.events.userMessage(Object.freeze({ data: deepFreeze(message.data), ...(message.ts === undefined ? {} : { ts: message.ts }) }));
        return;
      case "reply":
        this.requests.onReply(message);
        return;
      case "error":
        this.requests.onError(message);
        return;
    }
  }

  private onWelcome(conn: Connection, message: WelcomeMessage): void {
    if (conn.welcomed) {
      this.events.report(new LifelineProtocolError("second welcome on one connection ignored", JSON.stringify(message)));
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
    this.schedule.reset();
    this.tokenExpired = false;
    if (message.tokenExpiresInMs !== undefined) this.tokens.renewed(conn, message.tokenExpiresInMs);
    const { intervalMs, timeoutMs } = message.heartbeat;
    if (timeoutMs > 0) conn.probeTimeoutMs = timeoutMs;
    if (intervalMs > 0) {
      conn.watchdogLimitMs = intervalMs + timeoutMs + this.watchdogSlackMs;
      conn.watchdogTimer = this.clock.setTimeout(() => this.checkWatchdog(conn), conn.watchdogLimitMs);
    }

    // PROTOCOL.md "Reconnection": resubscribe, then flush the queued publishes. The state is already open for this,
    // but listeners hear of it only afterwards, so a publish they make goes after the queue.
    const from = this.current;
    this.current = "open";
    if (!this.requests.resume(() => conn === this.conn)) return;
    this.ladder.welcomed(conn.transport);
    this.liveness.armProbe(conn);
    this.events.stateChanged(from, "open", { reason: this.wasResumed ? "resumed" : "welcome", transport: conn.transport });
    const waiter = this.openWaiter;
    if (waiter !== undefined && this.current === "open") {
      this.openWaiter = undefined;
      waiter.resolve();
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
      this.events.report(new LifelineError("send_failed", `send failed: ${errorText(e)}`, { cause: e }));
      this.connectionLost(conn, { reason: "send_failed", code: 1006, initiator: "network" });
      return false;
    }
  }

  // ---- ChannelHost ----------------------------------------------------------------------

  /** @internal */
  _interestChanged(channel: LifelineChannel<JsonObject>): void {
    this.requests.interestChanged(channel);
  }

  /** @internal */
  _publish(channel: string, patch: JsonObject, request: PublishRequest): Promise<number> {
    return this.requests.publish(channel, patch, request);
  }

  /** @internal */
  _fetchPresence(channel: string, signal: AbortSignal | undefined): Promise<readonly string[]> {
    return this.requests.fetchPresence(channel, signal);
  }

  /** @internal Events are now or never: never queued while disconnected. */
  _emit(channel: string, data: JsonValue): Promise<void> {
    return this.requests.emit(channel, data);
  }

  /** @internal */
  _reportHandlerError(where: string, error: unknown): void {
    this.events.report(new LifelineHandlerError(where, error));
  }

  /** @internal */
  _clock(): Clock {
    return this.clock;
  }
}
