import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LifelineClosedError, LifelineRequestError } from "../src/errors.js";
import type { JsonObject } from "../src/json.js";
import { flush } from "./support/fakeClock.js";
import { createHarness, openHarness, reconnect, type Harness } from "./support/harness.js";

async function synced(h: Harness, name: string, offset: number, state: JsonObject) {
  const channel = h.client.channel(name);
  const seen: Array<[JsonObject, JsonObject]> = [];
  channel.subscribe((s, previous) => seen.push([s, previous]));
  await flush();
  const sub = h.socket().last("subscribe");
  h.socket().receive(
    { type: "subscribed", id: sub["id"] as number, channel: name, epoch: "e1", offset, recovered: false },
    { type: "snapshot", channel: name, epoch: "e1", offset, state },
  );
  seen.length = 0;
  return { channel, seen };
}

function ok(h: Harness, message: Record<string, unknown>, offset: number) {
  h.socket().receive({ type: "reply", id: message["id"] as number, ok: true, offset });
}

describe("optimistic state (issue 15)", () => {
  it("a publish shows at once; the reply and its delta confirm it without another change", async () => {
    const h = openHarness({ optimistic: true });
    const { channel, seen } = await synced(h, "c", 1, { a: 1, keep: { deep: true } });
    const keep = channel.state["keep"];
    const p = channel.publish({ b: 2 });
    assert.deepEqual(channel.state, { a: 1, keep: { deep: true }, b: 2 });
    assert.deepEqual(channel.confirmed, { a: 1, keep: { deep: true } });
    assert.equal(channel.pending, 1);
    assert.equal(seen.length, 1, "one change, one call");
    assert.equal(channel.state["keep"], keep, "unchanged branches keep their identity");
    const shown = channel.state;
    ok(h, h.socket().last("publish"), 2);
    assert.equal(await p, 2);
    assert.equal(channel.pending, 1, "accepted, not yet in the confirmed state");
    h.socket().receive({ type: "delta", channel: "c", offset: 2, patch: { b: 2 } });
    assert.equal(channel.pending, 0);
    assert.deepEqual(channel.confirmed, { a: 1, keep: { deep: true }, b: 2 });
    assert.equal(channel.state, shown, "nothing visible changed: the same reference");
    assert.equal(seen.length, 1, "and no listener call");
  });

  it("edits made offline show at once, in order, and survive the reconnect exactly once", async () => {
    const h = openHarness({ optimistic: true });
    const { channel, seen } = await synced(h, "c", 1, { items: [] });
    h.socket().serverClose(1006);
    const edits = [channel.publish({ a: 1 }), channel.publish({ b: 2 }), channel.publish({ a: 3 })];
    assert.deepEqual(channel.state, { items: [], a: 3, b: 2 });
    assert.equal(channel.pending, 3);
    assert.equal(seen.length, 3);
    const socket = reconnect(h);
    const sub = socket.last("subscribe");
    socket.receive({ type: "subscribed", id: sub["id"] as number, channel: "c", epoch: "e1", offset: 1, recovered: true });
    const publishes = socket.ofType("publish");
    assert.equal(publishes.length, 3);
    publishes.forEach((m, i) => ok(h, m, 2 + i));
    publishes.forEach((m, i) => socket.receive({ type: "delta", channel: "c", offset: 2 + i, patch: m["patch"] as JsonObject }));
    assert.deepEqual(await Promise.all(edits), [2, 3, 4]);
    assert.equal(channel.pending, 0);
    assert.deepEqual(channel.state, { items: [], a: 3, b: 2 });
    assert.equal(seen.length, 3, "confirmation changed nothing visible");
  });

  it("a server delta rebases: confirmed <- delta, pending re-applied on top", async () => {
    const h = openHarness({ optimistic: true });
    const { channel, seen } = await synced(h, "c", 1, { title: "old", n: 0 });
    void channel.publish({ title: "mine" });
    h.socket().receive({ type: "delta", channel: "c", offset: 2, patch: { title: "theirs", n: 1 } });
    assert.deepEqual(channel.confirmed, { title: "theirs", n: 1 });
    assert.deepEqual(channel.state, { title: "mine", n: 1 });
    assert.deepEqual(seen.map(([s]) => s), [{ title: "mine", n: 0 }, { title: "mine", n: 1 }]);
    h.socket().receive({ type: "delta", channel: "c", offset: 3, patch: { title: "again" } });
    assert.equal(seen.length, 2, "a delta hidden by a pending publish changes nothing visible");
  });

  it("a refused publish is rolled back and listeners see it", async () => {
    const h = openHarness({ optimistic: true });
    const { channel, seen } = await synced(h, "c", 1, { a: 1 });
    const p = channel.publish({ a: 2, b: 1 });
    const later = channel.publish({ c: 3 });
    assert.deepEqual(channel.state, { a: 2, b: 1, c: 3 });
    const [first] = h.socket().ofType("publish");
    h.socket().receive({ type: "reply", id: first?.["id"] as number, ok: false, error: { code: "forbidden", message: "no" } });
    await assert.rejects(p, (e: unknown) => e instanceof LifelineRequestError && e.code === "forbidden");
    assert.deepEqual(channel.state, { a: 1, c: 3 });
    assert.deepEqual(seen.map(([s]) => s), [{ a: 2, b: 1 }, { a: 2, b: 1, c: 3 }, { a: 1, c: 3 }]);
    assert.deepEqual(seen[2]?.[1], { a: 2, b: 1, c: 3 }, "previous is what was shown");
    void later;
  });

  it("close() drops every overlay", async () => {
    const h = openHarness({ optimistic: true });
    const { channel } = await synced(h, "c", 1, { a: 1 });
    h.socket().serverClose(1006);
    const p = channel.publish({ a: 2 });
    h.client.close();
    await assert.rejects(p, LifelineClosedError);
    assert.deepEqual(channel.state, { a: 1 });
    assert.equal(channel.pending, 0);
  });

  it("a snapshot (new epoch) confirms or drops what was accepted, and keeps what is still pending", async () => {
    const h = openHarness({ optimistic: true });
    const { channel } = await synced(h, "c", 1, { a: 1 });
    void channel.publish({ b: 1 });
    ok(h, h.socket().last("publish"), 2);
    h.socket().serverClose(1006);
    void channel.publish({ c: 1 });
    const socket = reconnect(h);
    const sub = socket.last("subscribe");
    socket.receive(
      { type: "subscribed", id: sub["id"] as number, channel: "c", epoch: "e2", offset: 5, recovered: false },
      { type: "snapshot", channel: "c", epoch: "e2", offset: 5, state: { a: 1, b: 1, z: 1 } },
    );
    assert.equal(channel.pending, 1);
    assert.deepEqual(channel.state, { a: 1, b: 1, z: 1, c: 1 });
  });

  it("without a subscription an accepted publish leaves pending at once (no delta will come)", async () => {
    const h = openHarness({ optimistic: true });
    const channel = h.client.channel("unsubscribed");
    const p = channel.publish({ a: 1 });
    assert.deepEqual(channel.state, { a: 1 });
    ok(h, h.socket().last("publish"), 9);
    await p;
    assert.equal(channel.pending, 0);
    assert.deepEqual(channel.state, {});
  });

  it("optimistic off (default): state is the confirmed state; pending counts; behaviour as before", async () => {
    const h = openHarness();
    const { channel, seen } = await synced(h, "c", 1, { a: 1 });
    const before = channel.state;
    void channel.publish({ a: 2 });
    assert.equal(channel.state, before);
    assert.equal(channel.confirmed, before);
    assert.equal(channel.pending, 1);
    assert.equal(seen.length, 0);
    h.socket().receive({ type: "delta", channel: "c", offset: 2, patch: {} });
    assert.equal(seen.length, 1, "every applied delta is announced, even one that changes nothing (as before)");
    assert.equal(seen[0]?.[0], before);
  });

  it("update() with optimistic state shows its result at once", async () => {
    const h = createHarness({ optimistic: true });
    h.socket().welcome();
    const { channel } = await synced(h, "list", 1, { items: ["a"] });
    void channel.update((s) => ({ items: [...(s["items"] as string[]), "b"] }));
    assert.deepEqual(channel.state, { items: ["a", "b"] });
  });
});

describe("optimistic state: when an accepted publish leaves pending", () => {
  it("a publish made before the first snapshot does not flicker when its reply comes first", async () => {
    const h = openHarness({ optimistic: true });
    const channel = h.client.channel("early");
    const seen: JsonObject[] = [];
    channel.subscribe((s) => seen.push(s));
    const p = channel.publish({ a: 1 }); // sent before the coalesced subscribe
    await flush();
    const pub = h.socket().last("publish");
    const sub = h.socket().last("subscribe");
    ok(h, pub, 1);
    await p;
    assert.deepEqual(channel.state, { a: 1 }, "still shown: the snapshot has not come yet");
    h.socket().receive(
      { type: "subscribed", id: sub["id"] as number, channel: "early", epoch: "e1", offset: 1, recovered: false },
      { type: "snapshot", channel: "early", epoch: "e1", offset: 1, state: { a: 1 } },
    );
    assert.equal(channel.pending, 0);
    assert.deepEqual(seen, [{ a: 1 }], "one change, never a flicker back to {}");
  });

  it("a refused subscribe drops accepted publishes (no delta will come); unsubscribing too", async () => {
    const h = openHarness({ optimistic: true });
    const channel = h.client.channel("ro");
    const unsubscribe = channel.subscribe(() => undefined);
    await flush();
    void channel.publish({ a: 1 });
    const sub = h.socket().last("subscribe");
    ok(h, h.socket().last("publish"), 1);
    assert.equal(channel.pending, 1, "waiting for its delta");
    h.socket().receive({ type: "reply", id: sub["id"] as number, ok: false, error: { code: "forbidden", message: "no" } });
    assert.equal(channel.pending, 0);
    assert.deepEqual(channel.state, {});
    unsubscribe();

    const other = h.client.channel("other");
    const stop = other.subscribe(() => undefined);
    await flush();
    const sub2 = h.socket().last("subscribe");
    h.socket().receive(
      { type: "subscribed", id: sub2["id"] as number, channel: "other", epoch: "e1", offset: 1, recovered: false },
      { type: "snapshot", channel: "other", epoch: "e1", offset: 1, state: {} },
    );
    void other.publish({ b: 1 });
    ok(h, h.socket().last("publish"), 2);
    assert.equal(other.pending, 1);
    stop();
    await flush();
    const unsub = h.socket().last("unsubscribe");
    assert.equal(unsub["channel"], "other");
    assert.equal(other.pending, 1, "until the server confirms the unsubscribe");
    h.socket().receive({ type: "reply", id: unsub["id"] as number, ok: true });
    assert.equal(other.pending, 0);
  });

  it("a listener that calls connect() on closed starts a new wait that close() did not reject", async () => {
    const h = openHarness();
    let again: Promise<void> | undefined;
    h.client.onStateChange((c) => {
      if (c.to === "closed" && again === undefined) again = h.client.connect();
    });
    h.client.close();
    assert.ok(again);
    assert.equal(h.client.state, "connecting");
    h.socket().welcome({ resumed: true });
    await again;
    assert.equal(h.client.state, "open");
  });
});
