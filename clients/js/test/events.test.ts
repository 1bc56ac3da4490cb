import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChannelEvent } from "../src/channel.js";
import type { UserMessage } from "../src/client.js";
import { LifelineClosedError, LifelineDisconnectedError, LifelineRequestError } from "../src/errors.js";
import { flush } from "./support/fakeClock.js";
import { createHarness, openHarness, reconnect } from "./support/harness.js";

// emit / event and message (PROTOCOL.md "emit / event", "message") against the scripted socket.
describe("events and user messages", () => {
  it("onEvent keeps the wire subscription and receives each event once, frozen, with user and ts", async () => {
    const h = openHarness();
    const channel = h.client.channel("room:1");
    const events: ChannelEvent[] = [];
    const off = channel.onEvent((e) => events.push(e));
    await flush();
    const sub = h.socket().last("subscribe");
    assert.equal(sub["channel"], "room:1", "an event listener alone subscribes on the wire");
    h.socket().receive(
      { type: "subscribed", id: sub["id"] as number, channel: "room:1", epoch: "e1", offset: 0, recovered: false },
      { type: "snapshot", channel: "room:1", epoch: "e1", offset: 0, state: {} },
    );
    h.socket().receive(
      { type: "event", channel: "room:1", user: "u2", data: { cursor: [10, 20] }, ts: 5 },
      { type: "event", channel: "room:1", data: "from the server", ts: 6 },
      { type: "event", channel: "other", user: "u3", data: 1, ts: 7 },
    );
    assert.deepEqual(events, [
      { channel: "room:1", user: "u2", data: { cursor: [10, 20] }, ts: 5 },
      { channel: "room:1", user: null, data: "from the server", ts: 6 },
    ]);
    assert.ok(Object.isFrozen(events[0]) && Object.isFrozen(events[0]?.data), "events are frozen");
    off();
    off();
    await flush();
    assert.equal(h.socket().last("unsubscribe")["channel"], "room:1", "the last listener gone: unsubscribed");
    h.socket().receive({ type: "event", channel: "room:1", user: "u2", data: 2 });
    assert.equal(events.length, 2, "an unregistered listener gets nothing");
  });

  it("emit sends {type:emit,id,channel,data} and resolves on the ok reply", async () => {
    const h = openHarness();
    const channel = h.client.channel("room:1");
    channel.onEvent(() => {});
    await flush();
    const p = channel.emit({ typing: true });
    const sent = h.socket().last("emit");
    assert.deepEqual({ ...sent, id: 0 }, { type: "emit", id: 0, channel: "room:1", data: { typing: true } });
    h.socket().receive({ type: "reply", id: sent["id"] as number, ok: true });
    await p;
  });

  it("emit is refused with the server's code (not_subscribed, forbidden, limit_exceeded)", async () => {
    const h = openHarness();
    const channel = h.client.channel("elsewhere");
    for (const code of ["not_subscribed", "forbidden", "limit_exceeded"]) {
      const p = channel.emit(1);
      const sent = h.socket().last("emit");
      h.socket().receive({ type: "reply", id: sent["id"] as number, ok: false, error: { code, message: "no" } });
      await assert.rejects(p, (e: unknown) => e instanceof LifelineRequestError && e.code === code);
    }
  });

  it("emit is never queued: rejects while disconnected, after close, and when the connection drops before the reply", async () => {
    const h = createHarness();
    await assert.rejects(h.client.channel("c").emit(1), LifelineDisconnectedError);
    const o = openHarness();
    const pending = o.client.channel("c").emit(1);
    reconnect(o);
    await assert.rejects(pending, LifelineDisconnectedError);
    assert.equal(o.socket().ofType("emit").length, 0, "not re-sent on the new connection");
    o.client.close();
    await assert.rejects(o.client.channel("c").emit(1), LifelineClosedError);
  });

  it("emit(undefined) and unserializable data are refused up front", async () => {
    const h = openHarness();
    await assert.rejects(h.client.channel("c").emit(undefined as never), TypeError);
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    await assert.rejects(h.client.channel("c").emit(cyclic as never), TypeError);
    assert.equal(h.socket().ofType("emit").length, 0);
  });

  it("onMessage receives every message once across reconnects, and a throwing listener does not stop the others", async () => {
    const errors: unknown[] = [];
    const h = openHarness({ onError: (e) => errors.push(e) });
    const got: UserMessage[] = [];
    h.client.onMessage(() => {
      throw new Error("listener bug");
    });
    const off = h.client.onMessage((m) => got.push(m));
    h.socket().receive({ type: "message", data: { export: "ready" }, ts: 9 });
    reconnect(h);
    h.socket().receive({ type: "message", data: 2 });
    assert.deepEqual(got, [{ data: { export: "ready" }, ts: 9 }, { data: 2 }]);
    assert.equal(errors.length, 2, "each listener failure is reported");
    off();
    h.socket().receive({ type: "message", data: 3 });
    assert.equal(got.length, 2);
  });

  it("onEvent and onMessage fire once per event after 10 reconnects; an old socket's events fire nothing", async () => {
    // Issue 18: "Handlers fire once per event across reconnects, as for deltas" (PROTOCOL.md "Reconnection").
    const h = openHarness();
    const channel = h.client.channel("room:1");
    const events: unknown[] = [];
    const messages: unknown[] = [];
    channel.onEvent((e) => events.push(e.data));
    h.client.onMessage((m) => messages.push(m.data));
    await flush();
    const answerSubscribe = (recovered: boolean) => {
      const sub = h.socket().last("subscribe");
      h.socket().receive({ type: "subscribed", id: sub["id"] as number, channel: "room:1", epoch: "e1", offset: 0, recovered });
      if (!recovered) h.socket().receive({ type: "snapshot", channel: "room:1", epoch: "e1", offset: 0, state: {} });
    };
    answerSubscribe(false);
    for (let round = 0; round <= 10; round++) {
      if (round > 0) {
        reconnect(h);
        await flush();
        answerSubscribe(true);
      }
      h.socket().receive({ type: "event", channel: "room:1", user: "u2", data: round, ts: round }, { type: "message", data: round });
    }
    assert.equal(h.sockets.length, 11);
    assert.deepEqual(events, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(messages, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // The first socket is detached: even if it delivered, nothing would fire.
    h.sockets[0]?.onmessage?.({ data: JSON.stringify({ type: "event", channel: "room:1", user: "u2", data: "old" }) });
    h.sockets[0]?.onmessage?.({ data: JSON.stringify({ type: "message", data: "old" }) });
    assert.equal(events.length, 11);
    assert.equal(messages.length, 11);
  });

  it("malformed event and message lines are dropped and reported", async () => {
    const errors: unknown[] = [];
    const h = openHarness({ onError: (e) => errors.push(e) });
    const events: ChannelEvent[] = [];
    h.client.channel("c").onEvent((e) => events.push(e));
    h.socket().receive({ type: "event", channel: "c", user: 5, data: 1 }, { type: "event", user: "u", data: 1 }, { type: "message" });
    assert.equal(events.length, 0);
    assert.equal(errors.length, 3);
  });
});
