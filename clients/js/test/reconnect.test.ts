import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LifelineClient } from "../src/client.js";
import { CLOSE_AFTER_ERROR_MS, DEFAULT_CONNECT_TIMEOUT_MS } from "../src/options.js";
import { LifelineClosedError } from "../src/errors.js";
import { FakeClock } from "./support/fakeClock.js";
import { createHarness, openHarness, reconnect } from "./support/harness.js";

describe("connection state machine", () => {
  it("starts connecting, sends hello on open, is open after welcome", () => {
    const h = createHarness({ token: "tok", clientName: "test/1" });
    assert.equal(h.client.state, "connecting");
    assert.equal(h.sockets.length, 1);
    assert.equal(h.socket().url, "ws://test/ws");
    h.socket().open();
    assert.deepEqual(h.socket().messages, [{ type: "hello", v: 1, token: "tok", client: "test/1" }]);
    assert.equal(h.client.state, "connecting", "open means welcomed, not TCP-connected");
    h.socket().welcome({ session: "sess-A", user: "alice" });
    assert.equal(h.client.state, "open");
    assert.equal(h.client.session, "sess-A");
    assert.equal(h.client.user, "alice");
    assert.deepEqual(
      h.changes.map((c) => [c.from, c.to, c.reason]),
      [["connecting", "open", "welcome"]],
    );
    assert.equal(h.changes[0]?.ts, h.clock.now());
  });

  it("hello after a reconnect carries resume = last session; a token function is asked each time", () => {
    let n = 0;
    const h = openHarness({ token: () => `t${++n}` });
    reconnect(h, 1006, "s2");
    const hello = h.socket().messages[0];
    assert.deepEqual(hello, { type: "hello", v: 1, token: "t2", resume: "s1", client: "lifeline-js/0.1.0" });
    assert.equal(h.client.resumed, true);
    assert.equal(h.changes[h.changes.length - 1]?.reason, "resumed");
  });

  it("waits min(cap, base*2^k) * random between attempts, and no less", () => {
    const h = createHarness({ reconnect: { baseMs: 1000, capMs: 8000 } });
    const expected = [500, 1000, 2000, 4000, 4000, 4000];
    for (const delay of expected) {
      const before = h.sockets.length;
      h.socket().serverClose(1006);
      h.clock.advance(delay - 1);
      assert.equal(h.sockets.length, before, `no attempt before ${delay} ms`);
      h.clock.advance(1);
      assert.equal(h.sockets.length, before + 1, `attempt at ${delay} ms`);
    }
    assert.deepEqual(
      h.changes.map((c) => [c.from, c.to, c.retryInMs]),
      [["connecting", "reconnecting", 500]],
      "one state change: failed attempts while reconnecting stay reconnecting",
    );
  });

  it("the retry count restarts after a welcome", () => {
    const h = createHarness();
    h.socket().serverClose(1006);
    h.clock.advance(500);
    h.socket().serverClose(1006);
    h.clock.advance(1000);
    h.socket().welcome();
    h.socket().serverClose(1006);
    assert.equal(h.changes[h.changes.length - 1]?.retryInMs, 500);
  });

  it("error followed by close schedules exactly one reconnect", () => {
    const h = openHarness();
    h.socket().fail();
    h.socket().serverClose(1006);
    h.socket().fail();
    h.socket().serverClose(1006);
    h.clock.advance(10_000); // the retry delay is 500 ms; the next connect timeout is 15 s away
    assert.equal(h.sockets.length, 2, "one new attempt");
    assert.deepEqual(
      h.changes.map((c) => [c.to, c.code, c.initiator]),
      [["open", undefined, undefined], ["reconnecting", 1006, "network"]],
    );
  });

  it("error without close still ends the connection once, after CLOSE_AFTER_ERROR_MS", () => {
    const h = openHarness();
    const first = h.socket();
    first.fail();
    first.fail();
    h.clock.advance(CLOSE_AFTER_ERROR_MS - 1);
    assert.equal(h.client.state, "open");
    h.clock.advance(1);
    assert.equal(h.client.state, "reconnecting");
    assert.ok(first.detached);
    first.serverClose(1006); // a late close of the abandoned socket is ignored
    h.clock.advance(10_000);
    assert.equal(h.sockets.length, 2);
  });

  it("never has two attempts in flight", () => {
    const h = createHarness();
    for (let i = 0; i < 20; i++) {
      h.socket().welcome();
      h.socket().fail();
      h.socket().serverClose(1006);
      h.socket().fail();
      h.clock.advance(CLOSE_AFTER_ERROR_MS);
      const live = h.sockets.filter((s) => !s.detached);
      assert.ok(live.length <= 1, `at most one live socket, got ${live.length}`);
      assert.equal(h.sockets.length, i + 2, "exactly one attempt per lost connection");
    }
    assert.equal(h.sockets.filter((s) => !s.detached).length, 1);
  });

  for (const code of [1000, 1002, 1003, 1007, 1008, 1009, 4001]) {
    it(`close ${code} from the server is final: closed, no reconnect`, async () => {
      const h = openHarness();
      const publish = h.client.channel("c").publish({ a: 1 });
      h.socket().serverClose(code, code === 4001 ? "unauthorized" : "");
      assert.equal(h.client.state, "closed");
      const last = h.changes[h.changes.length - 1];
      assert.equal(last?.to, "closed");
      assert.equal(last?.code, code);
      h.clock.advance(10 * 60_000);
      assert.equal(h.sockets.length, 1);
      await assert.rejects(publish, LifelineClosedError);
      await assert.rejects(h.client.channel("c").publish({ a: 2 }), LifelineClosedError);
    });
  }

  it("a non-retryable close during the first attempt is final too", () => {
    const h = createHarness();
    h.socket().open().serverClose(4001, "unauthorized");
    assert.equal(h.client.state, "closed");
    assert.equal(h.changes[0]?.reason, "unauthorized");
  });

  for (const code of [1001, 1006, 1011, 1012, 1013, 4000]) {
    it(`close ${code} reconnects with backoff`, () => {
      const h = openHarness();
      h.socket().serverClose(code);
      assert.equal(h.client.state, "reconnecting");
      h.clock.advance(500);
      assert.equal(h.sockets.length, 2);
    });
  }

  it("1001 retry_after_ms=N is honoured: no attempt before N (+ jitter)", () => {
    const h = openHarness({ random: () => 0 });
    h.socket().serverClose(1001, "retry_after_ms=5000");
    assert.equal(h.changes[h.changes.length - 1]?.retryInMs, 5000);
    h.clock.advance(4999);
    assert.equal(h.sockets.length, 1);
    h.clock.advance(1);
    assert.equal(h.sockets.length, 2);

    const j = openHarness({ random: () => 0.5 });
    j.socket().serverClose(1001, "retry_after_ms=5000");
    assert.equal(j.changes[j.changes.length - 1]?.retryInMs, 5500, "jitter on top of the hint");
  });

  it("maxAttempts: gives up and closes with retries_exhausted", () => {
    const h = openHarness({ reconnect: { maxAttempts: 3 } });
    for (let i = 0; i < 3; i++) {
      h.socket().serverClose(1006);
      h.clock.advance(60_000);
    }
    assert.equal(h.sockets.length, 4);
    h.socket().serverClose(1006);
    assert.equal(h.client.state, "closed");
    assert.equal(h.changes[h.changes.length - 1]?.reason, "retries_exhausted");
  });

  it("a custom retry policy sees the context; a throwing one stops the client", () => {
    const seen: Array<[number, string, number | undefined]> = [];
    const h = openHarness({
      retryPolicy: {
        nextRetryDelayMs: (c) => {
          seen.push([c.retryCount, c.reason, c.code]);
          if (c.retryCount === 1) throw new Error("boom");
          return 10;
        },
      },
    });
    h.socket().serverClose(1013, "try_again_later");
    h.clock.advance(10);
    h.socket().serverClose(1006);
    assert.deepEqual(seen, [[0, "try_again_later", 1013], [1, "connection_lost", 1006]]);
    assert.equal(h.client.state, "closed");
    assert.ok(h.errors.some((e) => e.code === "retry_policy_failed"));
  });

  it("an attempt without welcome in connectTimeoutMs is abandoned and retried", () => {
    const h = createHarness();
    h.socket().open();
    h.clock.advance(DEFAULT_CONNECT_TIMEOUT_MS - 1);
    assert.equal(h.sockets.length, 1);
    h.clock.advance(1);
    assert.equal(h.client.state, "reconnecting");
    assert.equal(h.changes[0]?.reason, "connect_timeout");
    assert.ok(h.sockets[0]?.detached);
    assert.equal(h.sockets[0]?.closedByClient?.code, 4000);
  });

  it("close() closes the socket with 1000, stops everything and is idempotent", async () => {
    const h = openHarness();
    const socket = h.socket();
    h.client.close();
    h.client.close();
    assert.equal(h.client.state, "closed");
    assert.deepEqual(socket.closedByClient, { code: 1000, reason: "client_close" });
    assert.equal(h.clock.pending, 0, "no timer left behind");
    h.clock.advance(10 * 60_000);
    assert.equal(h.sockets.length, 1);
    assert.deepEqual(h.changes.map((c) => [c.to, c.reason, c.initiator]), [["open", "welcome", undefined], ["closed", "client_close", "client"]]);
  });

  it("close() while waiting to reconnect cancels the attempt", () => {
    const h = openHarness();
    h.socket().serverClose(1006);
    h.client.close();
    assert.equal(h.clock.pending, 0);
    h.clock.advance(60_000);
    assert.equal(h.sockets.length, 1);
  });

  it("a factory that throws counts as a failed attempt; an invalid URL is final", () => {
    const clock = new FakeClock();
    let calls = 0;
    const client = new LifelineClient("ws://x", {
      clock,
      onError: () => undefined,
      random: () => 0.5,
      webSocketFactory: () => {
        calls++;
        throw new Error("blocked");
      },
    });
    assert.equal(client.state, "reconnecting");
    clock.advance(500);
    assert.equal(calls, 2);
    client.close();

    const bad = new LifelineClient("nope", {
      clock,
      onError: () => undefined,
      webSocketFactory: () => {
        const e = new Error("bad url");
        e.name = "SyntaxError";
        throw e;
      },
    });
    assert.equal(bad.state, "closed");
  });

  it("a throwing state listener does not stop the others", () => {
    const h = createHarness();
    const seen: string[] = [];
    h.client.onStateChange(() => {
      throw new Error("listener bug");
    });
    h.client.onStateChange((c) => seen.push(c.to));
    h.socket().welcome();
    assert.deepEqual(seen, ["open"]);
    assert.ok(h.errors.some((e) => e.code === "handler_error"));
  });
});
