import type { Clock, TimerHandle } from "./clock.js";
import type { Connection, LostInfo } from "./connection.js";
import { LifelineError } from "./errors.js";
import type { NetworkEvents } from "./networkEvents.js";
import type { WebSocketLike } from "./socket.js";
import type { TransportLadder } from "./transportLadder.js";
import { errorText } from "./util.js";

/** What network awareness and the probes need from the client. */
export interface LivenessHost {
  readonly clock: Clock;
  /** The client is closed. */
  isClosed(): boolean;
  /** The connection or attempt in progress, if any. */
  current(): Connection | undefined;
  /** The state is open on a welcomed connection. */
  isOpen(): boolean;
  /** Sends one message on `conn`; false when it was not sent (a failing send ends the connection). */
  send(conn: Connection, message: Record<string, unknown>): boolean;
  /** Ends `conn` and reconnects (or closes) as `info` says. */
  lost(conn: Connection, info: LostInfo): void;
  /** The network is back: the retries count from zero again. */
  resetRetries(): void;
  /** Ends a backoff wait: the next attempt starts now. */
  attemptNow(): void;
  report(error: LifelineError): void;
}

/**
 * Whether a client's connection is still alive, beyond the receive watchdog: the browser's network signals (`offline`,
 * `online`, waking up) and the liveness probe they start (a client `ping` that must be answered within the heartbeat
 * timeout), and, on an HTTP transport, the background probe that moves back to the WebSocket once it gets through.
 * @internal
 */
export class Liveness {
  private detachNetwork: (() => void) | undefined;
  /** The browser said `offline` and not `online` since: failed attempts say nothing about the transport. */
  private isOffline = false;
  private pingSeq = 0;
  private probeTimer: TimerHandle | undefined;
  private probeSocket: WebSocketLike | undefined;

  constructor(
    private readonly host: LivenessHost,
    private readonly networkEvents: NetworkEvents | null,
    private readonly ladder: TransportLadder,
    private readonly openWebSocket: () => WebSocketLike,
    private readonly probeIntervalMs: number,
    private readonly connectTimeoutMs: number,
  ) {}

  /** The browser said `offline` and not `online` since. */
  get offline(): boolean {
    return this.isOffline;
  }

  // ---- network awareness ----------------------------------------------------------------

  attachNetwork(): void {
    if (this.networkEvents === null || this.detachNetwork !== undefined) return;
    try {
      this.detachNetwork = this.networkEvents.subscribe({
        offline: () => this.onNetworkOffline(),
        online: () => this.onNetworkOnline(),
        wake: () => this.onWake(),
      });
    } catch (e) {
      this.host.report(new LifelineError("internal_error", `attaching the network listeners failed: ${errorText(e)}`, { cause: e }));
    }
  }

  detachNetworkEvents(): void {
    const detach = this.detachNetwork;
    this.detachNetwork = undefined;
    this.isOffline = false;
    try {
      detach?.();
    } catch {
      // Nothing to do: the listeners are gone or were never there.
    }
  }

  /** `offline`: the socket cannot be trusted; say so at once instead of waiting for the watchdog. */
  private onNetworkOffline(): void {
    const host = this.host;
    if (host.isClosed()) return;
    this.isOffline = true;
    const conn = host.current();
    // Waiting for the next attempt: nothing to abandon.
    if (conn !== undefined) host.lost(conn, { reason: "offline", initiator: "network", notTransport: true });
  }

  /** `online`: an attempt at once, whatever the backoff state; a live connection is probed (the route may have changed). */
  private onNetworkOnline(): void {
    const host = this.host;
    if (host.isClosed()) return;
    this.isOffline = false;
    host.resetRetries();
    const conn = host.current();
    if (conn === undefined) {
      host.attemptNow();
    } else if (!conn.welcomed) {
      // Started while offline, it may hang until its connect timeout: start over now.
      host.lost(conn, { reason: "online", initiator: "client", immediate: true, notTransport: true });
    } else {
      this.startLivenessProbe(conn);
    }
  }

  /** The page may have slept: probe a live connection; cut a backoff wait short. */
  private onWake(): void {
    const host = this.host;
    if (host.isClosed()) return;
    const conn = host.current();
    if (conn === undefined) {
      if (!this.isOffline) host.attemptNow();
    } else if (conn.welcomed) {
      this.startLivenessProbe(conn);
    }
  }

  // ---- liveness probe -------------------------------------------------------------------

  /** A client `ping`: no `pong` with the same `n` within the heartbeat timeout means the connection is dead. */
  private startLivenessProbe(conn: Connection): void {
    const host = this.host;
    if (conn !== host.current() || conn.probeTimer !== undefined) return;
    const n = ++this.pingSeq;
    conn.probeN = n;
    if (!host.send(conn, { type: "ping", n })) return;
    conn.probeTimer = host.clock.setTimeout(() => {
      conn.probeTimer = undefined;
      if (conn !== host.current()) return;
      host.lost(conn, { reason: "probe_timeout", initiator: "client", immediate: true, notTransport: true });
    }, conn.probeTimeoutMs);
  }

  /** A `pong`: the probe with the same `n` is answered. */
  pong(conn: Connection, n: number): void {
    if (conn.probeTimer !== undefined && n === conn.probeN) {
      this.host.clock.clearTimeout(conn.probeTimer);
      conn.probeTimer = undefined;
    }
  }

  // ---- transport probe ------------------------------------------------------------------

  /** On an HTTP transport, tries the WebSocket again in the background every `transportProbeIntervalMs`. */
  armProbe(conn: Connection): void {
    this.stopProbe();
    if (!this.ladder.probes) return;
    this.probeTimer = this.host.clock.setTimeout(() => this.probe(conn), this.probeIntervalMs);
  }

  private probe(conn: Connection): void {
    const host = this.host;
    this.probeTimer = undefined;
    if (conn !== host.current() || !host.isOpen()) return;
    let socket: WebSocketLike;
    try {
      socket = this.openWebSocket();
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
      if (conn !== host.current()) return;
      // The WebSocket gets through again: move to it. The session resumes and every channel resubscribes with its
      // position, so nothing is lost or repeated; publishes in flight are re-sent with their keys.
      this.ladder.switchTo("websocket");
      host.lost(conn, { reason: "transport_switch", initiator: "client", immediate: true });
    };
    this.probeTimer = host.clock.setTimeout(give, this.connectTimeoutMs);
  }

  stopProbe(): void {
    if (this.probeTimer !== undefined) {
      this.host.clock.clearTimeout(this.probeTimer);
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
}
