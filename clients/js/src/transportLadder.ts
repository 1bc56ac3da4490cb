import type { TransportKind } from "./httpSocket.js";

/*
 * Which transport the next connection attempt uses (PROTOCOL.md "HTTP transport", "Choosing"): the WebSocket first;
 * the HTTP stream when WebSocket attempts fail twice in a row, each either never opening or opening without a `welcome`
 * before the connect timeout; long polling when a stream delivers no `welcome` in time. A browser cannot tell an
 * upgrade refused with an HTTP status from a network that is down (both are an `error` and a 1006), so one socket that
 * never opened is an ordinary failed attempt: falling back on the first would move a page to the HTTP transport after
 * any network blip whose end fell between the failed upgrade and the stream attempt. What worked is remembered for the
 * page's life (per URL), so a later client or reconnect starts there; the client moves back to the WebSocket through
 * its background probe.
 */

const rememberedByUrl = new Map<string, TransportKind>();

/** How the attempt that just ended went. */
export interface AttemptOutcome {
  readonly kind: TransportKind;
  /** The socket opened (for a WebSocket: the upgrade succeeded). */
  readonly opened: boolean;
  /** Why it ended (`connect_timeout`, a close reason...). */
  readonly reason: string;
}

export class TransportLadder {
  private readonly url: string;
  private readonly allowed: readonly TransportKind[];
  private kind: TransportKind;
  /** WebSocket attempts in a row that never opened or opened without a `welcome` in time. */
  private strikes = 0;

  constructor(url: string, allowed: readonly TransportKind[]) {
    if (allowed.length === 0 || allowed.some((k) => k !== "websocket" && k !== "http-stream" && k !== "http-poll")) {
      throw new TypeError('transports must be a non-empty list of "websocket", "http-stream", "http-poll"');
    }
    this.url = url;
    this.allowed = [...new Set(allowed)];
    const remembered = rememberedByUrl.get(url);
    this.kind = remembered !== undefined && this.allowed.includes(remembered) ? remembered : (this.allowed[0] as TransportKind);
  }

  /** The transport of the next attempt. */
  get next(): TransportKind {
    return this.kind;
  }

  /** True when the WebSocket is allowed and the current transport is not the WebSocket: the background probe runs. */
  get probes(): boolean {
    return this.kind !== "websocket" && this.allowed.includes("websocket");
  }

  /** An attempt on `kind` got its `welcome`: remember it. */
  welcomed(kind: TransportKind): void {
    this.kind = kind;
    this.strikes = 0;
    rememberedByUrl.set(this.url, kind);
  }

  /** The background probe reached the WebSocket: the next attempt uses it. */
  switchTo(kind: TransportKind): void {
    if (this.allowed.includes(kind)) this.kind = kind;
  }

  /**
   * An attempt ended before its `welcome`. Returns true when the next attempt falls back to another transport and
   * should go at once (a fallback is not a retry of the same thing).
   */
  failed(outcome: AttemptOutcome): boolean {
    if (outcome.kind === "websocket") {
      if ((!outcome.opened || outcome.reason === "connect_timeout") && ++this.strikes >= 2) return this.fallFrom("websocket");
      return false;
    }
    if (outcome.kind === "http-stream" && outcome.opened && outcome.reason === "connect_timeout") {
      // The stream answered but nothing came through in time: a proxy buffers it.
      return this.fallFrom("http-stream");
    }
    // The HTTP endpoint did not answer (server down, no HTTP transport): unless this transport worked before, start
    // the ladder again from the top on the next (backed-off) attempt.
    if (rememberedByUrl.get(this.url) !== outcome.kind) {
      this.kind = this.allowed[0] as TransportKind;
      this.strikes = 0;
    }
    return false;
  }

  private fallFrom(kind: TransportKind): boolean {
    const index = this.allowed.indexOf(kind);
    const next = index >= 0 ? this.allowed[index + 1] : undefined;
    if (next === undefined) return false;
    this.kind = next;
    this.strikes = 0;
    return true;
  }

  /** Forgets what every URL remembered (tests). */
  static forgetAll(): void {
    rememberedByUrl.clear();
  }
}
