import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JsonObject } from "../src/json.js";
import { flush } from "./support/fakeClock.js";
import { openHarness, reconnect, type Harness } from "./support/harness.js";

async function synced(h: Harness, name: string, offset: number, state: JsonObject) {
  const channel = h.client.channel(name);
  channel.subscribe(() => undefined);
  await flush();
  const sub = h.socket().last("subscribe");
  h.socket().receive(
    { type: "subscribed", id: sub["id"] as number, channel: name, epoch: "e1", offset, recovered: false },
    { type: "snapshot", channel: name, epoch: "e1", offset, state },
  );
  return channel;
}

const isAbort = (e: unknown) => e instanceof Error && e.name === "AbortError";

describe("cancellation with AbortSignal (issue 15)", () => {
  it("an already aborted signal: rejects at once, nothing is sent or queued", async () => {
    const h = openHarness({ optimistic: true });
    const channel = h.client.channel("c");
    const signal = AbortSignal.abort();
    await assert.rejects(channel.publish({ a: 1 }, { signal }), isAbort);
    await assert.rejects(channel.update((s) => s, { signal }), isAbort);
    await assert.rejects(channel.fetchPresence({ signal }), isAbort);
    assert.equal(h.socket().ofType("publish").length, 0);
    assert.equal(h.client.pendingPublishes, 0);
    assert.equal(channel.pending, 0);
  });

  it("a queued publish never sent: removed from the queue and its overlay, during a reconnect", async () => {
    const h = openHarness({ optimistic: true });
    const channel = await synced(h, "c", 1, { a: 1 });
    h.socket().serverClose(1006);
    const controller = new AbortController();
    const cancelled = channel.publish({ b: 1 }, { signal: controller.signal });
    const kept = channel.publish({ c: 1 });
    assert.deepEqual(channel.state, { a: 1, b: 1, c: 1 });
    controller.abort();
    await assert.rejects(cancelled, isAbort);
    assert.deepEqual(channel.state, { a: 1, c: 1 });
    assert.equal(h.client.pendingPublishes, 1);
    const socket = reconnect(h);
    assert.deepEqual(socket.ofType("publish").map((m) => m["patch"]), [{ c: 1 }], "the aborted one is never sent");
    socket.receive({ type: "reply", id: socket.last("publish")["id"] as number, ok: true, offset: 2 });
    assert.equal(await kept, 2);
  });

  it("a publish already sent: the wait stops, but a resend after reconnect keeps its key (exactly once)", async () => {
    const h = openHarness({ optimistic: true });
    const channel = await synced(h, "c", 1, {});
    const controller = new AbortController();
    const p = channel.publish({ b: 1 }, { signal: controller.signal, key: "k-1" });
    const sent = h.socket().last("publish");
    h.socket().serverClose(1006); // the reply is lost
    controller.abort(new Error("user gave up")); // during the reconnect
    await assert.rejects(p, /user gave up/);
    assert.deepEqual(channel.state, { b: 1 }, "it may have been applied: the overlay stays until the server says");
    const socket = reconnect(h);
    const resent = socket.ofType("publish");
    assert.equal(resent.length, 1);
    assert.equal(resent[0]?.["key"], sent["key"]);
    socket.receive({ type: "reply", id: resent[0]?.["id"] as number, ok: true, offset: 2 });
    assert.equal(h.client.pendingPublishes, 0);
    socket.receive({ type: "delta", channel: "c", offset: 2, patch: { b: 1 } });
    assert.equal(channel.pending, 0);
    assert.deepEqual(channel.state, { b: 1 });
  });

  it("update: abort while waiting for the state to catch up after a conflict", async () => {
    const h = openHarness();
    const channel = await synced(h, "c", 1, { n: 1 });
    const controller = new AbortController();
    const p = channel.update((s) => ({ n: (s["n"] as number) + 1 }), { signal: controller.signal });
    const sent = h.socket().last("publish");
    h.socket().receive({ type: "reply", id: sent["id"] as number, ok: false, error: { code: "conflict", message: "moved", epoch: "e1", offset: 3 } });
    await flush();
    controller.abort();
    await assert.rejects(p, isAbort);
    h.socket().receive({ type: "delta", channel: "c", offset: 2, patch: { n: 2 } }, { type: "delta", channel: "c", offset: 3, patch: { n: 3 } });
    await flush();
    assert.equal(h.socket().ofType("publish").length, 1, "no retry after the abort");
  });

  it("update: abort while offline, before its publish was ever sent", async () => {
    const h = openHarness({ optimistic: true });
    const channel = await synced(h, "c", 1, { n: 1 });
    h.socket().serverClose(1006);
    const controller = new AbortController();
    const p = channel.update((s) => ({ n: (s["n"] as number) + 1 }), { signal: controller.signal });
    assert.deepEqual(channel.state, { n: 2 });
    controller.abort();
    await assert.rejects(p, isAbort);
    assert.deepEqual(channel.state, { n: 1 });
    const socket = reconnect(h);
    assert.equal(socket.ofType("publish").length, 0);
  });

  it("fetchPresence: abort stops the wait; the late reply still updates presence", async () => {
    const h = openHarness();
    const channel = await synced(h, "c", 1, {});
    await flush();
    const controller = new AbortController();
    const p = channel.fetchPresence({ signal: controller.signal });
    const request = h.socket().last("presence");
    controller.abort();
    await assert.rejects(p, isAbort);
    h.socket().receive({ type: "reply", id: request["id"] as number, ok: true, members: ["u1", "u2"] });
    assert.deepEqual(channel.presence, ["u1", "u2"]);
  });
});
