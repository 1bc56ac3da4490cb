import { type Clock, systemClock } from "./clock.js";
import type { CloseEventLike, MessageEventLike, WebSocketLike } from "./socket.js";

/*
 * The HTTP transport (PROTOCOL.md "HTTP transport") behind the same WebSocketLike face the client uses for a
 * WebSocket, so that nothing above the socket changes: the first message sent (the `hello`) opens the connection as the
 * body of `POST {path}/stream`; server messages arrive as Server-Sent Events (`data: <json>`, a blank line); later
 * messages go, one request at a time and batched as NDJSON, to `POST {path}/send` with the `Lifeline-Send` capability
 * from the `welcome`. In poll mode the stream request carries `?poll=1`, its response ends after one batch, and the
 * socket asks `POST {path}/poll` for the next one until the connection ends. A body of one message answered 413 ends
 * the connection as a WebSocket's close 1009 would (see `tooBig`). The client's close (`close()`, and the 1009) goes
 * on a request of its own that the end of the connection does not cancel; the stream (or the poll in flight) is
 * dropped only once that request is answered or failed, or after {@link HTTP_CLOSE_TIMEOUT_MS} (see `tellClose`).
 */

/** How a Lifeline connection travels: a WebSocket, an HTTP event stream, or HTTP long polling. */
export type TransportKind = "websocket" | "http-stream" | "http-poll";

/** The part of `fetch` the HTTP transport uses (the global one by default; injectable for tests). */
export type FetchLike = (url: string, init: FetchInit) => Promise<FetchResponseLike>;

/** The request options the HTTP transport passes to {@link FetchLike}. */
export interface FetchInit {
  method: "POST";
  headers: Record<string, string>;
  body: string;
  signal?: AbortSignal;
  cache?: "no-store";
  credentials?: "same-origin";
}

/** The part of a `fetch` Response the HTTP transport reads. */
export interface FetchResponseLike {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  readonly body: ReadableStream<Uint8Array> | null;
  text(): Promise<string>;
}

/** The header that carries a connection's send capability. */
export const SEND_HEADER = "Lifeline-Send";

/**
 * The most UTF-8 bytes one send body carries when it holds more than one message: half the server's default
 * `MaxMessageSize` (64 KiB), the limit of a whole send body (PROTOCOL.md: `413` for a body over it). A single larger
 * message still goes alone. @internal
 */
export const MAX_BATCH_BYTES = 32 * 1024;

/**
 * How long the client's close request (`{"type":"close",...}` on `POST {path}/send`) may take before the stream is
 * dropped anyway: 1 second, as the .NET client's default `CloseTimeout`.
 */
export const HTTP_CLOSE_TIMEOUT_MS = 1000;

/** The UTF-8 length of a string. @internal */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      bytes += 4; // a surrogate pair
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Takes the first messages of `outgoing` whose body (joined by line feeds) stays within `maxBytes`; always at least
 * one. @internal
 */
export function takeBatch(outgoing: string[], maxBytes: number): string[] {
  let count = 0;
  let bytes = 0;
  while (count < outgoing.length) {
    const next = bytes + (count > 0 ? 1 : 0) + utf8Length(outgoing[count] as string);
    if (count > 0 && next > maxBytes) break;
    bytes = next;
    count++;
  }
  return outgoing.splice(0, count);
}

/** Maps the WebSocket URL (`ws://host/ws`, `wss://...`) to the HTTP base of the same endpoint (`http://host/ws`). */
export function httpBaseUrl(wsUrl: string): string {
  const url = new URL(wsUrl);
  if (url.protocol === "ws:") url.protocol = "http:";
  else if (url.protocol === "wss:") url.protocol = "https:";
  url.hash = "";
  url.search = "";
  return url.toString().replace(/\/$/, "");
}

/** The global fetch, or an error when there is none. */
export function defaultFetch(): FetchLike {
  const f = (globalThis as { fetch?: unknown }).fetch;
  if (typeof f !== "function") throw new TypeError("no global fetch: pass options.fetch to use the HTTP transport");
  return f.bind(globalThis) as FetchLike;
}

type Handler<E> = ((event: E) => void) | null;

/** A Lifeline connection over HTTP, behind the WebSocketLike interface. */
export class HttpSocket implements WebSocketLike {
  readyState = 0;
  onopen: Handler<unknown> = null;
  onmessage: Handler<MessageEventLike> = null;
  onerror: Handler<unknown> = null;
  onclose: Handler<CloseEventLike> = null;

  private readonly base: string;
  private readonly poll: boolean;
  private readonly fetchImpl: FetchLike;
  private readonly clock: Clock;
  private readonly abort = new AbortController();
  /** The send request in flight (settles when it is answered or failed), so that the close goes after it. */
  private inFlight: Promise<unknown> | undefined;
  private capability: string | undefined;
  private started = false;
  private outgoing: string[] = [];
  private sending = false;
  /** A batch was refused with 413: this server's limit is lower, messages go one per body. */
  private oneAtATime = false;
  private closeEvent: { code: number; reason: string } | undefined;
  private ended = false;
  private answered = false;
  private streamPending = false;
  private pendingAtClose = false;

  /**
   * True once the stream request was answered with 200, or when it was closed while its request was still waiting for
   * an answer: the HTTP endpoint took the request (a refused connection or an error status would have answered), and
   * a buffering proxy holds what came back, the response head included (nginx with gzip does).
   */
  get responded(): boolean {
    return this.answered || this.pendingAtClose;
  }

  /**
   * @param wsUrl the server's WebSocket URL; the HTTP endpoints are derived from it.
   * @param kind `http-stream` or `http-poll`.
   * @param fetchImpl the fetch to use.
   * @param clock the timers (the bound of the close request).
   */
  constructor(wsUrl: string, kind: Exclude<TransportKind, "websocket">, fetchImpl: FetchLike, clock: Clock = systemClock) {
    this.base = httpBaseUrl(wsUrl);
    this.poll = kind === "http-poll";
    this.fetchImpl = fetchImpl;
    this.clock = clock;
    // There is no handshake before the hello: the socket is "open" at once (the hello then opens the stream).
    queueMicrotask(() => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      this.onopen?.({});
    });
  }

  /** The first message (the `hello`) opens the stream; the others are sent in order once the `welcome` came. */
  send(data: string): void {
    if (this.readyState !== 1) throw new Error("the HTTP connection is not open");
    if (!this.started) {
      this.started = true;
      void this.run(data);
      return;
    }
    this.outgoing.push(data);
    this.pump();
  }

  /**
   * Stops reading and reports the close at once. When the connection exists (the `welcome` came) the server is told
   * with `{"type":"close","code":N}` (see `tellClose`): the stream is dropped only once that request is answered, so
   * that the server sees the client's close (1000: the session ends, presence leaves at once) rather than an aborted
   * stream (1006: the session is kept for a resume, presence leaves after the grace period). What is still queued is
   * not sent. The abandon of a connection believed dead (4000) goes the same way: the close request, bounded, runs
   * beside the next attempt and never delays it.
   */
  close(code = 1000, reason = ""): void {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    this.pendingAtClose = this.streamPending;
    const told = this.capability === undefined ? undefined : this.tellClose({ type: "close", code });
    this.finish({ code, reason }, true, told);
  }

  private async run(hello: string): Promise<void> {
    try {
      this.streamPending = true;
      let response: FetchResponseLike;
      try {
        response = await this.fetchImpl(`${this.base}/stream${this.poll ? "?poll=1" : ""}`, this.init(hello, {}));
      } finally {
        this.streamPending = false;
      }
      while (!this.ended) {
        if (response.status !== 200) {
          await response.text().catch(() => "");
          this.fail(response.status === 404 ? "connection_gone" : `http_${response.status}`);
          return;
        }
        this.answered = true;
        await this.readEvents(response);
        if (this.ended) return;
        if (this.closeEvent !== undefined || !this.poll) {
          // A stream that ends without a close event is a lost connection (1006).
          this.finish(this.closeEvent ?? { code: 1006, reason: "stream_ended" }, false);
          return;
        }
        if (this.capability === undefined) {
          this.fail("no_welcome");
          return;
        }
        response = await this.fetchImpl(`${this.base}/poll`, this.init("", { [SEND_HEADER]: this.capability }));
      }
    } catch (e) {
      if (!this.ended) this.fail(e instanceof Error ? e.message : String(e));
    }
  }

  /** Reads one response as Server-Sent Events, delivering each `data:` event as one message. */
  private async readEvents(response: FetchResponseLike): Promise<void> {
    const body = response.body;
    if (body === null) {
      this.deliverChunk(await response.text(), true);
      return;
    }
    const reader = body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (this.ended) return;
        if (done) break;
        this.deliverChunk(decoder.decode(value, { stream: true }), false);
      }
      this.deliverChunk(decoder.decode(), true);
    } finally {
      reader.releaseLock();
    }
  }

  private pendingText = "";

  private deliverChunk(text: string, last: boolean): void {
    this.pendingText += text.replace(/\r\n?/g, "\n");
    let end: number;
    while ((end = this.pendingText.indexOf("\n\n")) >= 0) {
      const block = this.pendingText.slice(0, end);
      this.pendingText = this.pendingText.slice(end + 2);
      this.deliverEvent(block);
    }
    if (last) {
      if (this.pendingText.trim().length > 0) this.deliverEvent(this.pendingText);
      this.pendingText = "";
    }
  }

  private deliverEvent(block: string): void {
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("data:")) data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
      // Comments (":"), `event:`, `id:` and `retry:` lines carry nothing for Lifeline.
    }
    if (data.length === 0 || this.ended) return;
    const text = data.join("\n");
    const control = peek(text);
    if (control?.type === "welcome" && typeof control.send === "string") {
      this.capability = control.send;
      queueMicrotask(() => this.pump());
    } else if (control?.type === "close") {
      this.closeEvent = { code: typeof control.code === "number" ? control.code : 1005, reason: typeof control.reason === "string" ? control.reason : "" };
      return;
    }
    this.onmessage?.({ data: text });
  }

  /**
   * Sends what is queued, one request at a time, as NDJSON: at most {@link MAX_BATCH_BYTES} a body (after a 413 for a
   * batch, one message a body).
   */
  private pump(): void {
    if (this.sending || this.capability === undefined || this.outgoing.length === 0 || this.readyState !== 1) return;
    const messages = takeBatch(this.outgoing, this.oneAtATime ? 1 : MAX_BATCH_BYTES);
    this.sending = true;
    const request = this.fetchImpl(`${this.base}/send`, this.init(messages.join("\n"), { [SEND_HEADER]: this.capability }));
    this.inFlight = request.then(
      async (response) => {
        await response.text().catch(() => "");
        this.sending = false;
        if (response.status === 204 || response.status === 200) {
          this.pump();
        } else if (response.status === 413 && messages.length === 1) {
          this.tooBig();
        } else if (response.status === 413) {
          // The server's limit is lower than the batch: it applied nothing of the body (PROTOCOL.md), so the same
          // messages go again, in order, one per body from now on.
          this.outgoing.unshift(...messages);
          this.oneAtATime = true;
          this.pump();
        } else if (response.status === 404) {
          this.fail("connection_gone");
        } else {
          this.fail(`send_http_${response.status}`);
        }
      },
      (e: unknown) => {
        this.sending = false;
        this.fail(e instanceof Error ? e.message : String(e));
      },
    );
  }

  /**
   * A body of one message was answered 413: that message can never be accepted (the server's limit, or a proxy's), and
   * sending it again after a reconnect would be refused again, forever. Over a WebSocket the server closes such a
   * message with 1009 (no reconnect); here the socket does the same: it reports the close 1009 `message_too_big` at
   * once, as if the server had sent it, and tells the server with `{"type":"close","code":1009,"reason":"message_too_big"}`.
   * The stream (or the poll in flight) is dropped only once that request is answered or failed (or after
   * {@link HTTP_CLOSE_TIMEOUT_MS}), so that the server tears down with 1009 rather than seeing an aborted stream first
   * (1006).
   */
  private tooBig(): void {
    if (this.ended || this.capability === undefined) return;
    const told = this.tellClose({ type: "close", code: 1009, reason: "message_too_big" });
    this.finish({ code: 1009, reason: "message_too_big" }, true, told);
  }

  /**
   * Sends the client's close on `POST {path}/send`, after the send request in flight (one request at a time per
   * connection), on a request of its own: the end of the connection does not abort it, {@link HTTP_CLOSE_TIMEOUT_MS}
   * does. Settles (never rejects) once it is answered, failed or timed out: then the connection's requests may go.
   */
  private tellClose(message: { type: "close"; code: number; reason?: string }): Promise<void> {
    const capability = this.capability as string;
    const body = JSON.stringify(message);
    const bound = new AbortController();
    let timer: unknown;
    const timedOut = new Promise<void>((resolve) => {
      timer = this.clock.setTimeout(() => {
        bound.abort();
        resolve();
      }, HTTP_CLOSE_TIMEOUT_MS);
    });
    const sent = (this.inFlight ?? Promise.resolve())
      .then(async () => {
        if (bound.signal.aborted) return;
        const response = await this.fetchImpl(`${this.base}/send`, this.init(body, { [SEND_HEADER]: capability }, bound.signal));
        await response.text().catch(() => "");
      })
      .catch(() => undefined);
    return Promise.race([sent, timedOut]).finally(() => this.clock.clearTimeout(timer));
  }

  /** The options of one request; by default one that the end of the connection aborts. */
  private init(body: string, headers: Record<string, string>, signal: AbortSignal = this.abort.signal): FetchInit {
    const init: FetchInit = {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body,
      cache: "no-store",
      credentials: "same-origin",
      signal,
    };
    return init;
  }

  private fail(reason: string): void {
    if (this.ended) return;
    this.onerror?.({ reason });
    this.finish({ code: 1006, reason }, false);
  }

  /** Ends the socket once: reports the close; aborts the requests in flight now, or once `abortAfter` settles. */
  private finish(event: { code: number; reason: string }, clean: boolean, abortAfter?: Promise<unknown>): void {
    if (this.ended) return;
    this.ended = true;
    this.readyState = 3;
    if (abortAfter === undefined) this.abort.abort();
    else void abortAfter.finally(() => this.abort.abort());
    const handler = this.onclose;
    queueMicrotask(() => handler?.({ code: event.code, reason: event.reason, wasClean: clean }));
  }
}

/**
 * Reads the members the transport needs from a `welcome` or `close` message without failing on bad JSON. Other
 * messages (the server writes `type` first) are not parsed here: the client parses every message once, later.
 */
function peek(text: string): { type?: unknown; send?: unknown; code?: unknown; reason?: unknown } | undefined {
  const head = text.slice(0, 24).replace(/\s/g, "");
  if (!head.startsWith('{"type":"welcome"') && !head.startsWith('{"type":"close"')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
