import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { closeCodeInfo } from "../src/closeCodes.js";
import { LifelineClosedError, LifelineRequestError, LifelineTokenError } from "../src/errors.js";
import { DEFAULT_CONNECT_TIMEOUT_MS, refreshDelayMs, type TokenRequest } from "../src/options.js";
import { flush } from "./support/fakeClock.js";
import type { FakeSocket } from "./support/fakeSocket.js";
import { createHarness, openHarness, type Harness } from "./support/harness.js";

/*
 * The token function (sync or async), refresh ahead of expiry, close 4002 (token_expired), on fake time and fake
 * sockets. Jitter draws 0.5: the first reconnect waits 500 ms, a first refresh retry 750 ms (half the window at least).
 */

/** A token function that records what it was asked and answers `tok-<n>` (or what `answer` says). */
function provider(answer?: (request: TokenRequest, n: number) => string | undefined | Promise<string | undefined>) {
  const asked: Array<TokenRequest["reason"]> = [];
  const fn = (request: TokenRequest) => {
    asked.push(request.reason);
    return answer === undefined ? `tok-${asked.length}` : answer(request, asked.length);
  };
  return { fn, asked };
}

function answerRefresh(socket: FakeSocket, reply: Record<string, unknown>) {
  const refresh = socket.last("refresh");
  socket.receive({ type: "reply", id: refresh["id"], ...reply });
}

/** No error, state change or other report holds any of the tokens handed out. */
function assertNoTokenLeaks(h: Harness, tokens: string[]) {
  const reported = JSON.stringify([
    h.errors.map((e) => [e.message, String(e), (e as { raw?: string }).raw]),
    h.changes.map((c) => [c.reason, c.error?.message]),
  ]);
  for (const token of tokens) assert.ok(!reported.includes(token), `a token leaked into a report: ${reported}`);
}

describe("token function", () => {
  it("a Promise of a token: the socket is created after it resolves and hello carries it", async () => {
    let resolve!: (token: string) => void;
    const p = provider(() => new Promise<string>((r) => (resolve = r)));
    const h = createHarness({ token: p.fn, clientName: "t" });
    assert.equal(h.sockets.length, 0, "no socket before the token");
    assert.deepEqual(p.asked, ["connect"]);
    resolve("async-token");
    await flush();
    assert.equal(h.sockets.length, 1);
    h.socket().open();
    assert.deepEqual(h.socket().messages, [{ type: "hello", v: 1, token: "async-token", client: "t" }]);
    h.socket().welcome();
    assert.equal(h.client.state, "open");
  });

  it("a synchronous token function is asked before every attempt, the socket comes at once", () => {
    const p = provider();
    const h = openHarness({ token: p.fn });
    h.socket().serverClose(1006);
    h.clock.advance(500);
    assert.equal(h.sockets.length, 2);
    h.socket().open();
    assert.equal(h.socket().last("hello")["token"], "tok-2");
    assert.deepEqual(p.asked, ["connect", "connect"]);
  });

  // [what, answer, message]; an asynchronous failure comes after the constructor, so its state change is seen.
  const failures: Array<[string, (request: TokenRequest, n: number) => string | undefined | Promise<string | undefined>, RegExp]> = [
    ["throws", () => { throw new Error("auth server down"); }, /failed for a connection attempt: auth server down/],
    ["rejects", () => Promise.reject(new Error("auth server down")), /failed for a connection attempt: auth server down/],
    ["returns undefined", () => undefined, /returned nothing/],
    ["resolves to undefined", () => Promise.resolve(undefined), /returned nothing/],
    ["returns an empty string", () => "", /returned an empty string/],
    ["returns a non-string", () => 42 as unknown as string, /returned a number, not a string/],
  ];
  for (const [what, answer, message] of failures) {
    it(`a token function that ${what}: a failed attempt (backoff, error event, state change with the error), then asked again`, async () => {
      let failing = true;
      const p = provider((request, n) => (failing ? answer(request, n) : `good-${n}`));
      const h = createHarness({ token: p.fn });
      await flush();
      assert.equal(h.sockets.length, 0, "no socket without a token");
      assert.equal(h.client.state, "reconnecting");
      assert.equal(h.errors.length, 1);
      const error = h.errors[0];
      assert.ok(error instanceof LifelineTokenError);
      assert.equal(error.code, "token_failed");
      assert.equal(error.reason, "connect");
      assert.match(error.message, message);
      // A synchronous failure happens inside the constructor, before a state listener can be registered.
      const change = h.changes[0];
      if (/rejects|resolves/.test(what)) assert.ok(change !== undefined, "an asynchronous failure is seen by the state listener");
      if (change !== undefined) {
        assert.deepEqual([change.to, change.reason, change.initiator, change.retryInMs], ["reconnecting", "token_failed", "client", 500]);
        assert.equal(change.error, error, "the state change carries the error of the error event");
      }

      h.clock.advance(499);
      assert.equal(p.asked.length, 1);
      h.clock.advance(1);
      await flush();
      assert.equal(p.asked.length, 2, "asked again after the backoff");
      assert.ok(h.changes.length <= 1, "no state change while reconnecting");
      h.clock.advance(1000); // attempt k=1 waits 1000 ms
      await flush();
      assert.equal(p.asked.length, 3);

      failing = false;
      h.clock.advance(2000);
      await flush();
      assert.equal(h.sockets.length, 1);
      h.socket().open();
      assert.equal(h.socket().last("hello")["token"], "good-4");
      h.socket().welcome();
      assert.equal(h.client.state, "open");
      assert.deepEqual(p.asked, ["connect", "connect", "connect", "connect"]);
    });
  }

  it("a token function that never answers: the attempt times out (token_timeout) and a late answer is ignored", async () => {
    const resolvers: Array<(t: string) => void> = [];
    const p = provider(() => new Promise<string>((r) => resolvers.push(r)));
    const h = createHarness({ token: p.fn });
    h.clock.advance(DEFAULT_CONNECT_TIMEOUT_MS - 1);
    assert.equal(h.client.state, "connecting");
    h.clock.advance(1);
    assert.equal(h.client.state, "reconnecting");
    assert.equal(h.changes[0]?.reason, "token_timeout");
    assert.ok(h.changes[0]?.error instanceof LifelineTokenError);
    resolvers[0]?.("too-late");
    await flush();
    assert.equal(h.sockets.length, 0, "a late token opens nothing");
    h.clock.advance(500);
    assert.equal(p.asked.length, 2);
    resolvers[1]?.("in-time");
    await flush();
    assert.equal(h.sockets.length, 1);
    h.socket().open();
    assert.equal(h.socket().last("hello")["token"], "in-time");
  });

  it("close() while the token is being asked: nothing opens afterwards, no timer is left", async () => {
    let resolve!: (token: string) => void;
    const h = createHarness({ token: () => new Promise<string>((r) => (resolve = r)) });
    h.client.close();
    resolve("late");
    await flush();
    assert.equal(h.sockets.length, 0);
    assert.equal(h.clock.pending, 0);
    assert.equal(h.client.state, "closed");
  });

  it("a rejection after close() is not unhandled and not reported", async () => {
    let reject!: (e: Error) => void;
    const h = createHarness({ token: () => new Promise<string>((_, r) => (reject = r)) });
    h.client.close();
    reject(new Error("late failure"));
    await flush();
    assert.deepEqual(h.errors, []);
  });

  it("an invalid token option is refused at construction", () => {
    assert.throws(() => createHarness({ token: 42 as unknown as string }), TypeError);
  });
});

describe("token refresh", () => {
  it("refreshDelayMs: 80% of the lifetime, at the latest 30 s before expiry, never sooner than 30 s in", () => {
    const cases: Array<[number, number]> = [
      [0, 0],
      [3_000, 2_400],
      [30_000, 24_000],
      [37_500, 30_000],
      [40_000, 30_000],
      [60_000, 30_000],
      [100_000, 70_000],
      [150_000, 120_000],
      [600_000, 480_000],
      [3_600_000, 2_880_000],
    ];
    for (const [lifetime, delay] of cases) assert.equal(refreshDelayMs(lifetime), delay, `lifetime ${lifetime}`);
  });

  for (const [lifetime, due] of [[3_000, 2_400], [100_000, 70_000], [600_000, 480_000]] as const) {
    it(`welcome.tokenExpiresInMs=${lifetime}: refresh at ${due} ms with a fresh token; the reply's value schedules the next`, async () => {
      const p = provider();
      const h = createHarness({ token: p.fn });
      h.socket().welcome({ tokenExpiresInMs: lifetime, intervalMs: 0 });
      h.clock.advance(due - 1);
      await flush();
      assert.equal(h.socket().ofType("refresh").length, 0, "not before");
      h.clock.advance(1);
      await flush();
      const refresh = h.socket().last("refresh");
      assert.deepEqual(refresh, { type: "refresh", id: refresh["id"], token: "tok-2" });
      assert.equal(typeof refresh["id"], "number");
      assert.deepEqual(p.asked, ["connect", "refresh"]);

      answerRefresh(h.socket(), { ok: true, tokenExpiresInMs: lifetime });
      h.clock.advance(due - 1);
      await flush();
      assert.equal(h.socket().ofType("refresh").length, 1);
      h.clock.advance(1);
      await flush();
      assert.equal(h.socket().ofType("refresh").length, 2);
      assert.equal(h.socket().last("refresh")["token"], "tok-3");
      assert.equal(h.client.state, "open");
      assert.deepEqual(h.errors, []);
    });
  }

  it("a 3 s token on a 20 s connection: refreshed every 2.4 s, no reconnect, one timer at a time", async () => {
    const h = createHarness({ token: provider().fn });
    h.socket().welcome({ tokenExpiresInMs: 3000, intervalMs: 0 });
    let answered = 0;
    for (let t = 0; t < 20_000; t += 100) {
      h.clock.advance(100);
      await flush();
      const refreshes = h.socket().ofType("refresh");
      if (refreshes.length > answered) {
        assert.equal(refreshes.length, answered + 1, "one refresh at a time");
        answerRefresh(h.socket(), { ok: true, tokenExpiresInMs: 3000 });
        answered++;
      }
      assert.ok(h.clock.pending <= 1, `at most the refresh timer is pending, got ${h.clock.pending}`);
    }
    assert.equal(answered, 8);
    assert.equal(h.sockets.length, 1);
    assert.equal(h.client.state, "open");
  });

  it("the reply's new lifetime is used, not the first one", async () => {
    const h = createHarness({ token: provider().fn });
    h.socket().welcome({ tokenExpiresInMs: 3000, intervalMs: 0 });
    h.clock.advance(2400);
    await flush();
    answerRefresh(h.socket(), { ok: true, tokenExpiresInMs: 100_000 });
    h.clock.advance(69_999);
    await flush();
    assert.equal(h.socket().ofType("refresh").length, 1);
    h.clock.advance(1);
    await flush();
    assert.equal(h.socket().ofType("refresh").length, 2);
  });

  it("ok without tokenExpiresInMs: no further refresh", async () => {
    const h = createHarness({ token: provider().fn });
    h.socket().welcome({ tokenExpiresInMs: 3000, intervalMs: 0 });
    h.clock.advance(2400);
    await flush();
    answerRefresh(h.socket(), { ok: true });
    h.clock.advance(10 * 60_000);
    await flush();
    assert.equal(h.socket().ofType("refresh").length, 1);
  });

  it("ok:false (forbidden): reported, retried with backoff until expiry, then left to the server's 4002", async () => {
    const h = createHarness({ token: provider().fn });
    h.socket().welcome({ tokenExpiresInMs: 100_000, intervalMs: 0 });
    const refreshes = () => h.socket().ofType("refresh").length;
    const refuse = () => answerRefresh(h.socket(), { ok: false, error: { code: "forbidden", message: "token refused" } });
    h.clock.advance(70_000);
    await flush();
    assert.equal(refreshes(), 1);
    refuse();
    assert.equal(h.errors.length, 1);
    assert.ok(h.errors[0] instanceof LifelineRequestError);
    assert.equal(h.errors[0]?.code, "forbidden");
    assert.match(h.errors[0]?.message ?? "", /token refresh refused/);
    // Windows 1000, 2000, 4000, ... ms; with jitter 0.5 each delay is 3/4 of its window. Expiry is at 100 000.
    for (const delay of [750, 1500, 3000, 6000, 12000]) {
      h.clock.advance(delay - 1);
      await flush();
      const before = refreshes();
      h.clock.advance(1);
      await flush();
      assert.equal(refreshes(), before + 1, `retry after ${delay} ms`);
      refuse();
    }
    // Now at 93 250: the next retry (+24 000) would land after expiry: none.
    h.clock.advance(60_000);
    await flush();
    assert.equal(refreshes(), 6);
    assert.equal(h.errors.length, 6);
    assert.equal(h.client.state, "open", "the client does not close on its own: the server's 4002 does");
    assert.equal(h.clock.pending, 0);
  });

  it("a token function that throws or rejects during a refresh: reported, retried with backoff, never unhandled", async () => {
    let mode: "ok" | "throw" | "reject" | "nothing" = "ok";
    const p = provider((_, n) => {
      if (mode === "throw") throw new Error("no token");
      if (mode === "reject") return Promise.reject(new Error("no token"));
      if (mode === "nothing") return Promise.resolve(undefined);
      return `tok-${n}`;
    });
    const h = createHarness({ token: p.fn });
    h.socket().welcome({ tokenExpiresInMs: 100_000, intervalMs: 0 });
    mode = "throw";
    h.clock.advance(70_000);
    await flush();
    assert.equal(h.errors.length, 1);
    assert.ok(h.errors[0] instanceof LifelineTokenError);
    assert.equal((h.errors[0] as LifelineTokenError).reason, "refresh");
    mode = "reject";
    h.clock.advance(750);
    await flush();
    assert.equal(h.errors.length, 2);
    mode = "nothing";
    h.clock.advance(1500);
    await flush();
    assert.equal(h.errors.length, 3);
    assert.match(h.errors[2]?.message ?? "", /returned nothing for a token refresh/);
    mode = "ok";
    h.clock.advance(3000);
    await flush();
    assert.equal(h.socket().ofType("refresh").length, 1, "sent once the function answers");
    assert.deepEqual(p.asked, ["connect", "refresh", "refresh", "refresh", "refresh"]);
    answerRefresh(h.socket(), { ok: true, tokenExpiresInMs: 100_000 });
    // The failures restart from the first window after a success.
    mode = "throw";
    h.clock.advance(70_000);
    await flush();
    assert.equal(h.errors.length, 4);
    h.clock.advance(750);
    await flush();
    assert.equal(h.errors.length, 5);
    assert.equal(h.client.state, "open");
  });

  it("an error message answering the refresh counts as a failed refresh", async () => {
    const h = createHarness({ token: provider().fn });
    h.socket().welcome({ tokenExpiresInMs: 100_000, intervalMs: 0 });
    h.clock.advance(70_000);
    await flush();
    const id = h.socket().last("refresh")["id"];
    h.socket().receive({ type: "error", id, code: "invalid_message", message: "refresh.token must be a string" });
    assert.equal(h.errors[0]?.code, "invalid_message");
    h.clock.advance(750);
    await flush();
    assert.equal(h.socket().ofType("refresh").length, 2);
  });

  it("a fixed string token is not refreshed", async () => {
    const h = createHarness({ token: "fixed" });
    h.socket().welcome({ tokenExpiresInMs: 3000, intervalMs: 0 });
    h.clock.advance(60_000);
    await flush();
    assert.equal(h.socket().ofType("refresh").length, 0);
    assert.equal(h.clock.pending, 0);
  });

  it("a lifetime longer than a timer can wait is not refreshed early", async () => {
    const h = createHarness({ token: provider().fn });
    const lifetime = 40 * 24 * 3600_000; // 40 days: 80% = 32 days > 2^31 ms
    h.socket().welcome({ tokenExpiresInMs: lifetime, intervalMs: 0 });
    h.clock.advance(2_147_483_647);
    await flush();
    assert.equal(h.socket().ofType("refresh").length, 0);
    h.clock.advance(refreshDelayMs(lifetime) - 2_147_483_647);
    await flush();
    assert.equal(h.socket().ofType("refresh").length, 1);
  });

  it("a dropped connection ends its refreshes: a late token or reply is ignored, the new connection starts over", async () => {
    const resolvers: Array<(t: string) => void> = [];
    const p = provider((request, n) => (request.reason === "refresh" ? new Promise<string>((r) => resolvers.push(r)) : `tok-${n}`));
    const h = createHarness({ token: p.fn });
    const first = h.socket().welcome({ tokenExpiresInMs: 3000, intervalMs: 0 });
    h.clock.advance(2400);
    first.serverClose(1006);
    resolvers[0]?.("late-refresh-token");
    await flush();
    assert.equal(first.ofType("refresh").length, 0);
    h.clock.advance(500);
    const second = h.socket().welcome({ session: "s1", resumed: true, tokenExpiresInMs: 3000, intervalMs: 0 });
    assert.equal(second.ofType("refresh").length, 0, "the first connection's refresh is not sent on the second");
    h.clock.advance(2399);
    await flush();
    assert.equal(p.asked.filter((r) => r === "refresh").length, 1, "the new schedule starts at the new welcome");
    h.clock.advance(1);
    resolvers[1]?.("second-refresh-token");
    await flush();
    assert.equal(second.last("refresh")["token"], "second-refresh-token");
    assert.deepEqual(h.errors, []);
  });
});

describe("close 4002 token_expired", () => {
  it("is in the close-code table: reconnect at once", () => {
    assert.deepEqual(closeCodeInfo(4002), { code: 4002, name: "token_expired", shouldReconnect: true, reconnectImmediately: true });
  });

  it("reconnects at once with a fresh token (reason expired), resumes the session and every channel, flushes publishes", async () => {
    const p = provider();
    const h = createHarness({ token: p.fn });
    h.socket().welcome({ session: "s1", tokenExpiresInMs: 3000 });
    const channel = h.client.channel("room");
    channel.subscribe(() => undefined);
    await flush();
    const sub = h.socket().last("subscribe");
    h.socket().receive(
      { type: "subscribed", id: sub["id"], channel: "room", epoch: "e1", offset: 7, recovered: false },
      { type: "snapshot", channel: "room", epoch: "e1", offset: 7, state: { n: 7 } },
    );

    h.socket().serverClose(4002, "token_expired");
    const publish = channel.publish({ n: 8 }, { key: "k8" });
    const change = h.changes[h.changes.length - 1];
    assert.deepEqual([change?.to, change?.reason, change?.code, change?.initiator, change?.retryInMs], ["reconnecting", "token_expired", 4002, "server", 0]);
    assert.equal(h.sockets.length, 1);
    h.clock.advance(0);
    assert.equal(h.sockets.length, 2, "one attempt at once");
    assert.deepEqual(p.asked, ["connect", "expired"]);
    h.socket().open();
    assert.deepEqual(h.socket().last("hello"), { type: "hello", v: 1, token: "tok-2", resume: "s1", client: "lifeline-js/0.1.0" });
    h.socket().welcome({ session: "s1", resumed: true, tokenExpiresInMs: 3000 });
    assert.deepEqual(h.socket().last("subscribe")["since"], { epoch: "e1", offset: 7 });
    const pub = h.socket().last("publish");
    assert.deepEqual([pub["key"], pub["patch"]], ["k8", { n: 8 }]);
    h.socket().receive({ type: "reply", id: pub["id"], ok: true, offset: 8 });
    assert.equal(await publish, 8);
    assert.equal(h.changes[h.changes.length - 1]?.reason, "resumed");

    // The next 4002 (a new outage) gets its immediate attempt again.
    h.socket().serverClose(4002, "token_expired");
    assert.equal(h.changes[h.changes.length - 1]?.retryInMs, 0);
  });

  it("one immediate attempt, then the usual backoff (a second 4002 or a network failure waits)", async () => {
    const p = provider();
    const h = openHarness({ token: p.fn });
    h.socket().serverClose(4002, "token_expired");
    h.clock.advance(0);
    assert.equal(h.sockets.length, 2);
    h.socket().open().serverClose(4002, "token_expired"); // the fresh token was expired too
    assert.equal(h.client.state, "reconnecting");
    h.clock.advance(499);
    assert.equal(h.sockets.length, 2, "no second immediate attempt");
    h.clock.advance(1);
    assert.equal(h.sockets.length, 3, "backoff from k = 0: 500 ms");
    h.socket().serverClose(1006);
    h.clock.advance(999);
    assert.equal(h.sockets.length, 3);
    h.clock.advance(1);
    assert.equal(h.sockets.length, 4, "then 1000 ms");
    assert.deepEqual(p.asked, ["connect", "expired", "expired", "expired"], "reason expired until the next welcome");
    h.socket().welcome();
    h.socket().serverClose(1006);
    h.clock.advance(500);
    assert.equal(p.asked[p.asked.length - 1], "connect");
  });

  it("4002 whose immediate attempt has a failing token function: backoff, asked again", async () => {
    let fail = true;
    const p = provider((_, n) => (n === 1 ? "tok-1" : fail ? Promise.reject(new Error("down")) : `tok-${n}`));
    const h = openHarness({ token: p.fn });
    h.socket().serverClose(4002, "token_expired");
    h.clock.advance(0);
    await flush();
    assert.equal(h.sockets.length, 1);
    assert.ok(h.errors.some((e) => e instanceof LifelineTokenError));
    fail = false;
    h.clock.advance(500);
    await flush();
    assert.equal(h.sockets.length, 2);
    h.socket().welcome({ resumed: true });
    assert.equal(h.client.state, "open");
  });

  it("with a fixed string token 4002 is final: no fresh token can come", async () => {
    const h = openHarness({ token: "fixed" });
    const publish = h.client.channel("c").publish({ a: 1 });
    h.socket().serverClose(4002, "token_expired");
    assert.equal(h.client.state, "closed");
    assert.equal(h.changes[h.changes.length - 1]?.code, 4002);
    await assert.rejects(publish, LifelineClosedError);
    h.clock.advance(60_000);
    assert.equal(h.sockets.length, 1);
  });

  it("a retry policy returning null still stops (no immediate attempt)", () => {
    const h = openHarness({ token: provider().fn, reconnect: { maxAttempts: 0 } });
    h.socket().serverClose(4002, "token_expired");
    assert.equal(h.client.state, "closed");
    assert.equal(h.changes[h.changes.length - 1]?.reason, "retries_exhausted");
  });
});

describe("token hygiene", () => {
  it("no double handlers or timers across 10 expiries and refreshes; tokens never reach a report", async () => {
    const handed: string[] = [];
    const p = provider((request, n) => {
      const token = `secret-${request.reason}-${n}`;
      handed.push(token);
      return n % 3 === 0 ? Promise.resolve(token) : token;
    });
    const h = createHarness({ token: p.fn });
    const seen: number[] = [];
    const channel = h.client.channel("c");
    channel.subscribe((s) => seen.push((s as { n?: number }).n ?? -1));
    let opens = 0;
    h.client.onStateChange((c) => (c.to === "open" ? opens++ : undefined));
    await flush();
    for (let i = 0; i < 10; i++) {
      const socket = h.socket();
      socket.welcome({ session: "s1", resumed: i > 0, tokenExpiresInMs: 3000, intervalMs: 0 });
      await flush();
      const sub = socket.last("subscribe");
      socket.receive({ type: "subscribed", id: sub["id"], channel: "c", epoch: "e", offset: i, recovered: i > 0 });
      if (i === 0) socket.receive({ type: "snapshot", channel: "c", epoch: "e", offset: 0, state: {} });
      h.clock.advance(2400);
      await flush();
      answerRefresh(socket, { ok: false, error: { code: "forbidden", message: "no" } });
      socket.receive({ type: "delta", channel: "c", offset: i + 1, patch: { n: i + 1 } });
      socket.serverClose(4002, "token_expired");
      assert.ok(h.clock.pending <= 1, `only the reconnect timer is left, got ${h.clock.pending}`);
      h.clock.advance(0);
      await flush();
      assert.equal(h.sockets.length, i + 2, "one attempt per expiry");
      h.socket().open();
    }
    assert.deepEqual(seen, [...Array(11).keys()].map((n) => (n === 0 ? -1 : n)), "each delta once");
    assert.equal(opens, 10);
    assert.equal(h.sockets.filter((s) => !s.detached).length, 1);
    assertNoTokenLeaks(h, handed);
  });

  it("failures of the token function never carry the token in their reports", async () => {
    const h = openHarness({
      token: (request) => (request.reason === "refresh" ? Promise.reject(new Error("refresh failed")) : "secret-connect-token"),
    });
    h.socket().serverClose(1006);
    h.clock.advance(500);
    h.socket().welcome({ tokenExpiresInMs: 3000 });
    h.clock.advance(2400);
    await flush();
    assert.ok(h.errors.length > 0);
    assertNoTokenLeaks(h, ["secret-connect-token"]);
  });
});
