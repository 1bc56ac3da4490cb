import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { viewSource } from "../src/channelView.js";
import { fakeClient, flush } from "./support/server.js";

/*
 * What useChannel hands to useSyncExternalStore: `channel.watch` and the channel's view source. Subscribing,
 * unsubscribing and subscribing again in one tick is what StrictMode does to every mounted component.
 */
describe("the view behind useChannel", () => {
  it("N watchers (with StrictMode's subscribe/unsubscribe/subscribe each) = one wire subscribe; all gone = one unsubscribe", async () => {
    const { client, socket } = fakeClient();
    socket.welcome();
    const channel = client.channel("doc");
    const offs: Array<() => void> = [];
    for (let i = 0; i < 3; i++) {
      channel.watch(() => {})();
      offs.push(channel.watch(() => {}));
    }
    await flush();
    assert.equal(socket.ofType("subscribe").length, 1);
    socket.answerSubscribe("doc", { n: 0 });
    for (const off of offs) off();
    await flush();
    assert.equal(socket.ofType("unsubscribe").length, 1);
    socket.answerUnsubscribe();
    await flush();
    assert.equal(socket.ofType("subscribe").length, 1, "no resubscribe");
    client.close();
  });

  it("one view object per moment for every component; a new one when state, synced, pending or offset change; watchers hear each", async () => {
    const { client, socket } = fakeClient();
    socket.welcome();
    const channel = client.channel<{ n?: number }>("doc");
    const source = viewSource(channel);
    assert.equal(viewSource(channel), source, "one source per channel");
    let calls = 0;
    const off = channel.watch(() => calls++);
    const v0 = source.get();
    assert.equal(source.get(), v0);
    assert.deepEqual([v0.synced, v0.pending, v0.offset], [false, 0, undefined]);
    await flush();
    socket.answerSubscribe("doc", { n: 0 }, 3);
    const v1 = source.get();
    assert.notEqual(v1, v0);
    assert.deepEqual([v1.state, v1.synced, v1.offset, v1.epoch], [{ n: 0 }, true, 3, "e1"]);
    assert.ok(calls > 0);

    // Not optimistic: a publish changes `pending`, not the state; the watchers hear it.
    const before = calls;
    const done = v1.publish({ n: 1 });
    assert.ok(calls > before, "pending changed: watchers called");
    const v2 = source.get();
    assert.deepEqual([v2.state, v2.pending], [{ n: 0 }, 1]);
    assert.equal(v2.publish, v1.publish, "publish keeps its identity");
    socket.answerPublish(socket.last("publish"), 4);
    socket.receive({ type: "delta", channel: "doc", offset: 4, patch: { n: 1 }, ts: 1 });
    assert.equal(await done, 4);
    const v3 = source.get();
    assert.deepEqual([v3.state, v3.pending, v3.offset], [{ n: 1 }, 0, 4]);

    // The connection drops: synced goes false (no state change), the watchers hear it.
    const beforeDrop = calls;
    socket.readyState = 3;
    socket.onclose?.({ code: 1006, reason: "", wasClean: false });
    assert.ok(calls > beforeDrop);
    assert.equal(source.get().synced, false);
    off();
    client.close();
  });
});
