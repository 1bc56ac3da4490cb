import { LifelineClient, type CloseEventLike, type LifelineClientOptions, type MessageEventLike, type WebSocketLike } from "@lifeline/client";

type Json = Record<string, unknown>;

/** A scripted in-memory WebSocket: the test plays the server; what the client sends is in `messages`. */
export class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: MessageEventLike) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onclose: ((event: CloseEventLike) => void) | null = null;
  readonly sent: string[] = [];

  send(data: string): void {
    if (this.readyState === 1) this.sent.push(data);
  }

  close(): void {
    if (this.readyState < 2) this.readyState = 2;
  }

  receive(...messages: Json[]): this {
    this.onmessage?.({ data: messages.map((m) => JSON.stringify(m)).join("\n") });
    return this;
  }

  welcome(): this {
    this.readyState = 1;
    this.onopen?.({ type: "open" });
    return this.receive({
      type: "welcome",
      v: 1,
      session: "s1",
      connection: "c1",
      user: "u1",
      resumed: false,
      heartbeat: { intervalMs: 30000, timeoutMs: 5000 },
      resumeWindowMs: 120000,
    });
  }

  get messages(): Json[] {
    return this.sent.map((s) => JSON.parse(s) as Json);
  }

  ofType(type: string): Json[] {
    return this.messages.filter((m) => m["type"] === type);
  }

  last(type: string): Json {
    const m = this.ofType(type).at(-1);
    if (m === undefined) throw new Error(`client sent no ${type}; sent: ${this.sent.join(" | ")}`);
    return m;
  }

  /** Answers the last `subscribe` of `channel` with `subscribed` + `snapshot`. */
  answerSubscribe(channel: string, state: Json, offset = 0, epoch = "e1"): this {
    const sub = this.last("subscribe");
    return this.receive(
      { type: "subscribed", id: sub["id"], channel, epoch, offset, recovered: false },
      { type: "snapshot", channel, epoch, offset, state },
    );
  }

  /** Answers a `publish` with its offset. */
  answerPublish(publish: Json, offset: number): this {
    return this.receive({ type: "reply", id: publish["id"], ok: true, offset });
  }

  /** Answers the last `unsubscribe`. */
  answerUnsubscribe(): this {
    const m = this.last("unsubscribe");
    return this.receive({ type: "reply", id: m["id"], ok: true });
  }
}

/** A client whose only socket is `socket` (no network events, no reconnects in these tests). */
export function fakeClient(options: LifelineClientOptions = {}): { client: LifelineClient; socket: FakeSocket } {
  const socket = new FakeSocket();
  const client = new LifelineClient("ws://test/ws", {
    transports: ["websocket"],
    networkEvents: null,
    webSocketFactory: () => socket,
    ...options,
  });
  return { client, socket };
}

/** Lets queued microtasks (the client's coalesced wire changes) run. */
export const flush = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
