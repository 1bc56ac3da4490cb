import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LifelineClosedError } from "../src/errors.js";
import type { JsonObject } from "../src/json.js";
import { flush } from "./support/fakeClock.js";
import { createHarness, openHarness, type Harness } from "./support/harness.js";

async function subscribed(h: Harness, name: string, offset: number, state: JsonObject) {
  const channel = h.client.channel(name);
  const seen: JsonObject[] = [];
  channel.subscribe((s) => seen.push(s));
  await flush();
  const sub = h.socket().last("subscribe");
  h.socket().receive(
    { type: "subscribed", id: sub["id"] as number, channel: name, epoch: "e1", offset, recovered: false },
    { type: "snapshot", channel: name, epoch: "e1", offset, state },
  );
  return { channel, seen };
}

describe("connect(): the same client comes back (issue 15)", () => {
  it("after close(): resumes the session, resubscribes with since, keeps every listener, flushes the queue", async () => {
    const h = openHarness({ token: "t" });
    const { channel, seen } = await subscribed(h, "room", 4, { n: 4 });
    let messages = 0;
    h.client.onMessage(() => messages++);
    h.client.close();
    assert.equal(h.client.state, "closed");
    await assert.rejects(channel.publish({ n: 5 }), LifelineClosedError, "closed still means closed until connect()");

    const opened = h.client.connect();
    assert.equal(h.client.state, "connecting");
    assert.deepEqual(h.changes.slice(-1).map((c) => [c.from, c.to, c.reason]), [["closed", "connecting", "connect"]]);
    const queued = channel.publish({ n: 5 });
    assert.equal(h.sockets.length, 2);
    h.socket().open();
    assert.deepEqual(h.socket().messages[0], { type: "hello", v: 1, token: "t", resume: "s1", client: "lifeline-js/0.1.0" });
    h.socket().welcome({ resumed: true });
    await opened;
    assert.equal(h.client.state, "open");
    const sub = h.socket().last("subscribe");
    assert.deepEqual(sub["since"], { epoch: "e1", offset: 4 });
    const kinds = h.socket().messages.filter((m) => m["type"] === "subscribe" || m["type"] === "publish").map((m) => m["type"]);
    assert.deepEqual(kinds, ["subscribe", "publish"], "resubscribe, then the queue");
    h.socket().receive({ type: "subscribed", id: sub["id"] as number, channel: "room", epoch: "e1", offset: 4, recovered: true });
    const pub = h.socket().last("publish");
    h.socket().receive({ type: "reply", id: pub["id"] as number, ok: true, offset: 5 }, { type: "delta", channel: "room", offset: 5, patch: { n: 5 } });
    assert.equal(await queued, 5);
    assert.deepEqual(seen.map((s) => s["n"]), [4, 5], "the state listener is still attached, called once per change");
    h.socket().receive({ type: "message", data: { hi: 1 } });
    assert.equal(messages, 1);
  });

  it("after giving up (maxAttempts): connect() starts over with a fresh retry budget", async () => {
    const h = openHarness({ reconnect: { maxAttempts: 1 } });
    h.socket().serverClose(1006);
    h.clock.advance(500);
    h.socket().serverClose(1006);
    assert.equal(h.client.state, "closed");
    assert.equal(h.changes[h.changes.length - 1]?.reason, "retries_exhausted");
    const opened = h.client.connect();
    h.socket().serverClose(1006); // the first attempt fails: one retry is allowed again
    assert.equal(h.client.state, "reconnecting");
    h.clock.advance(500);
    h.socket().welcome({ resumed: true });
    await opened;
    assert.equal(h.client.resumed, true);
  });

  it("after a close code that is never retried (1008)", async () => {
    const h = openHarness();
    h.socket().serverClose(1008, "policy");
    assert.equal(h.client.state, "closed");
    const opened = h.client.connect();
    h.socket().welcome();
    await opened;
  });

  it("connect() while connecting or reconnecting: no second attempt, the same promise", async () => {
    const h = createHarness();
    const a = h.client.connect();
    const b = h.client.connect();
    assert.equal(a, b);
    assert.equal(h.sockets.length, 1, "the constructor's attempt only");
    h.socket().serverClose(1006);
    const c = h.client.connect();
    assert.equal(c, a);
    assert.equal(h.sockets.length, 1, "waiting for the backoff: still no attempt");
    h.clock.advance(500);
    assert.equal(h.sockets.length, 2);
    assert.equal(h.client.connect(), a);
    h.socket().welcome();
    await a;
    assert.equal(h.sockets.length, 2);
  });

  it("connect() while open resolves at once and sends nothing", async () => {
    const h = openHarness();
    const sent = h.socket().sent.length;
    await h.client.connect();
    assert.equal(h.sockets.length, 1);
    assert.equal(h.socket().sent.length, sent);
  });

  it("close() before open rejects connect() with LifelineClosedError", async () => {
    const h = openHarness();
    h.client.close();
    const opened = h.client.connect();
    h.client.close();
    await assert.rejects(opened, LifelineClosedError);
    assert.equal(h.client.state, "closed");
  });

  it("giving up before open rejects connect()", async () => {
    const h = createHarness({ reconnect: { maxAttempts: 0 } });
    const opened = h.client.connect();
    h.socket().serverClose(1006);
    await assert.rejects(opened, LifelineClosedError);
  });
});
