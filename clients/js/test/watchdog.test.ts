import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_WATCHDOG_SLACK_MS } from "../src/options.js";
import { createHarness } from "./support/harness.js";

describe("receive watchdog and heartbeat", () => {
  it("fires after interval + timeout + slack of silence, and not before", () => {
    const h = createHarness({ watchdogSlackMs: 1500 });
    h.socket().welcome({ intervalMs: 10_000, timeoutMs: 3_000 });
    const limit = 10_000 + 3_000 + 1500;
    h.clock.advance(limit - 1);
    assert.equal(h.client.state, "open");
    h.clock.advance(1);
    assert.equal(h.client.state, "reconnecting");
    const change = h.changes[h.changes.length - 1];
    assert.equal(change?.reason, "watchdog");
    assert.equal(change?.initiator, "client");
    assert.equal(change?.code, undefined);
    assert.ok(h.sockets[0]?.detached, "the dead socket is abandoned");
    assert.equal(h.sockets[0]?.closedByClient?.code, 4000);
    h.clock.advance(change?.retryInMs ?? 0);
    assert.equal(h.sockets.length, 2, "and one reconnect follows");
  });

  it("anything received pushes the deadline back", () => {
    const h = createHarness();
    h.socket().welcome({ intervalMs: 1000, timeoutMs: 500 });
    const limit = 1000 + 500 + DEFAULT_WATCHDOG_SLACK_MS;
    for (let i = 0; i < 10; i++) {
      h.clock.advance(limit - 1);
      h.socket().receive({ type: "ping", n: i });
    }
    assert.equal(h.client.state, "open");
    h.clock.advance(limit - 1);
    assert.equal(h.client.state, "open");
    h.clock.advance(1);
    assert.equal(h.client.state, "reconnecting");
  });

  it("the deadline is measured from the last message received", () => {
    const h = createHarness({ watchdogSlackMs: 2000 });
    h.socket().welcome({ intervalMs: 1000, timeoutMs: 500 });
    h.clock.advance(1234);
    h.socket().receive({ type: "pong", n: 1 });
    h.clock.advance(3499);
    assert.equal(h.client.state, "open");
    h.clock.advance(1);
    assert.equal(h.client.state, "reconnecting");
  });

  it("even a malformed message counts as a sign of life", () => {
    const h = createHarness({ watchdogSlackMs: 0 });
    h.socket().welcome({ intervalMs: 1000, timeoutMs: 0 });
    h.clock.advance(999);
    h.socket().receive("{not json");
    h.clock.advance(999);
    assert.equal(h.client.state, "open");
  });

  it("answers each ping with a pong carrying the same n, from the message handler", () => {
    const h = createHarness();
    h.socket().welcome();
    h.socket().receive({ type: "ping", n: 17 });
    assert.deepEqual(h.socket().last("pong"), { type: "pong", n: 17 });
    h.socket().receive({ type: "ping", n: 18 }, { type: "ping", n: 19 });
    assert.deepEqual(h.socket().ofType("pong").map((m) => m["n"]), [17, 18, 19]);
  });

  it("a ping before welcome is answered too", () => {
    const h = createHarness();
    h.socket().open().receive({ type: "ping", n: 1 });
    assert.deepEqual(h.socket().last("pong"), { type: "pong", n: 1 });
  });

  it("heartbeat.intervalMs 0 means no watchdog", () => {
    const h = createHarness();
    h.socket().welcome({ intervalMs: 0, timeoutMs: 0 });
    h.clock.advance(10 * 60_000);
    assert.equal(h.client.state, "open");
  });

  it("the watchdog of an old connection never fires on the new one", () => {
    const h = createHarness({ watchdogSlackMs: 0 });
    h.socket().welcome({ intervalMs: 1000, timeoutMs: 0 });
    h.clock.advance(500);
    h.socket().serverClose(1006);
    h.clock.advance(500);
    h.socket().welcome({ intervalMs: 5000, timeoutMs: 0 });
    h.clock.advance(4999);
    assert.equal(h.client.state, "open");
    assert.equal(h.clock.pending, 1, "one watchdog timer, no leftovers");
  });
});
