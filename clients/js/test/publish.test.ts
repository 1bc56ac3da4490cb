import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LifelineClosedError, LifelineDisconnectedError, LifelineQueueFullError, LifelineRequestError } from "../src/errors.js";
import { flush } from "./support/fakeClock.js";
import type { FakeSocket } from "./support/fakeSocket.js";
import { createHarness, openHarness, reconnect } from "./support/harness.js";

function reply(socket: FakeSocket, message: Record<string, unknown>, offset: number) {
  socket.receive({ type: "reply", id: message["id"] as number, ok: true, offset });
}

describe("publish", () => {
  it("sends a publish with an idempotency key and resolves with the assigned offset", async () => {
    const h = openHarness();
    const p = h.client.channel("room:42").publish({ title: "hi", done: null });
    const sent = h.socket().last("publish");
    assert.equal(sent["channel"], "room:42");
    assert.deepEqual(sent["patch"], { title: "hi", done: null });
    assert.equal(typeof sent["key"], "string");
    assert.ok((sent["key"] as string).length <= 128);
    reply(h.socket(), sent, 45);
    assert.equal(await p, 45);
    assert.equal(h.client.pendingPublishes, 0);
  });

  it("keys are unique per publish; a caller-supplied key is used as is", () => {
    const h = openHarness();
    const c = h.client.channel("c");
    void c.publish({ a: 1 });
    void c.publish({ a: 2 });
    void c.publish({ a: 3 }, { key: "my-key-1" });
    const keys = h.socket().ofType("publish").map((m) => m["key"]);
    assert.equal(new Set(keys).size, 3);
    assert.equal(keys[2], "my-key-1");
  });

  it("offline publishes are flushed after the resubscribes, in order, exactly once, with their original keys", async () => {
    const h = openHarness();
    const room = h.client.channel("room");
    room.subscribe(() => undefined);
    await flush();
    h.socket().serverClose(1006);
    const results = [room.publish({ n: 1 }), room.publish({ n: 2 }), h.client.channel("other").publish({ n: 3 })];
    assert.equal(h.client.pendingPublishes, 3);
    const socket = reconnect(h);
    const sent = socket.messages.filter((m) => m["type"] === "subscribe" || m["type"] === "publish");
    assert.deepEqual(
      sent.map((m) => (m["type"] === "publish" ? (m["patch"] as Record<string, unknown>)["n"] : m["type"])),
      ["subscribe", 1, 2, 3],
    );
    const publishes = socket.ofType("publish");
    publishes.forEach((m, i) => reply(socket, m, 100 + i));
    assert.deepEqual(await Promise.all(results), [100, 101, 102]);
    // Another reconnect sends nothing again.
    const next = reconnect(h);
    assert.equal(next.ofType("publish").length, 0);
  });

  it("a publish made by an open listener goes after the flushed queue", () => {
    const h = openHarness();
    const c = h.client.channel("c");
    h.socket().serverClose(1006);
    void c.publish({ n: 1 });
    h.client.onStateChange((change) => {
      if (change.to === "open") void c.publish({ n: 2 });
    });
    const socket = reconnect(h);
    assert.deepEqual(socket.ofType("publish").map((m) => (m["patch"] as Record<string, number>)["n"]), [1, 2]);
  });

  it("a publish in flight when the connection drops is re-sent with the same key and resolves once", async () => {
    const h = openHarness();
    const c = h.client.channel("c");
    let settled = 0;
    const p = c.publish({ v: 1 }).then((o) => {
      settled++;
      return o;
    });
    const before = h.socket().last("publish");
    const later = c.publish({ v: 2 }); // queued behind it, offline
    h.socket().serverClose(1006);
    const socket = reconnect(h);
    const resent = socket.ofType("publish");
    assert.equal(resent.length, 2);
    assert.equal(resent[0]?.["key"], before["key"]);
    assert.notEqual(resent[0]?.["id"], before["id"], "a new request id, the same key");
    assert.deepEqual(resent[0]?.["patch"], { v: 1 });
    // The server already applied it before the drop: it repeats the first result.
    reply(socket, resent[0] ?? {}, 7);
    reply(socket, resent[0] ?? {}, 7); // a stray duplicate reply is ignored
    reply(socket, resent[1] ?? {}, 8);
    assert.equal(await p, 7);
    assert.equal(await later, 8);
    assert.equal(settled, 1);
  });

  it("the patch is copied when published; later changes by the caller do not leak in", () => {
    const h = createHarness();
    const patch: Record<string, unknown> = { a: 1 };
    void h.client.channel("c").publish(patch as never);
    patch["a"] = 2;
    h.socket().welcome();
    assert.deepEqual(h.socket().last("publish")["patch"], { a: 1 });
  });

  it("the offline queue is bounded: overflow rejects with a clear error", async () => {
    const h = openHarness({ offlineQueueLimit: 2 });
    h.socket().serverClose(1006);
    const c = h.client.channel("c");
    const ok = [c.publish({ a: 1 }), c.publish({ a: 2 })];
    const over = c.publish({ a: 3 });
    await assert.rejects(over, (e: unknown) => {
      assert.ok(e instanceof LifelineQueueFullError);
      assert.equal(e.code, "queue_full");
      assert.equal(e.limit, 2);
      assert.match(e.message, /offline publish queue is full \(offlineQueueLimit=2\)/);
      return true;
    });
    const socket = reconnect(h);
    assert.deepEqual(socket.ofType("publish").map((m) => (m["patch"] as Record<string, number>)["a"]), [1, 2]);
    socket.ofType("publish").forEach((m, i) => reply(socket, m, i));
    await Promise.all(ok);
  });

  it("a refused publish rejects with the server's code and is not re-sent", async () => {
    const h = openHarness();
    const p = h.client.channel("c").publish({ a: 1 });
    const sent = h.socket().last("publish");
    h.socket().receive({ type: "reply", id: sent["id"] as number, ok: false, error: { code: "forbidden", message: "read-only" } });
    await assert.rejects(p, (e: unknown) => e instanceof LifelineRequestError && e.code === "forbidden");
    const socket = reconnect(h);
    assert.equal(socket.ofType("publish").length, 0);
  });

  it("an error message answering a publish rejects it", async () => {
    const h = openHarness();
    const p = h.client.channel("c").publish({ a: 1 });
    h.socket().receive({ type: "error", id: h.socket().last("publish")["id"] as number, code: "invalid_message", message: "bad" });
    await assert.rejects(p, { code: "invalid_message" });
  });

  it("invalid patches and keys are rejected up front", async () => {
    const h = openHarness();
    const c = h.client.channel("c");
    await assert.rejects(c.publish([1] as never), TypeError);
    await assert.rejects(c.publish(null as never), TypeError);
    await assert.rejects(c.publish({ a: 1 }, { key: "k".repeat(129) }), TypeError);
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    await assert.rejects(c.publish(cyclic as never), TypeError);
    assert.equal(h.socket().ofType("publish").length, 0);
  });

  it("close() rejects queued publishes with LifelineClosedError", async () => {
    const h = createHarness();
    const p = h.client.channel("c").publish({ a: 1 });
    h.client.close();
    await assert.rejects(p, LifelineClosedError);
  });
});

describe("requests and the connection's AbortSignal", () => {
  it("a dropped connection aborts its signal and fails pending requests; a new one brings a new signal", async () => {
    const h = openHarness();
    const channel = h.client.channel("c");
    const signal = h.client.signal;
    let aborted: unknown;
    signal.addEventListener("abort", () => {
      aborted = signal.reason;
    });
    const presence = channel.fetchPresence();
    const publish = channel.publish({ a: 1 });
    h.socket().serverClose(1006);
    assert.ok(signal.aborted);
    assert.ok(aborted instanceof LifelineDisconnectedError);
    await assert.rejects(presence, LifelineDisconnectedError);
    const socket = reconnect(h);
    assert.notEqual(h.client.signal, signal);
    assert.equal(h.client.signal.aborted, false);
    // The publish was not failed: it was re-sent.
    reply(socket, socket.last("publish"), 3);
    assert.equal(await publish, 3);
  });

  it("close() aborts the signal", () => {
    const h = openHarness();
    h.client.close();
    assert.ok(h.client.signal.aborted);
  });
});
