import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LifelineConflictError, LifelineRequestError } from "../src/errors.js";
import { applyMergePatch, type JsonObject } from "../src/json.js";
import { createMergePatch } from "../src/mergePatch.js";
import { flush } from "./support/fakeClock.js";
import type { FakeSocket } from "./support/fakeSocket.js";
import { openHarness, reconnect, type Harness } from "./support/harness.js";
import { RFC7396_EXAMPLES } from "./support/rfc7396.js";

async function synced(h: Harness, name: string, offset: number, state: JsonObject, epoch = "e1") {
  const channel = h.client.channel(name);
  channel.subscribe(() => undefined);
  await flush();
  const sub = h.socket().last("subscribe");
  h.socket().receive(
    { type: "subscribed", id: sub["id"] as number, channel: name, epoch, offset, recovered: false },
    { type: "snapshot", channel: name, epoch, offset, state },
  );
  return channel;
}

function conflict(socket: FakeSocket, message: Record<string, unknown>, epoch: string, offset: number) {
  socket.receive({ type: "reply", id: message["id"] as number, ok: false, error: { code: "conflict", message: "the channel moved on", epoch, offset } });
}

describe("createMergePatch (RFC 7396 diff)", () => {
  for (const [original, patch, result] of RFC7396_EXAMPLES) {
    it(`${JSON.stringify(original)} -> ${JSON.stringify(result)} (RFC patch ${JSON.stringify(patch)})`, () => {
      const diff = createMergePatch(original, result);
      assert.deepEqual(applyMergePatch(original, diff), result, `applying ${JSON.stringify(diff)}`);
    });
  }

  it("is minimal: equal members are left out, removed ones are null, nested objects are diffed", () => {
    const from = { title: "a", tags: ["x"], meta: { by: "u1", at: 1 }, gone: true };
    const to = { title: "a", tags: ["x", "y"], meta: { by: "u1", at: 2 }, added: { z: 1 } };
    assert.deepEqual(createMergePatch(from, to), { gone: null, tags: ["x", "y"], meta: { at: 2 }, added: { z: 1 } });
    assert.deepEqual(createMergePatch(to, to), {});
  });

  it("a null member in the target means absent", () => {
    assert.deepEqual(createMergePatch({ a: 1, b: 2 }, { a: null, b: 2 }), { a: null });
    assert.deepEqual(createMergePatch({}, { a: null }), {});
  });
});

describe("conditional publish (if / conflict)", () => {
  it("sends if = {epoch, offset} and resolves on success", async () => {
    const h = openHarness();
    const channel = await synced(h, "c", 44, {});
    const p = channel.publish({ a: 1 }, { if: { epoch: "e1", offset: 44 } });
    const sent = h.socket().last("publish");
    assert.deepEqual(sent["if"], { epoch: "e1", offset: 44 });
    h.socket().receive({ type: "reply", id: sent["id"] as number, ok: true, offset: 45 });
    assert.equal(await p, 45);
  });

  it("a conflict rejects with LifelineConflictError carrying the current position", async () => {
    const h = openHarness();
    const channel = await synced(h, "c", 44, {});
    const p = channel.publish({ a: 1 }, { if: { epoch: "e1", offset: 44 } });
    conflict(h.socket(), h.socket().last("publish"), "e1", 47);
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof LifelineConflictError);
      assert.ok(e instanceof LifelineRequestError);
      assert.equal(e.code, "conflict");
      assert.deepEqual(e.position, { epoch: "e1", offset: 47 });
      return true;
    });
    assert.equal(h.client.pendingPublishes, 0, "not re-sent");
  });

  it("queued offline and in flight at a drop: re-sent with the same key and the same if", async () => {
    const h = openHarness();
    const channel = await synced(h, "c", 44, {});
    const inFlight = channel.publish({ a: 1 }, { if: { epoch: "e1", offset: 44 } });
    const first = h.socket().last("publish");
    h.socket().serverClose(1006);
    const queued = channel.publish({ b: 1 }, { if: { epoch: "e1", offset: 45 } });
    const socket = reconnect(h);
    const resent = socket.ofType("publish");
    assert.deepEqual(resent.map((m) => [m["key"] === first["key"], m["if"]]), [
      [true, { epoch: "e1", offset: 44 }],
      [false, { epoch: "e1", offset: 45 }],
    ]);
    // The server applied the first before the drop: its key repeats the first result.
    socket.receive({ type: "reply", id: resent[0]?.["id"] as number, ok: true, offset: 45 });
    socket.receive({ type: "reply", id: resent[1]?.["id"] as number, ok: true, offset: 46 });
    assert.deepEqual(await Promise.all([inFlight, queued]), [45, 46]);
  });

  it("bad if: TypeError before anything is sent", async () => {
    const h = openHarness();
    const channel = h.client.channel("c");
    const bad: unknown[] = [
      "e1:4",
      null,
      [],
      42,
      { offset: 1 },
      { epoch: 1, offset: 1 },
      { epoch: "e1" },
      { epoch: "e1", offset: -1 },
      { epoch: "e1", offset: 1.5 },
      { epoch: "e1", offset: "1" },
      { epoch: "e1", offset: 2 ** 53 },
    ];
    for (const value of bad) {
      await assert.rejects(channel.publish({ a: 1 }, { if: value as never }), (e: unknown) => {
        assert.ok(e instanceof TypeError, String(e));
        assert.match(e.message, /^publish\(patch, \{ if \}\): if(\.epoch|\.offset)? must be/);
        return true;
      }, JSON.stringify(value));
    }
    assert.equal(h.socket().ofType("publish").length, 0);
  });
});

describe("channel.update (read-modify-write)", () => {
  it("publishes the merge patch from the confirmed state, on the condition of the confirmed position", async () => {
    const h = openHarness();
    const channel = await synced(h, "list", 3, { items: ["a"], title: "t" });
    const p = channel.update((s) => ({ ...s, items: [...(s["items"] as string[]), "b"] }));
    const sent = h.socket().last("publish");
    assert.deepEqual(sent["patch"], { items: ["a", "b"] });
    assert.deepEqual(sent["if"], { epoch: "e1", offset: 3 });
    h.socket().receive({ type: "reply", id: sent["id"] as number, ok: true, offset: 4 });
    assert.equal(await p, 4);
  });

  it("fn may change its copy in place; the channel's state is never touched", async () => {
    const h = openHarness();
    const channel = await synced(h, "list", 3, { items: ["a"] });
    const before = channel.state;
    void channel.update((s) => {
      (s["items"] as string[]).push("b");
      return s;
    });
    assert.deepEqual(h.socket().last("publish")["patch"], { items: ["a", "b"] });
    assert.equal(channel.state, before);
    assert.deepEqual(before, { items: ["a"] });
  });

  it("on conflict: waits until the state caught up with the server, computes again, publishes again", async () => {
    const h = openHarness();
    const channel = await synced(h, "list", 3, { items: ["a"] });
    const calls: string[][] = [];
    const p = channel.update((s) => {
      const items = s["items"] as string[];
      calls.push(items);
      return { items: [...items, "mine"] };
    });
    const first = h.socket().last("publish");
    conflict(h.socket(), first, "e1", 4);
    await flush();
    assert.equal(h.socket().ofType("publish").length, 1, "no retry before the state caught up");
    h.socket().receive({ type: "delta", channel: "list", offset: 4, patch: { items: ["a", "theirs"] } });
    await flush();
    const second = h.socket().last("publish");
    assert.notEqual(second["key"], first["key"], "a new publish, a new key");
    assert.deepEqual(second["if"], { epoch: "e1", offset: 4 });
    assert.deepEqual(second["patch"], { items: ["a", "theirs", "mine"] });
    h.socket().receive({ type: "reply", id: second["id"] as number, ok: true, offset: 5 });
    assert.equal(await p, 5);
    assert.deepEqual(calls, [["a"], ["a", "theirs"]]);
  });

  it("gives up after `retries` conflicts (default 10) with the conflict error", async () => {
    for (const [retries, attempts] of [[undefined, 11], [2, 3], [0, 1]] as const) {
      const h = openHarness();
      const channel = await synced(h, "c", 0, { n: 0 });
      const p = channel.update((s) => ({ n: (s["n"] as number) + 1 }), retries === undefined ? {} : { retries });
      let offset = 0;
      for (let i = 0; i < attempts; i++) {
        await flush();
        const sent = h.socket().last("publish");
        assert.deepEqual(sent["if"], { epoch: "e1", offset });
        offset++;
        conflict(h.socket(), sent, "e1", offset);
        h.socket().receive({ type: "delta", channel: "c", offset, patch: { n: offset * 10 } });
      }
      await assert.rejects(p, (e: unknown) => e instanceof LifelineConflictError && e.position?.offset === attempts);
      await flush();
      assert.equal(h.socket().ofType("publish").length, attempts);
    }
  });

  it("fn throws: the update rejects with it, nothing is sent, the channel is unharmed", async () => {
    const h = openHarness();
    const channel = await synced(h, "c", 1, { n: 1 });
    const boom = new Error("boom");
    await assert.rejects(channel.update(() => {
      throw boom;
    }), (e: unknown) => e === boom);
    await assert.rejects(channel.update(() => 42 as never), TypeError);
    await assert.rejects(channel.update({} as never), TypeError);
    await assert.rejects(channel.update((s) => s, { retries: -1 }), TypeError);
    assert.equal(h.socket().ofType("publish").length, 0);
    assert.deepEqual(channel.state, { n: 1 });
    const p = channel.update((s) => ({ n: (s["n"] as number) + 1 }));
    const sent = h.socket().last("publish");
    h.socket().receive({ type: "reply", id: sent["id"] as number, ok: true, offset: 2 });
    assert.equal(await p, 2);
  });

  it("nothing changed: nothing is sent, resolves with the current offset", async () => {
    const h = openHarness();
    const channel = await synced(h, "c", 7, { n: 1 });
    assert.equal(await channel.update((s) => s), 7);
    assert.equal(h.socket().ofType("publish").length, 0);
  });

  it("before the first snapshot it subscribes and waits; the hold is released afterwards", async () => {
    const h = openHarness();
    const channel = h.client.channel("fresh");
    const p = channel.update(() => ({ x: 1 }));
    await flush();
    const sub = h.socket().last("subscribe");
    assert.equal(h.socket().ofType("publish").length, 0);
    h.socket().receive(
      { type: "subscribed", id: sub["id"] as number, channel: "fresh", epoch: "e9", offset: 2, recovered: false },
      { type: "snapshot", channel: "fresh", epoch: "e9", offset: 2, state: {} },
    );
    await flush();
    const sent = h.socket().last("publish");
    assert.deepEqual(sent["if"], { epoch: "e9", offset: 2 });
    h.socket().receive({ type: "reply", id: sent["id"] as number, ok: true, offset: 3 });
    assert.equal(await p, 3);
    await flush();
    assert.equal(h.socket().ofType("unsubscribe").length, 1, "no listener left: unsubscribed");
  });

  it("before the first snapshot, a refused subscribe rejects the update with the refusal (never left waiting); nothing is sent", async () => {
    const h = openHarness();
    const channel = h.client.channel("secret");
    const p = channel.update(() => ({ x: 1 }));
    await flush();
    const sub = h.socket().last("subscribe");
    h.socket().receive({ type: "reply", id: sub["id"] as number, ok: false, error: { code: "forbidden", message: "no" } });
    await assert.rejects(p, (e: unknown) => e instanceof LifelineRequestError && e.code === "forbidden" && /subscribe to "secret" refused: no/.test(e.message));
    assert.equal(h.socket().ofType("publish").length, 0);
    assert.deepEqual(h.errors.map((e) => e.code), ["forbidden"], "the refusal is reported once, as before");
    assert.deepEqual(channel.state, {});
  });
});
