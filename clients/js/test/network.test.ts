import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LifelineClosedError } from "../src/errors.js";
import { browserNetworkEvents } from "../src/networkEvents.js";
import { TransportLadder } from "../src/transportLadder.js";
import { flush } from "./support/fakeClock.js";
import { FakeHttp, httpWelcome } from "./support/fakeHttp.js";
import { FakeNetwork } from "./support/fakeNetwork.js";
import { createHarness, openHarness } from "./support/harness.js";

function last<T>(items: readonly T[]): T | undefined {
  return items[items.length - 1];
}

describe("network awareness (issue 15)", () => {
  it("offline: reconnecting with reason offline at once, the socket abandoned", () => {
    const network = new FakeNetwork();
    const h = openHarness({ networkEvents: network });
    const socket = h.socket();
    network.offline();
    assert.equal(h.client.state, "reconnecting");
    const change = last(h.changes);
    assert.equal(change?.reason, "offline");
    assert.equal(change?.initiator, "network");
    assert.ok(socket.detached, "the socket is abandoned");
    assert.equal(socket.closedByClient?.code, 4000);
    assert.equal(h.clock.now(), change?.ts, "at once: no time passed");
  });

  it("offline while an attempt is in flight abandons it; while waiting it changes nothing", () => {
    const network = new FakeNetwork();
    const h = createHarness({ networkEvents: network });
    network.offline();
    assert.equal(h.client.state, "reconnecting");
    assert.equal(last(h.changes)?.reason, "offline");
    assert.ok(h.socket().detached);
    const changes = h.changes.length;
    network.offline();
    assert.equal(h.changes.length, changes);
    assert.equal(h.sockets.length, 1, "no new attempt");
  });

  it("online: an attempt at once, cancelling a backoff wait at its cap", () => {
    const network = new FakeNetwork();
    const h = openHarness({ networkEvents: network, reconnect: { baseMs: 1000, capMs: 30_000 }, random: () => 0.999 });
    network.offline();
    // Attempts keep failing while offline until the backoff is at its cap (the wait before attempt k is
    // floor(0.999 * min(30 s, 1 s * 2^k))).
    for (let k = 0; k < 8; k++) {
      const before = h.sockets.length;
      h.clock.advance(Math.floor(0.999 * Math.min(30_000, 1000 * 2 ** k)));
      assert.equal(h.sockets.length, before + 1, `attempt ${k}`);
      h.socket().serverClose(1006);
    }
    const waiting = h.sockets.length;
    assert.equal(h.client.state, "reconnecting");
    h.clock.advance(20_000); // 20 s into a 29.97 s wait
    assert.equal(h.sockets.length, waiting);
    network.online();
    assert.equal(h.sockets.length, waiting + 1, "a new attempt without waiting");
    h.socket().welcome({ resumed: true });
    assert.equal(h.client.state, "open");
    // The cancelled timer does not start a second attempt later.
    h.clock.advance(30_000);
    assert.equal(h.sockets.length, waiting + 1);
    // The backoff starts over after an online: the next wait is the first window.
    h.socket().serverClose(1006);
    assert.ok((last(h.changes)?.retryInMs ?? Infinity) < 1000);
  });

  it("offline attempts are not counted against the WebSocket transport", () => {
    const network = new FakeNetwork();
    const h = openHarness({ networkEvents: network, transports: ["websocket", "http-stream"], fetch: () => new Promise(() => undefined) });
    network.offline();
    for (let i = 0; i < 4; i++) {
      h.clock.advance(60_000);
      h.socket().serverClose(1006);
    }
    network.online();
    assert.equal(h.client.transport, "websocket");
  });

  it("online while an attempt started offline is in flight: it is replaced at once (never two in flight)", () => {
    const network = new FakeNetwork();
    const h = openHarness({ networkEvents: network });
    network.offline();
    h.clock.advance(last(h.changes)?.retryInMs ?? 0);
    const stuck = h.socket();
    assert.equal(h.sockets.length, 2);
    network.online();
    assert.ok(stuck.detached, "the attempt made offline is dropped");
    h.clock.advance(0);
    assert.equal(h.sockets.length, 3);
    assert.equal(h.sockets.filter((s) => !s.detached).length, 1);
    h.socket().welcome();
    assert.equal(h.client.state, "open");
  });

  it("online while open probes the connection", () => {
    const network = new FakeNetwork();
    const h = openHarness({ networkEvents: network });
    network.online();
    assert.equal(h.socket().ofType("ping").length, 1);
  });

  it("wake: a ping at once; the pong keeps the connection", () => {
    const network = new FakeNetwork();
    const h = createHarness({ networkEvents: network });
    h.socket().welcome({ intervalMs: 30_000, timeoutMs: 5_000 });
    network.wake();
    const ping = h.socket().last("ping");
    assert.equal(typeof ping["n"], "number");
    network.wake(); // one probe at a time
    assert.equal(h.socket().ofType("ping").length, 1);
    h.clock.advance(4_999);
    h.socket().receive({ type: "pong", n: ping["n"] as number });
    h.clock.advance(10_000);
    assert.equal(h.client.state, "open");
    assert.equal(h.sockets.length, 1);
  });

  it("wake: no pong within the heartbeat timeout abandons the connection and reconnects at once", () => {
    const network = new FakeNetwork();
    const h = createHarness({ networkEvents: network });
    h.socket().welcome({ intervalMs: 30_000, timeoutMs: 5_000 });
    const dead = h.socket();
    network.wake();
    const n = dead.last("ping")["n"] as number;
    dead.receive({ type: "pong", n: n + 100 }); // not ours
    dead.receive({ type: "ping", n: 3 }); // the server's own ping is answered, but is no pong
    h.clock.advance(4_999);
    assert.equal(h.client.state, "open");
    h.clock.advance(1);
    assert.equal(h.client.state, "reconnecting");
    assert.equal(last(h.changes)?.reason, "probe_timeout");
    assert.equal(last(h.changes)?.retryInMs, 0);
    assert.ok(dead.detached);
    h.clock.advance(0);
    assert.equal(h.sockets.length, 2, "one attempt at once");
    assert.equal(h.socket().url, "ws://test/ws");
  });

  it("wake while waiting for a backoff attempt starts it now; wake while offline does not", () => {
    const network = new FakeNetwork();
    const h = openHarness({ networkEvents: network, random: () => 0.99 });
    h.socket().serverClose(1006);
    assert.ok((last(h.changes)?.retryInMs ?? 0) > 500);
    network.wake();
    assert.equal(h.sockets.length, 2);
    h.socket().serverClose(1006);
    network.offline();
    network.wake();
    assert.equal(h.sockets.length, 2, "offline: wake waits for online");
  });

  it("listeners are attached at start, removed on close(), attached again by connect()", async () => {
    const network = new FakeNetwork();
    const h = openHarness({ networkEvents: network });
    assert.equal(network.subscriptions, 1);
    assert.ok(network.attached);
    h.client.close();
    assert.equal(network.unsubscriptions, 1);
    assert.equal(network.attached, false);
    const opened = h.client.connect();
    assert.ok(network.attached);
    assert.equal(network.subscriptions, 2);
    h.socket().welcome({ resumed: true });
    await opened;
  });

  it("connect() whose `connecting` listener closes the client again: no listener left attached, no attempt", async () => {
    const network = new FakeNetwork();
    const h = openHarness({ networkEvents: network });
    h.client.close();
    const off = h.client.onStateChange((c) => {
      if (c.to === "connecting") h.client.close();
    });
    const opened = h.client.connect();
    off();
    await assert.rejects(opened, LifelineClosedError);
    assert.equal(h.client.state, "closed");
    assert.equal(network.attached, false, "closed: the network listeners stay removed");
    assert.equal(network.subscriptions, 1);
    assert.equal(h.sockets.length, 1, "no attempt");
    // A later connect() attaches them again.
    const again = h.client.connect();
    assert.ok(network.attached);
    h.socket().welcome({ resumed: true });
    await again;
  });

  it("listeners are removed when the client gives up", () => {
    const network = new FakeNetwork();
    const h = openHarness({ networkEvents: network, reconnect: { maxAttempts: 0 } });
    h.socket().serverClose(1006);
    assert.equal(h.client.state, "closed");
    assert.equal(network.attached, false);
  });

  it("networkEvents: null attaches nothing; the default attaches nothing where there is no window", async () => {
    const h = openHarness({ networkEvents: null });
    h.client.close();
    const detach = browserNetworkEvents.subscribe({ offline: () => undefined, online: () => undefined, wake: () => undefined });
    detach();
    await flush();
  });

  it("the default listens on window and document when they exist, and removes every listener", () => {
    const added = new Map<string, (event: unknown) => void>();
    const removed: string[] = [];
    const target = (prefix: string) => ({
      visibilityState: "visible",
      addEventListener: (type: string, fn: (event: unknown) => void) => added.set(`${prefix}:${type}`, fn),
      removeEventListener: (type: string) => removed.push(`${prefix}:${type}`),
    });
    const g = globalThis as Record<string, unknown>;
    g["window"] = target("window");
    g["document"] = target("document");
    try {
      const calls: string[] = [];
      const detach = browserNetworkEvents.subscribe({ offline: () => calls.push("offline"), online: () => calls.push("online"), wake: () => calls.push("wake") });
      assert.deepEqual([...added.keys()].sort(), ["document:resume", "document:visibilitychange", "window:offline", "window:online", "window:pageshow"]);
      added.get("window:offline")?.({});
      added.get("window:online")?.({});
      added.get("window:pageshow")?.({ persisted: false });
      added.get("window:pageshow")?.({ persisted: true });
      added.get("document:visibilitychange")?.({});
      added.get("document:resume")?.({});
      assert.deepEqual(calls, ["offline", "online", "wake", "wake", "wake"]);
      detach();
      assert.deepEqual(removed.sort(), [...added.keys()].sort());
    } finally {
      delete g["window"];
      delete g["document"];
    }
  });

  it("on the HTTP transport: the probe's ping goes by POST /send; offline abandons the stream", async () => {
    const settle = async () => {
      for (let i = 0; i < 6; i++) await flush();
    };
    try {
      const network = new FakeNetwork();
      const http = new FakeHttp();
      const h = createHarness({ networkEvents: network, transports: ["http-stream"], fetch: http.fetch });
      await settle();
      http.last("/ws/stream").stream().events(httpWelcome("cap-9", "s1", { heartbeat: { intervalMs: 30_000, timeoutMs: 2_000 } }));
      await settle();
      assert.equal(h.client.state, "open");
      network.wake();
      await settle();
      const send = http.last("/ws/send");
      const ping = send.messages.find((m) => m["type"] === "ping");
      assert.ok(ping, JSON.stringify(send.messages));
      send.status(204);
      http.last("/ws/stream").events({ type: "pong", n: ping["n"] as number });
      await settle();
      h.clock.advance(2_000);
      assert.equal(h.client.state, "open", "the pong came back over the stream");
      network.offline();
      assert.equal(h.client.state, "reconnecting");
      assert.equal(last(h.changes)?.reason, "offline");
      assert.equal(last(h.changes)?.transport, "http-stream");
    } finally {
      TransportLadder.forgetAll();
    }
  });
});
