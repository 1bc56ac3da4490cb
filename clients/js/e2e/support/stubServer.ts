import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { applyMergePatch, type JsonObject } from "../../src/json.js";

/*
 * A stand-in Lifeline server for browser tests of the client bundle until the real
 * `lifeline serve` is available to this package's tests: plain node:http, a minimal RFC 6455
 * framing (text, close, ping), and just enough protocol (hello, subscribe, publish, presence,
 * ping). It serves `/lifeline.js` from dist/ and a blank page at `/`. Not a reference server.
 */

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

interface Peer {
  readonly socket: Duplex;
  readonly channels: Set<string>;
  buffer: Buffer;
}

interface ChannelData {
  state: JsonObject;
  offset: number;
  readonly history: Array<{ offset: number; patch: JsonObject }>;
}

export interface StubOptions {
  /** Path of the built bundle. */
  bundlePath: string;
  heartbeat?: { intervalMs: number; timeoutMs: number };
}

export class StubServer {
  readonly received: Array<Record<string, unknown>> = [];
  private readonly server: Server;
  private readonly peers = new Set<Peer>();
  private readonly channels = new Map<string, ChannelData>();
  private readonly keys = new Map<string, number>();
  private readonly epoch = "stub-epoch";
  private sessionSeq = 0;
  private readonly options: StubOptions;

  constructor(options: StubOptions) {
    this.options = options;
    this.server = createServer((req, res) => {
      if (req.url === "/lifeline.js") {
        res.writeHead(200, { "content-type": "text/javascript", "cache-control": "no-store" });
        res.end(readFileSync(this.options.bundlePath));
        return;
      }
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><title>lifeline e2e</title><body></body>");
    });
    this.server.on("upgrade", (req: IncomingMessage, socket: Duplex) => this.upgrade(req, socket));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    return `127.0.0.1:${port}`;
  }

  get connections(): number {
    return this.peers.size;
  }

  /** Kills every connection without a close frame (the client sees 1006). */
  dropAll(): void {
    for (const peer of this.peers) peer.socket.destroy();
    this.peers.clear();
  }

  /** Publishes as if another client did. */
  publish(channel: string, patch: JsonObject): number {
    const data = this.channel(channel);
    data.offset++;
    data.state = applyMergePatch(data.state, patch) as JsonObject;
    data.history.push({ offset: data.offset, patch });
    const delta = JSON.stringify({ type: "delta", channel, offset: data.offset, patch, ts: Date.now() });
    for (const peer of this.peers) {
      if (peer.channels.has(channel)) this.sendText(peer, delta);
    }
    return data.offset;
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private channel(name: string): ChannelData {
    let data = this.channels.get(name);
    if (data === undefined) {
      data = { state: {}, offset: 0, history: [] };
      this.channels.set(name, data);
    }
    return data;
  }

  private upgrade(req: IncomingMessage, socket: Duplex): void {
    const key = req.headers["sec-websocket-key"];
    if (typeof key !== "string") {
      socket.destroy();
      return;
    }
    const accept = createHash("sha1").update(key + GUID).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const peer: Peer = { socket, channels: new Set(), buffer: Buffer.alloc(0) };
    this.peers.add(peer);
    socket.on("data", (chunk: Buffer) => {
      peer.buffer = Buffer.concat([peer.buffer, chunk]);
      this.readFrames(peer);
    });
    socket.on("close", () => this.peers.delete(peer));
    socket.on("error", () => this.peers.delete(peer));
  }

  private readFrames(peer: Peer): void {
    for (;;) {
      const b = peer.buffer;
      if (b.length < 2) return;
      const opcode = (b[0] ?? 0) & 0x0f;
      let len = (b[1] ?? 0) & 0x7f;
      let pos = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        pos = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        pos = 10;
      }
      if (b.length < pos + 4 + len) return;
      const mask = b.subarray(pos, pos + 4);
      const payload = Buffer.from(b.subarray(pos + 4, pos + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
      peer.buffer = b.subarray(pos + 4 + len);
      if (opcode === 0x1) this.onText(peer, payload.toString("utf8"));
      else if (opcode === 0x8) {
        this.sendFrame(peer, 0x8, payload.subarray(0, 2));
        peer.socket.end();
        this.peers.delete(peer);
        return;
      } else if (opcode === 0x9) this.sendFrame(peer, 0xa, payload);
    }
  }

  private onText(peer: Peer, text: string): void {
    const m = JSON.parse(text) as Record<string, unknown>;
    this.received.push(m);
    const id = m["id"];
    const name = m["channel"] as string;
    switch (m["type"]) {
      case "hello": {
        const hb = this.options.heartbeat ?? { intervalMs: 30000, timeoutMs: 5000 };
        const resumed = typeof m["resume"] === "string";
        const session = resumed ? (m["resume"] as string) : `stub-session-${++this.sessionSeq}`;
        this.send(peer, { type: "welcome", v: 1, session, connection: "c", user: null, resumed, heartbeat: hb, resumeWindowMs: 120000 });
        return;
      }
      case "ping":
        this.send(peer, { type: "pong", n: m["n"] });
        return;
      case "subscribe": {
        const data = this.channel(name);
        peer.channels.add(name);
        const since = m["since"] as { epoch: string; offset: number } | undefined;
        const recovered = since !== undefined && since.epoch === this.epoch;
        const out: unknown[] = [{ type: "subscribed", id, channel: name, epoch: this.epoch, offset: data.offset, recovered }];
        if (recovered) {
          for (const h of data.history) {
            if (h.offset > since.offset) out.push({ type: "delta", channel: name, offset: h.offset, patch: h.patch, ts: Date.now() });
          }
        } else {
          out.push({ type: "snapshot", channel: name, epoch: this.epoch, offset: data.offset, state: data.state });
        }
        // Packed into one frame, line-feed separated, as the real server does under load.
        this.sendText(peer, out.map((o) => JSON.stringify(o)).join("\n"));
        return;
      }
      case "unsubscribe":
        peer.channels.delete(name);
        this.send(peer, { type: "reply", id, ok: true });
        return;
      case "presence":
        this.send(peer, { type: "reply", id, ok: true, members: [] });
        return;
      case "publish": {
        const key = m["key"] as string;
        const known = this.keys.get(key);
        const offset = known ?? this.publish(name, m["patch"] as JsonObject);
        this.keys.set(key, offset);
        this.send(peer, { type: "reply", id, ok: true, offset });
        return;
      }
      default:
        this.send(peer, { type: "error", id, code: "unknown_type", message: "stub" });
    }
  }

  private send(peer: Peer, message: unknown): void {
    this.sendText(peer, JSON.stringify(message));
  }

  private sendText(peer: Peer, text: string): void {
    this.sendFrame(peer, 0x1, Buffer.from(text, "utf8"));
  }

  private sendFrame(peer: Peer, opcode: number, payload: Buffer): void {
    let header: Buffer;
    if (payload.length < 126) {
      header = Buffer.from([0x80 | opcode, payload.length]);
    } else if (payload.length < 65536) {
      header = Buffer.alloc(4);
      header[0] = 0x80 | opcode;
      header[1] = 126;
      header.writeUInt16BE(payload.length, 2);
    } else {
      header = Buffer.alloc(10);
      header[0] = 0x80 | opcode;
      header[1] = 127;
      header.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    if (!peer.socket.destroyed) peer.socket.write(Buffer.concat([header, payload]));
  }
}
