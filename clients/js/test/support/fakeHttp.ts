import type { FetchInit, FetchLike, FetchResponseLike } from "../../src/httpSocket.js";

type Json = Record<string, unknown>;

/** One request the client made; the test answers it as the server. */
export class FakeRequest {
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private readonly encoder = new TextEncoder();
  answered = false;

  constructor(
    readonly url: string,
    readonly init: FetchInit,
    private readonly resolve: (r: FetchResponseLike) => void,
    private readonly reject: (e: unknown) => void,
  ) {}

  get path(): string {
    const u = new URL(this.url);
    return u.pathname + u.search;
  }

  get capability(): string | undefined {
    return this.init.headers["Lifeline-Send"];
  }

  /** The body's messages (NDJSON), parsed. */
  get messages(): Json[] {
    return this.init.body
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Json);
  }

  /** Answers with a status and no streamed body. */
  status(status: number, body = ""): this {
    this.answered = true;
    this.resolve({ status, headers: new Headers(), body: null, text: () => Promise.resolve(body) });
    return this;
  }

  /** Answers 200 with an open event stream; `events`/`end` write to it. */
  stream(): this {
    this.answered = true;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
    });
    this.resolve({ status: 200, headers: new Headers({ "content-type": "text/event-stream" }), body, text: () => Promise.resolve("") });
    return this;
  }

  /** Writes raw text to the stream. */
  write(text: string): this {
    this.controller?.enqueue(this.encoder.encode(text));
    return this;
  }

  /** Writes each message as one SSE event. */
  events(...messages: Json[]): this {
    return this.write(messages.map((m) => `data: ${JSON.stringify(m)}\n\n`).join(""));
  }

  end(): this {
    this.controller?.close();
    return this;
  }

  /** The network failed (fetch rejects). */
  networkError(): this {
    this.answered = true;
    this.reject(new TypeError("fetch failed"));
    return this;
  }
}

/** A scripted HTTP server for the HTTP transport: every fetch waits for the test's answer. */
export class FakeHttp {
  readonly requests: FakeRequest[] = [];

  readonly fetch: FetchLike = (url, init) =>
    new Promise<FetchResponseLike>((resolve, reject) => {
      this.requests.push(new FakeRequest(url, init, resolve, reject));
    });

  /** The latest request to `path` (prefix match on the path and query). */
  last(path: string): FakeRequest {
    const r = [...this.requests].reverse().find((q) => q.path.startsWith(path));
    if (r === undefined) throw new Error(`no request to ${path}; got: ${this.requests.map((q) => q.path).join(", ")}`);
    return r;
  }

  to(path: string): FakeRequest[] {
    return this.requests.filter((q) => q.path.startsWith(path));
  }
}

/** The welcome of an HTTP connection. */
export function httpWelcome(send = "cap-1", session = "s1", extra: Json = {}): Json {
  return {
    type: "welcome",
    v: 1,
    session,
    connection: "c1",
    user: "u1",
    resumed: false,
    heartbeat: { intervalMs: 30000, timeoutMs: 5000 },
    resumeWindowMs: 120000,
    transport: "http",
    send,
    ...extra,
  };
}
