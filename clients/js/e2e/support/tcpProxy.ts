import { createConnection, createServer, type Server, type Socket } from "node:net";

/*
 * A TCP proxy between a browser page and the server: the page's "network". cut() resets every connection (the page
 * sees 1006, the server a dead peer) and refuses new ones until restore(); holdDownstream() stops forwarding what the
 * server sends (replies, deltas, pings are lost on the way) while what the page sends still arrives.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private up = true;
  private holding = false;
  port = 0;
  accepted = 0;

  constructor(private readonly targetPort: () => number) {}

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get open(): number {
    return this.pairs.size;
  }

  async listen(): Promise<void> {
    this.server = createServer((client) => this.onConnection(client));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    this.port = typeof address === "object" && address ? address.port : 0;
  }

  private onConnection(client: Socket): void {
    if (!this.up) {
      client.resetAndDestroy();
      return;
    }
    this.accepted++;
    const upstream = createConnection({ host: "127.0.0.1", port: this.targetPort() });
    const pair = { client, upstream };
    this.pairs.add(pair);
    const end = () => {
      if (this.pairs.delete(pair)) {
        client.destroy();
        upstream.destroy();
      }
    };
    client.on("data", (data) => upstream.write(data));
    upstream.on("data", (data) => {
      if (!this.holding) {
        client.write(data);
      }
    });
    for (const socket of [client, upstream]) {
      socket.on("error", end);
      socket.on("close", end);
    }
  }

  /** Resets every connection and refuses new ones: the network is down. */
  cut(): void {
    this.up = false;
    this.holding = false;
    for (const pair of this.pairs) {
      this.pairs.delete(pair);
      pair.client.resetAndDestroy();
      pair.upstream.resetAndDestroy();
    }
  }

  /** The network is back. */
  restore(): void {
    this.up = true;
    this.holding = false;
  }

  /** Drops everything the server sends from now on (until cut()). */
  holdDownstream(): void {
    this.holding = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
