import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { flush } from "./support/fakeClock.js";
import { openHarness } from "./support/harness.js";

describe("channel.watch (views of more than the state)", () => {
  it("keeps the wire subscription like subscribe; called when synced, pending or the position change without a state change", async () => {
    const h = openHarness();
    const channel = h.client.channel("w");
    let calls = 0;
    const off = channel.watch(() => calls++);
    await flush();
    const sub = h.socket().last("subscribe");
    h.socket().receive(
      { type: "subscribed", id: sub["id"] as number, channel: "w", epoch: "e1", offset: 0, recovered: false },
      { type: "snapshot", channel: "w", epoch: "e1", offset: 0, state: {} },
    );
    assert.equal(channel.synced, true);
    const afterSync = calls;
    assert.ok(afterSync > 0);
    void channel.publish({ a: 1 }).catch(() => {});
    assert.equal(channel.pending, 1);
    assert.ok(calls > afterSync, "pending changed (not optimistic: the state did not)");
    const beforeDrop = calls;
    h.socket().serverClose(1006);
    assert.equal(channel.synced, false);
    assert.ok(calls > beforeDrop, "synced changed");
    off();
    off();
    const n = calls;
    h.client.close();
    assert.equal(calls, n, "an unregistered watcher is not called");
  });

  it("the last watcher gone unsubscribes on the wire", async () => {
    const h = openHarness();
    const channel = h.client.channel("w");
    const off = channel.watch(() => {});
    await flush();
    const sub = h.socket().last("subscribe");
    h.socket().receive({ type: "subscribed", id: sub["id"] as number, channel: "w", epoch: "e1", offset: 0, recovered: false });
    off();
    await flush();
    assert.equal(h.socket().ofType("unsubscribe").length, 1);
  });
});
