import type { CloseEventLike, MessageEventLike, WebSocketLike } from "../../src/socket.js";

type Json = Record<string, unknown>;

/**
 * A scripted in-memory WebSocket with the browser's interface. The test plays the server:
 * `open()`, `receive(...)`, `serverClose(...)`, `fail()`; what the client sends is in `sent`.
 */
export class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: MessageEventLike) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onclose: ((event: CloseEventLike) => void) | null = null;
  readonly sent: string[] = [];
  closedByClient: { code: number | undefined; reason: string | undefined } | undefined;

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.readyState === 0) throw new Error("InvalidStateError: still CONNECTING");
    if (this.readyState !== 1) return; // browsers drop sends on a closing socket
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason };
    if (this.readyState < 2) this.readyState = 2;
  }

  // ---- the server's side ----

  open(): this {
    this.readyState = 1;
    this.onopen?.({ type: "open" });
    return this;
  }

  /** Delivers one frame: a raw string, one message, or several messages packed with "\n". */
  receive(...messages: Array<Json | string>): this {
    const frame = messages.map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join("\n");
    this.onmessage?.({ data: frame });
    return this;
  }

  /** Opens the socket and sends `welcome`. */
  welcome(
    options: { session?: string; resumed?: boolean; intervalMs?: number; timeoutMs?: number; user?: string | null; tokenExpiresInMs?: number } = {},
  ): this {
    if (this.readyState === 0) this.open();
    return this.receive({
      type: "welcome",
      v: 1,
      session: options.session ?? "s1",
      connection: "c1",
      user: options.user === undefined ? "u1" : options.user,
      resumed: options.resumed ?? false,
      heartbeat: { intervalMs: options.intervalMs ?? 30000, timeoutMs: options.timeoutMs ?? 5000 },
      resumeWindowMs: 120000,
      ...(options.tokenExpiresInMs === undefined ? {} : { tokenExpiresInMs: options.tokenExpiresInMs }),
    });
  }

  serverClose(code: number, reason = ""): this {
    this.readyState = 3;
    this.onclose?.({ code, reason, wasClean: code !== 1006 });
    return this;
  }

  /** The `error` event alone (browsers follow it with `close`; call `serverClose(1006)` for that). */
  fail(): this {
    this.onerror?.({ type: "error" });
    return this;
  }

  /** What the client sent, parsed. */
  get messages(): Json[] {
    return this.sent.map((s) => JSON.parse(s) as Json);
  }

  ofType(type: string): Json[] {
    return this.messages.filter((m) => m["type"] === type);
  }

  last(type: string): Json {
    const all = this.ofType(type);
    const m = all[all.length - 1];
    if (m === undefined) throw new Error(`client sent no ${type}; sent: ${this.sent.join(" | ")}`);
    return m;
  }

  /** True when the client has given this socket up (handlers detached). */
  get detached(): boolean {
    return this.onopen === null && this.onmessage === null && this.onerror === null && this.onclose === null;
  }
}
