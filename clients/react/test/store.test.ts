import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { StoreApi } from "zustand/vanilla";
import { createChannelStore } from "../src/index.js";
import { fakeClient, flush } from "./support/server.js";

interface Doc {
  title?: string;
  tags?: { a?: number; b?: number };
  n?: number;
}

describe("createChannelStore (a Zustand StoreApi over a channel)", () => {
  it("getState and subscribe follow the channel; one wire subscription for any number of listeners; the last unsubscribe unsubscribes", async () => {
    const { client, socket } = fakeClient();
    socket.welcome();
    const store: StoreApi<Doc> = createChannelStore(client.channel<Doc>("doc"));
    assert.deepEqual(store.getInitialState(), {});
    const seen: Array<[Doc, Doc]> = [];
    const off1 = store.subscribe((s, prev) => seen.push([s, prev]));
    const off2 = store.subscribe(() => {});
    await flush();
    assert.equal(socket.ofType("subscribe").length, 1);
    socket.answerSubscribe("doc", { title: "a" }, 1);
    socket.receive({ type: "delta", channel: "doc", offset: 2, patch: { n: 2 }, ts: 1 });
    assert.deepEqual(store.getState(), { title: "a", n: 2 });
    assert.deepEqual(seen, [
      [{ title: "a" }, {}],
      [{ title: "a", n: 2 }, { title: "a" }],
    ]);
    off1();
    off1();
    await flush();
    assert.equal(socket.ofType("unsubscribe").length, 0, "another listener remains");
    off2();
    await flush();
    assert.equal(socket.ofType("unsubscribe").length, 1);
    client.close();
  });

  it("setState(partial) publishes the merge patch of Zustand's shallow merge; replace publishes the deletions; no change publishes nothing", async () => {
    const { client, socket } = fakeClient();
    socket.welcome();
    const errors: unknown[] = [];
    const store = createChannelStore(client.channel<Doc>("doc"), { onError: (e) => errors.push(e) });
    const off = store.subscribe(() => {});
    await flush();
    socket.answerSubscribe("doc", { title: "a", tags: { a: 1, b: 2 } }, 1);

    // Shallow, like Zustand: `tags` is replaced as a whole, so `b` goes.
    store.setState({ tags: { a: 1 } });
    assert.deepEqual(socket.last("publish")["patch"], { tags: { b: null } });
    store.setState((s) => ({ n: (s.n ?? 0) + 1 }));
    assert.deepEqual(socket.last("publish")["patch"], { n: 1 });
    store.setState({ n: 5 }, true);
    assert.deepEqual(socket.last("publish")["patch"], { title: null, tags: null, n: 5 });
    const before = socket.ofType("publish").length;
    store.setState({ title: "a" });
    store.setState((s) => s);
    assert.equal(socket.ofType("publish").length, before, "nothing to change: nothing published");
    off();
    client.close();
  });

  it("with the client option optimistic, setState shows at once; a refused publish rolls back and reaches onError", async () => {
    const { client, socket } = fakeClient({ optimistic: true });
    socket.welcome();
    const errors: unknown[] = [];
    const store = createChannelStore(client.channel<Doc>("doc"), { onError: (e) => errors.push(e) });
    const off = store.subscribe(() => {});
    await flush();
    socket.answerSubscribe("doc", { title: "a" }, 1);
    store.setState({ title: "b" });
    assert.deepEqual(store.getState(), { title: "b" });
    const publish = socket.last("publish");
    socket.receive({ type: "reply", id: publish["id"], ok: false, error: { code: "forbidden", message: "no" } });
    await flush();
    assert.deepEqual(store.getState(), { title: "a" });
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /forbidden|no/);
    off();
    client.close();
  });
});
