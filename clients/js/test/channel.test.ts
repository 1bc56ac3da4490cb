import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LifelineChannel } from "../src/channel.js";
import { LifelineProtocolError } from "../src/errors.js";
import type { JsonObject } from "../src/json.js";
import { flush } from "./support/fakeClock.js";
import type { FakeSocket } from "./support/fakeSocket.js";
import { createHarness, openHarness, reconnect, type Harness } from "./support/harness.js";

/** Subscribes a listener, answers the wire subscribe with `subscribed` + `snapshot`. */
async function subscribeWithSnapshot(h: Harness, name: string, epoch = "e1", offset = 0, state: JsonObject = {}) {
  const channel = h.client.channel(name);
  const states: JsonObject[] = [];
  const unsubscribe = channel.subscribe((s) => states.push(s));
  await flush();
  const sub = h.socket().last("subscribe");
  assert.equal(sub["channel"], name);
  h.socket().receive(
    { type: "subscribed", id: sub["id"] as number, channel: name, epoch, offset, recovered: false },
    { type: "snapshot", channel: name, epoch, offset, state },
  );
  return { channel, states, unsubscribe };
}

function delta(channel: string, offset: number, patch: JsonObject) {
  return { type: "delta", channel, offset, patch, ts: 1 };
}

/** Answers the wire subscribe the client just sent as recovered. */
function answerRecovered(socket: FakeSocket, channel: LifelineChannel<JsonObject>, offset: number) {
  const sub = socket.last("subscribe");
  socket.receive({ type: "subscribed", id: sub["id"] as number, channel: channel.name, epoch: channel.epoch ?? "", offset, recovered: true });
}

describe("channel state sync", () => {
  it("the first listener subscribes on the wire; the snapshot sets state, epoch and offset", async () => {
    const h = openHarness();
    const { channel, states } = await subscribeWithSnapshot(h, "room:1", "e1", 41, { title: "hi" });
    assert.equal(h.client.channel("room:1"), channel, "same object for the same name");
    assert.equal(h.socket().last("subscribe")["since"], undefined, "no position yet: no since");
    assert.deepEqual(channel.state, { title: "hi" });
    assert.equal(channel.epoch, "e1");
    assert.equal(channel.offset, 41);
    assert.equal(channel.synced, true);
    assert.deepEqual(states, [{ title: "hi" }]);
  });

  it("applies deltas in offset order and ignores duplicates", async () => {
    const h = openHarness();
    const { channel, states } = await subscribeWithSnapshot(h, "c", "e1", 0, { n: 0 });
    h.socket().receive(delta("c", 1, { n: 1 }), delta("c", 2, { n: 2, x: true }));
    const snap = channel.getSnapshot();
    h.socket().receive(delta("c", 2, { n: 99 }), delta("c", 1, { n: 98 }), delta("c", 0, { n: 97 }));
    assert.equal(channel.getSnapshot(), snap, "duplicates change nothing");
    assert.deepEqual(states, [{ n: 0 }, { n: 1 }, { n: 2, x: true }]);
    assert.equal(channel.offset, 2);
    assert.equal(h.socket().ofType("subscribe").length, 1);
  });

  it("a gap triggers one resubscribe with since, and recovery fills it without duplicates", async () => {
    const h = openHarness();
    const { channel, states } = await subscribeWithSnapshot(h, "c", "e1", 5, {});
    h.socket().receive(delta("c", 6, { a: 6 }), delta("c", 8, { a: 8 }), delta("c", 9, { a: 9 }));
    const subs = h.socket().ofType("subscribe");
    assert.equal(subs.length, 2, "one resubscribe for the whole gap");
    assert.deepEqual(subs[1]?.["since"], { epoch: "e1", offset: 6 });
    assert.equal(channel.synced, false);
    answerRecovered(h.socket(), channel, 9);
    h.socket().receive(delta("c", 7, { a: 7 }), delta("c", 8, { a: 8 }), delta("c", 9, { a: 9 }), delta("c", 9, { a: 9 }));
    assert.deepEqual(states.map((s) => s["a"]), [undefined, 6, 7, 8, 9]);
    assert.equal(channel.offset, 9);
    assert.equal(channel.synced, true);
  });

  it("after a reconnect every subscribed channel resubscribes with since = last position", async () => {
    const h = openHarness();
    const a = await subscribeWithSnapshot(h, "a", "ea", 3, { v: 3 });
    const b = await subscribeWithSnapshot(h, "b", "eb", 10, { v: 10 });
    h.socket().receive(delta("a", 4, { v: 4 }));
    const socket = reconnect(h);
    const subs = socket.ofType("subscribe");
    assert.deepEqual(
      subs.map((m) => [m["channel"], m["since"]]),
      [["a", { epoch: "ea", offset: 4 }], ["b", { epoch: "eb", offset: 10 }]],
    );
    socket.receive(
      { type: "subscribed", id: subs[0]?.["id"] as number, channel: "a", epoch: "ea", offset: 5, recovered: true },
      delta("a", 4, { v: 4 }),
      delta("a", 5, { v: 5 }),
    );
    assert.deepEqual(a.states.map((s) => s["v"]), [3, 4, 5]);
    // b's epoch changed (server restart): the snapshot replaces the state even at a lower offset.
    socket.receive(
      { type: "subscribed", id: subs[1]?.["id"] as number, channel: "b", epoch: "eb2", offset: 2, recovered: false },
      delta("b", 11, { v: "stale" }),
      { type: "snapshot", channel: "b", epoch: "eb2", offset: 2, state: { v: "new" } },
      delta("b", 3, { w: 1 }),
    );
    assert.deepEqual(b.states.map((s) => s["v"]), [10, "new", "new"]);
    assert.equal(b.channel.epoch, "eb2");
    assert.equal(b.channel.offset, 3);
  });

  it("subscribing while disconnected subscribes on welcome", async () => {
    const h = createHarness();
    const channel = h.client.channel("c");
    channel.subscribe(() => undefined);
    await flush();
    h.socket().welcome();
    assert.equal(h.socket().ofType("subscribe").length, 1);
  });

  it("the last listener leaving unsubscribes on the wire; listener churn in one tick is coalesced", async () => {
    const h = openHarness();
    const channel = h.client.channel("c");
    // React StrictMode: subscribe, unsubscribe, subscribe in one commit.
    const u1 = channel.subscribe(() => undefined);
    u1();
    const u2 = channel.subscribe(() => undefined);
    await flush();
    assert.equal(h.socket().ofType("subscribe").length, 1);
    assert.equal(h.socket().ofType("unsubscribe").length, 0);
    const sub = h.socket().last("subscribe");
    h.socket().receive(
      { type: "subscribed", id: sub["id"] as number, channel: "c", epoch: "e", offset: 0, recovered: false },
      { type: "snapshot", channel: "c", epoch: "e", offset: 0, state: {} },
    );
    u2();
    u2(); // idempotent
    await flush();
    const unsub = h.socket().last("unsubscribe");
    assert.equal(unsub["channel"], "c");
    h.socket().receive({ type: "reply", id: unsub["id"] as number, ok: true });
    // A later subscribe resumes from the kept position.
    channel.subscribe(() => undefined);
    await flush();
    assert.deepEqual(h.socket().last("subscribe")["since"], { epoch: "e", offset: 0 });
  });

  it("no stale subscription: after unsubscribe the listener is never called and reconnects do not resubscribe", async () => {
    const h = openHarness();
    const { channel, states, unsubscribe } = await subscribeWithSnapshot(h, "c", "e", 0, {});
    unsubscribe();
    h.socket().receive(delta("c", 1, { late: true })); // in flight before the server saw the unsubscribe
    assert.equal(states.length, 1);
    await flush();
    h.socket().receive({ type: "reply", id: h.socket().last("unsubscribe")["id"] as number, ok: true });
    const socket = reconnect(h);
    await flush();
    assert.equal(socket.ofType("subscribe").length, 0);
    assert.equal(channel.offset, 1, "the position is still tracked");
  });

  it("unsubscribe then subscribe before the unsubscribe reply resubscribes after it", async () => {
    const h = openHarness();
    const { channel, unsubscribe } = await subscribeWithSnapshot(h, "c", "e", 0, {});
    unsubscribe();
    await flush();
    channel.subscribe(() => undefined);
    await flush();
    assert.equal(h.socket().ofType("subscribe").length, 1, "waits for the unsubscribe reply");
    h.socket().receive({ type: "reply", id: h.socket().last("unsubscribe")["id"] as number, ok: true });
    assert.equal(h.socket().ofType("subscribe").length, 2);
  });

  it("a refused subscribe is reported and leaves the channel unsubscribed", async () => {
    const h = openHarness();
    const channel = h.client.channel("secret");
    const states: unknown[] = [];
    channel.subscribe((s) => states.push(s));
    await flush();
    const sub = h.socket().last("subscribe");
    h.socket().receive({ type: "reply", id: sub["id"] as number, ok: false, error: { code: "forbidden", message: "no" } });
    assert.equal(channel.synced, false);
    assert.deepEqual(states, []);
    assert.ok(h.errors.some((e) => e.code === "forbidden"));
  });
});

describe("store contract (useSyncExternalStore, Zustand)", () => {
  it("getSnapshot returns a stable, frozen reference until the state changes", async () => {
    const h = openHarness();
    const { channel } = await subscribeWithSnapshot(h, "c", "e", 0, { list: [1], meta: { a: 1 } });
    const { subscribe, getSnapshot } = channel; // bound: usable detached, as React does
    const first = getSnapshot();
    assert.equal(getSnapshot(), first);
    assert.ok(Object.isFrozen(first));
    assert.throws(() => {
      (first as Record<string, unknown>)["x"] = 1;
    });
    // Emulate useSyncExternalStore: re-render only when the snapshot changed (Object.is).
    let renders = 0;
    let seen = getSnapshot();
    const unsubscribe = subscribe(() => {
      const next = getSnapshot();
      if (!Object.is(next, seen)) {
        seen = next;
        renders++;
      }
    });
    h.socket().receive(delta("c", 1, {})); // applied but changes nothing
    assert.equal(getSnapshot(), first);
    h.socket().receive(delta("c", 2, { list: [1, 2] }));
    const second = getSnapshot();
    assert.notEqual(second, first);
    assert.equal((second as JsonObject)["meta"], (first as JsonObject)["meta"], "untouched branches keep identity");
    assert.equal(renders, 1);
    unsubscribe();
    h.socket().receive(delta("c", 3, { list: [] }));
    assert.equal(renders, 1);
  });

  it("Zustand-style: getState alias and listener(state, previous)", async () => {
    const h = openHarness();
    const { channel } = await subscribeWithSnapshot(h, "c", "e", 0, { n: 1 });
    const calls: Array<[unknown, unknown]> = [];
    channel.subscribe((state, previous) => calls.push([state["n"], previous["n"]]));
    h.socket().receive(delta("c", 1, { n: 2 }));
    assert.deepEqual(calls, [[2, 1]]);
    assert.equal(channel.getState(), channel.getSnapshot());
  });
});

describe("message loop robustness", () => {
  it("a malformed message is reported and dropped; the rest of the frame is handled", async () => {
    const h = openHarness();
    const { states } = await subscribeWithSnapshot(h, "c", "e", 0, {});
    h.socket().receive(
      delta("c", 1, { a: 1 }),
      "{this is not json",
      "[1,2,3]",
      '{"type":"delta","channel":"c","offset":"2","patch":{}}',
      delta("c", 2, { a: 2 }),
    );
    assert.deepEqual(states.map((s) => s["a"]), [undefined, 1, 2]);
    const malformed = h.errors.filter((e) => e instanceof LifelineProtocolError);
    assert.equal(malformed.length, 3);
    assert.equal(h.client.state, "open");
    h.socket().onmessage?.({ data: new ArrayBuffer(4) });
    assert.equal(h.errors.filter((e) => e instanceof LifelineProtocolError).length, 4);
    assert.equal(h.client.state, "open");
  });

  it("unknown message types are ignored; a server error without id is reported", () => {
    const h = openHarness();
    h.socket().receive({ type: "future_feature", x: 1 });
    assert.equal(h.errors.length, 0);
    h.socket().receive({ type: "error", code: "rate_limited", message: "slow down" });
    assert.equal(h.errors[0]?.code, "rate_limited");
  });

  it("a throwing listener stops neither the other listeners nor the loop", async () => {
    const h = openHarness();
    const { channel, states } = await subscribeWithSnapshot(h, "c", "e", 0, {});
    channel.subscribe(() => {
      throw new Error("component bug");
    });
    const after: unknown[] = [];
    channel.subscribe((s) => after.push(s["k"]));
    h.socket().receive(delta("c", 1, { k: 1 }), delta("c", 2, { k: 2 }));
    assert.deepEqual(after, [1, 2]);
    assert.equal(states.length, 3);
    assert.equal(h.errors.filter((e) => e.code === "handler_error").length, 2);
  });

  it("a listener that closes the client stops the rest of the frame", async () => {
    const h = openHarness();
    const { channel } = await subscribeWithSnapshot(h, "c", "e", 0, {});
    channel.subscribe(() => h.client.close());
    h.socket().receive(delta("c", 1, { k: 1 }), { type: "ping", n: 5 });
    assert.equal(h.client.state, "closed");
    assert.equal(h.socket().ofType("pong").length, 0);
  });

  it("handlers fire once per message after 10 reconnects", async () => {
    const h = openHarness();
    const { channel, states } = await subscribeWithSnapshot(h, "c", "e", 0, {});
    const presence: string[] = [];
    channel.onPresence((p) => presence.push(`${p.event}:${p.user ?? ""}`));
    let opens = 0;
    h.client.onStateChange((c) => {
      if (c.to === "open") opens++;
    });
    let offset = 0;
    for (let i = 0; i < 10; i++) {
      const socket = reconnect(h);
      answerRecovered(socket, channel, offset);
    }
    assert.equal(opens, 10);
    const socket = h.socket();
    assert.equal(h.sockets.filter((s) => !s.detached).length, 1);
    states.length = 0;
    presence.length = 0;
    socket.receive(delta("c", ++offset, { i: 1 }), { type: "presence", channel: "c", event: "join", user: "bob", ts: 1 });
    assert.equal(states.length, 1);
    assert.deepEqual(presence, ["join:bob"]);
    socket.receive({ type: "ping", n: 1 });
    assert.equal(socket.ofType("pong").length, 1);
    // Old sockets are detached: even if they deliver, nothing fires.
    h.sockets[0]?.onmessage?.({ data: JSON.stringify(delta("c", 2, { old: true })) });
    assert.equal(states.length, 1);
  });
});

describe("presence", () => {
  it("loads the member list after subscribing and keeps it up to date from events", async () => {
    const h = openHarness();
    const { channel } = await subscribeWithSnapshot(h, "room", "e", 0, {});
    const events: string[] = [];
    channel.onPresence((p) => events.push(`${p.event}:${p.user ?? ""}:${p.members.join(",")}`));
    const req = h.socket().last("presence");
    assert.equal(req["channel"], "room");
    h.socket().receive({ type: "reply", id: req["id"] as number, ok: true, members: ["u1", "u2"] });
    const snap = channel.getPresenceSnapshot();
    assert.deepEqual(channel.presence, ["u1", "u2"]);
    h.socket().receive({ type: "presence", channel: "room", event: "join", user: "u2", ts: 1 });
    assert.equal(channel.getPresenceSnapshot(), snap, "a join of a member already listed changes nothing");
    h.socket().receive(
      { type: "presence", channel: "room", event: "join", user: "u3", ts: 2 },
      { type: "presence", channel: "room", event: "leave", user: "u1", reason: "disconnect", ts: 3 },
    );
    assert.deepEqual(channel.presence, ["u2", "u3"]);
    assert.deepEqual(events, ["sync::u1,u2", "join:u2:u1,u2", "join:u3:u1,u2,u3", "leave:u1:u2,u3"]);
    assert.ok(Object.isFrozen(channel.presence));
  });

  it("is reloaded after a reconnect; fetchPresence fails fast when offline", async () => {
    const h = openHarness();
    const { channel } = await subscribeWithSnapshot(h, "room", "e", 0, {});
    const socket = reconnect(h);
    answerRecovered(socket, channel, 0);
    const req = socket.last("presence");
    socket.receive({ type: "reply", id: req["id"] as number, ok: true, members: ["z"] });
    assert.deepEqual(channel.presence, ["z"]);
    const fetched = channel.fetchPresence();
    socket.receive({ type: "reply", id: socket.last("presence")["id"] as number, ok: true, members: ["z", "y"] });
    assert.deepEqual(await fetched, ["z", "y"]);
    socket.serverClose(1006);
    await assert.rejects(channel.fetchPresence(), { code: "disconnected" });
  });
});
