import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LifelineChannel } from "../src/channel.js";
import { LifelineConflictError, LifelineProtocolError } from "../src/errors.js";
import type { JsonObject } from "../src/json.js";
import { BURST_MS, PROBE_EVERY, PROBE_MAX_MS, PROBE_MIN_MS, probeMs, yieldMs, YIELD_MAX_MS, YIELD_MIN_MS } from "../src/update.js";
import { flush } from "./support/fakeClock.js";
import type { FakeSocket } from "./support/fakeSocket.js";
import { openHarness, reconnect, type Harness } from "./support/harness.js";

/*
 * channel.update under contention (issue 15: two pages, 50 updates each, the default 10 retries): the early retry
 * (a delta past the attempt's `if` before its reply proves the conflict), reading one's own writes, and yielding to
 * another writer. PROTOCOL.md: a publish's reply comes before the delta it caused, on the connection it was sent on.
 */

async function synced(h: Harness, name: string, offset: number, state: JsonObject) {
  const channel = h.client.channel<JsonObject>(name);
  channel.subscribe(() => undefined);
  await flush();
  const sub = h.socket().last("subscribe");
  h.socket().receive(
    { type: "subscribed", id: sub["id"] as number, channel: name, epoch: "e1", offset, recovered: false },
    { type: "snapshot", channel: name, epoch: "e1", offset, state },
  );
  return channel;
}

const append = (item: string) => (s: JsonObject) => ({ ...s, items: [...((s["items"] as string[] | undefined) ?? []), item] });
const delta = (offset: number, items: string[]) => ({ type: "delta", channel: "list", offset, patch: { items } });
const ok = (m: Record<string, unknown>, offset: number) => ({ type: "reply", id: m["id"] as number, ok: true, offset });
const conflict = (m: Record<string, unknown>, offset: number) => ({
  type: "reply",
  id: m["id"] as number,
  ok: false,
  error: { code: "conflict", message: "the channel moved on", epoch: "e1", offset },
});
const publishes = (s: FakeSocket) => s.ofType("publish");
const isAbort = (e: unknown) => e instanceof Error && e.name === "AbortError";

describe("update under contention: early retry", () => {
  it("a delta past the in-flight if: the next attempt is sent at once (new key, new if, from the new state); the stale conflict reply is ignored", async () => {
    const h = openHarness({ optimistic: true });
    const channel = await synced(h, "list", 3, { items: ["a"] });
    const p = channel.update(append("mine"));
    const first = h.socket().last("publish");
    assert.deepEqual(first["if"], { epoch: "e1", offset: 3 });
    h.socket().receive(delta(4, ["a", "theirs"]));
    await flush();
    const sent = publishes(h.socket());
    assert.equal(sent.length, 2, "re-sent without waiting for the conflict reply");
    const second = sent[1]!;
    assert.notEqual(second["key"], first["key"]);
    assert.deepEqual(second["if"], { epoch: "e1", offset: 4 });
    assert.deepEqual(second["patch"], { items: ["a", "theirs", "mine"] });
    assert.equal(channel.pending, 1, "the stale attempt's overlay is gone, the new one's is there");
    assert.equal(h.client.pendingPublishes, 1);
    assert.deepEqual(channel.state, { items: ["a", "theirs", "mine"] });
    h.socket().receive(conflict(first, 4)); // the stale reply: nothing happens
    await flush();
    assert.equal(publishes(h.socket()).length, 2);
    assert.equal(channel.pending, 1);
    assert.deepEqual(h.errors, []);
    h.socket().receive(ok(second, 5), delta(5, ["a", "theirs", "mine"]));
    assert.equal(await p, 5);
    assert.equal(channel.pending, 0);
    assert.deepEqual(channel.state, { items: ["a", "theirs", "mine"] });
  });

  it("after a resync (a hole in the offsets, subscribed again) the history's deltas do not withdraw the attempt: its reply decides", async () => {
    const h = openHarness();
    const channel = await synced(h, "list", 3, { items: ["a"] });
    const p = channel.update(append("mine"));
    const first = h.socket().last("publish");
    h.socket().receive(delta(5, ["a", "x", "y"])); // offset 4 is missing: the client subscribes again from 3
    const resub = h.socket().last("subscribe");
    assert.deepEqual(resub["since"], { epoch: "e1", offset: 3 });
    h.socket().receive(
      { type: "subscribed", id: resub["id"] as number, channel: "list", epoch: "e1", offset: 5, recovered: true },
      delta(4, ["a", "x"]),
      delta(5, ["a", "x", "y"]),
    );
    await flush();
    assert.equal(publishes(h.socket()).length, 1, "not withdrawn");
    h.socket().receive(conflict(first, 5));
    await flush();
    const second = h.socket().last("publish");
    assert.deepEqual(second["if"], { epoch: "e1", offset: 5 });
    h.socket().receive(ok(second, 6));
    assert.equal(await p, 6);
  });

  it("each early retry counts as one retry; the last attempt waits for the server's conflict and rejects with it", async () => {
    for (const [retries, attempts] of [[undefined, 11], [2, 3], [0, 1]] as const) {
      const h = openHarness();
      const channel = await synced(h, "list", 0, { items: [] });
      const p = channel.update(append("mine"), retries === undefined ? {} : { retries });
      for (let i = 0; i < attempts; i++) {
        await flush();
        assert.equal(publishes(h.socket()).length, i + 1, `attempt ${i + 1}`);
        assert.deepEqual(h.socket().last("publish")["if"], { epoch: "e1", offset: i });
        h.socket().receive(delta(i + 1, Array.from({ length: i + 1 }, (_, k) => `t${k}`)));
      }
      await flush();
      assert.equal(publishes(h.socket()).length, attempts, "no attempt after the last");
      const last = h.socket().last("publish");
      h.socket().receive(conflict(last, attempts));
      await assert.rejects(p, (e: unknown) => e instanceof LifelineConflictError && e.position?.offset === attempts);
      await flush();
      assert.equal(publishes(h.socket()).length, attempts);
      assert.equal(h.client.pendingPublishes, 0);
    }
  });

  it("a delta past the if after the reply came (a conflict already being handled) changes nothing: one retry", async () => {
    const h = openHarness();
    const channel = await synced(h, "list", 3, { items: ["a"] });
    const p = channel.update(append("mine"));
    const first = h.socket().last("publish");
    h.socket().receive(conflict(first, 4), delta(4, ["a", "theirs"]));
    await flush();
    assert.equal(publishes(h.socket()).length, 2);
    const second = h.socket().last("publish");
    assert.deepEqual(second["if"], { epoch: "e1", offset: 4 });
    h.socket().receive(ok(second, 5));
    assert.equal(await p, 5);
  });

  it("abort after an early retry: rejects, and no further attempt on later deltas", async () => {
    const h = openHarness({ optimistic: true });
    const channel = await synced(h, "list", 3, { items: ["a"] });
    const controller = new AbortController();
    const p = channel.update(append("mine"), { signal: controller.signal });
    h.socket().receive(delta(4, ["a", "t1"]));
    await flush();
    assert.equal(publishes(h.socket()).length, 2);
    controller.abort();
    await assert.rejects(p, isAbort);
    h.socket().receive(delta(5, ["a", "t1", "t2"]));
    await flush();
    assert.equal(publishes(h.socket()).length, 2, "nothing after the abort");
    // The sent attempt may still be applied: it stays (for a resend with its key) until the server answers.
    h.socket().receive(conflict(h.socket().last("publish"), 5));
    assert.equal(h.client.pendingPublishes, 0);
    assert.equal(channel.pending, 0);
    assert.deepEqual(channel.state, { items: ["a", "t1", "t2"] });
  });

  it("a withdrawn attempt is never re-sent after a reconnect; the attempt in flight is, with its key and its if", async () => {
    const h = openHarness({ optimistic: true });
    const channel = await synced(h, "list", 3, { items: ["a"] });
    const p = channel.update(append("mine"));
    const first = h.socket().last("publish");
    h.socket().receive(delta(4, ["a", "theirs"]));
    await flush();
    const second = h.socket().last("publish");
    const socket = reconnect(h);
    const resent = publishes(socket);
    assert.deepEqual(resent.map((m) => [m["key"], m["if"]]), [[second["key"], { epoch: "e1", offset: 4 }]]);
    assert.notEqual(resent[0]!["key"], first["key"]);
    const sub = socket.last("subscribe");
    assert.deepEqual(sub["since"], { epoch: "e1", offset: 4 });
    socket.receive({ type: "subscribed", id: sub["id"] as number, channel: "list", epoch: "e1", offset: 4, recovered: true });
    socket.receive(ok(resent[0]!, 5), delta(5, ["a", "theirs", "mine"]));
    assert.equal(await p, 5);
    assert.equal(channel.pending, 0);
    assert.equal(h.client.pendingPublishes, 0);
  });

  it("an attempt re-sent after a reconnect is not withdrawn by the gap's deltas (they may hold its own effect): its reply decides", async () => {
    const h = openHarness();
    const channel = await synced(h, "list", 3, { items: ["a"] });
    const p = channel.update(append("mine"));
    const first = h.socket().last("publish");
    h.socket().serverClose(1006); // applied at 4, the reply lost
    const socket = reconnect(h);
    const resent = publishes(socket);
    assert.deepEqual(resent.map((m) => [m["key"], m["if"]]), [[first["key"], { epoch: "e1", offset: 3 }]]);
    const sub = socket.last("subscribe");
    // The resumed subscription brings the gap (its own delta) before the resend's reply.
    socket.receive(
      { type: "subscribed", id: sub["id"] as number, channel: "list", epoch: "e1", offset: 4, recovered: true },
      delta(4, ["a", "mine"]),
    );
    await flush();
    assert.equal(publishes(socket).length, 1, "no second attempt: that would append twice");
    socket.receive(ok(resent[0]!, 4)); // the key repeats the first result
    assert.equal(await p, 4);
    assert.deepEqual(channel.state, { items: ["a", "mine"] });
  });

  it("a success reply to a withdrawn attempt (a server breaking the reply-before-delta order) is reported, not applied", async () => {
    const h = openHarness();
    const channel = await synced(h, "list", 3, { items: ["a"] });
    const p = channel.update(append("mine"));
    const first = h.socket().last("publish");
    h.socket().receive(delta(4, ["a", "theirs"]));
    await flush();
    h.socket().receive(ok(first, 5));
    assert.ok(h.errors.some((e) => e instanceof LifelineProtocolError), "reported");
    const second = h.socket().last("publish");
    h.socket().receive(ok(second, 6));
    assert.equal(await p, 6);
  });
});

describe("update under contention: read your own writes, yield to another writer", () => {
  /** Presence of the channel: this client's user and, when `others`, another. */
  function members(h: Harness, others: boolean) {
    const request = h.socket().last("presence");
    h.socket().receive({ type: "reply", id: request["id"] as number, ok: true, members: others ? ["u1", "bob"] : ["u1"] });
  }

  /** One won update: sent at once, accepted after `rttMs`, its delta applied; returns what was sent. */
  async function win(h: Harness, channel: LifelineChannel<JsonObject>, item: string, offset: number, items: string[], rttMs = 0) {
    const p = channel.update(append(item));
    await flush();
    const sent = h.socket().last("publish");
    assert.deepEqual(sent["if"], { epoch: "e1", offset: offset - 1 }, `${item} sent at once`);
    h.clock.advance(rttMs);
    h.socket().receive(ok(sent, offset), delta(offset, items));
    assert.equal(await p, offset);
    return sent;
  }

  it("a single writer: each update reads the state its previous one confirmed; no conflict, no wait", async () => {
    const h = openHarness();
    const channel = await synced(h, "list", 0, { items: [] });
    members(h, false);
    const items: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = channel.update(append(`m${i}`));
      await flush();
      const sent = h.socket().last("publish");
      assert.equal(publishes(h.socket()).length, i + 1, "sent at once");
      assert.deepEqual(sent["if"], { epoch: "e1", offset: i });
      h.socket().receive(ok(sent, i + 1));
      assert.equal(await p, i + 1);
      items.push(`m${i}`);
      // The next update, started before the delta arrives, waits for it (it follows the reply at once).
      const next = channel.update((s) => s);
      h.socket().receive(delta(i + 1, [...items]));
      assert.equal(await next, i + 1);
    }
  });

  it("after an update that lost a race, the next one yields: it waits for the other writer's delta before its first attempt", async () => {
    const h = openHarness();
    const channel = await synced(h, "list", 0, { items: [] });
    const p1 = channel.update(append("m0"));
    h.socket().receive(delta(1, ["t0"])); // lost the first race: early retry
    await flush();
    const sent1 = h.socket().last("publish");
    h.socket().receive(ok(sent1, 2), delta(2, ["t0", "m0"]));
    assert.equal(await p1, 2);
    const p2 = channel.update(append("m1"));
    await flush();
    assert.equal(publishes(h.socket()).length, 2, "yields: nothing sent yet");
    h.socket().receive(delta(3, ["t0", "m0", "t1"]));
    await flush();
    const sent2 = h.socket().last("publish");
    assert.deepEqual(sent2["if"], { epoch: "e1", offset: 3 }, "sent as soon as the other writer's delta came");
    assert.deepEqual(sent2["patch"], { items: ["t0", "m0", "t1", "m1"] });
    h.socket().receive(ok(sent2, 4), delta(4, ["t0", "m0", "t1", "m1"]));
    assert.equal(await p2, 4);
    // Another writer's delta came during that update: the next one yields again (the writers take turns).
    const p3 = channel.update(append("m2"));
    await flush();
    assert.equal(publishes(h.socket()).length, 3, "yields again");
    h.socket().receive(delta(5, ["t0", "m0", "t1", "m1", "t2"]));
    await flush();
    assert.equal(publishes(h.socket()).length, 4);
    h.socket().receive(ok(h.socket().last("publish"), 6));
    assert.equal(await p3, 6);
  });

  it("the yield is bounded (4 x the last reply time or 2 x the other writer's time, within limits) and lasts 3 updates after contention", async () => {
    assert.equal(yieldMs(undefined), YIELD_MIN_MS);
    assert.equal(yieldMs(1), YIELD_MIN_MS);
    assert.equal(yieldMs(10), 40);
    assert.equal(yieldMs(1, 30), 60);
    assert.equal(yieldMs(10_000), YIELD_MAX_MS);
    const h = openHarness();
    const channel = await synced(h, "list", 0, { items: [] });
    const items = ["t0"];
    h.socket().receive(delta(1, [...items]));
    // Another writer's delta since it started: contention.
    const p1 = channel.update(append("m0"));
    items.push("t1");
    h.socket().receive(delta(2, [...items]));
    await flush();
    const sent1 = h.socket().last("publish");
    h.clock.advance(10); // the reply takes 10 ms
    items.push("m0");
    h.socket().receive(ok(sent1, 3), delta(3, [...items]));
    await p1;
    // The next CONTENTION_UPDATES (3) updates yield; nobody else writes, so each goes when its wait is over.
    for (const [i, waitMs] of [[1, 40], [2, YIELD_MIN_MS], [3, YIELD_MIN_MS]] as const) {
      const p = channel.update(append(`m${i}`));
      await flush();
      h.clock.advance(waitMs - 1);
      await flush();
      assert.equal(publishes(h.socket()).length, 1 + i, `m${i}: still yielding`);
      h.clock.advance(1);
      await flush();
      assert.equal(publishes(h.socket()).length, 2 + i, `m${i}: nobody else wrote, it goes after ${waitMs} ms`);
      items.push(`m${i}`);
      h.socket().receive(ok(h.socket().last("publish"), 3 + i), delta(3 + i, [...items]));
      assert.equal(await p, 3 + i);
    }
    items.push("m4");
    await win(h, channel, "m4", 7, [...items]); // contention is over: at once
  });

  it("the yield ends on abort (its timer cleared)", async () => {
    const h = openHarness();
    const channel = await synced(h, "list", 0, { items: [] });
    const p1 = channel.update(append("m0"));
    h.socket().receive(delta(1, ["t0"]));
    await flush();
    h.socket().receive(ok(h.socket().last("publish"), 2), delta(2, ["t0", "m0"]));
    await p1;
    const timers = h.clock.pending;
    const controller = new AbortController();
    const p2 = channel.update(append("m1"), { signal: controller.signal });
    await flush();
    assert.equal(h.clock.pending, timers + 1, "yielding, on a timer");
    controller.abort();
    await assert.rejects(p2, isAbort);
    assert.equal(h.clock.pending, timers, "its timer is cleared");
    assert.equal(publishes(h.socket()).length, 2);
  });

  it("a writer that keeps winning while another user is present probes every PROBE_EVERY updates of a burst: a short wait for a delta", async () => {
    assert.equal(probeMs(undefined), PROBE_MIN_MS);
    assert.equal(probeMs(0.5), PROBE_MIN_MS);
    assert.equal(probeMs(4), 8);
    assert.equal(probeMs(1, 30), 30);
    assert.equal(probeMs(10_000), PROBE_MAX_MS);
    const h = openHarness();
    const channel = await synced(h, "list", 0, { items: [] });
    members(h, true);
    const items: string[] = [];
    const probe = async (item: string, offset: number) => {
      const p = channel.update(append(item));
      await flush();
      assert.equal(publishes(h.socket()).length, offset - 1, `${item}: probes`);
      h.clock.advance(7);
      await flush();
      assert.equal(publishes(h.socket()).length, offset - 1, `${item}: still probing`);
      h.clock.advance(1);
      await flush();
      assert.equal(publishes(h.socket()).length, offset, `${item}: nobody wrote, it goes after 8 ms`);
      items.push(item);
      h.clock.advance(4);
      h.socket().receive(ok(h.socket().last("publish"), offset), delta(offset, [...items]));
      assert.equal(await p, offset);
    };
    items.push("m0");
    await win(h, channel, "m0", 1, [...items], 4);
    await probe("m1", 2);
    let n = 2;
    const wins = async (count: number) => {
      for (let k = 0; k < count; k++, n++) {
        items.push(`m${n}`);
        await win(h, channel, `m${n}`, n + 1, [...items], 4);
      }
    };
    await wins(PROBE_EVERY - 1);
    await probe(`m${n}`, n + 1);
    n++;
    await wins(PROBE_EVERY - 1);
    // Probes again; another writer's delta ends the probe at once.
    const p = channel.update(append(`m${n}`));
    await flush();
    assert.equal(publishes(h.socket()).length, n);
    items.push("t0");
    h.socket().receive(delta(n + 1, [...items]));
    await flush();
    assert.equal(publishes(h.socket()).length, n + 1);
    assert.deepEqual(h.socket().last("publish")["if"], { epoch: "e1", offset: n + 1 });
    h.socket().receive(ok(h.socket().last("publish"), n + 2));
    assert.equal(await p, n + 2);
  });

  it("no probe when this client is alone on the channel, nor between updates further apart than a burst", async () => {
    const h = openHarness();
    const channel = await synced(h, "list", 0, { items: [] });
    members(h, false);
    await win(h, channel, "m0", 1, ["m0"]);
    await win(h, channel, "m1", 2, ["m0", "m1"]);
    members(h, true);
    h.clock.advance(BURST_MS + 1);
    await win(h, channel, "m2", 3, ["m0", "m1", "m2"]);
  });
});
