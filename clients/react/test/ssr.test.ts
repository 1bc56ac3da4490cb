import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createElement as h, StrictMode } from "react";
import { renderToString } from "react-dom/server";
import { useStore } from "zustand";
import type { StoreApi } from "zustand/vanilla";
import { createChannelStore, LifelineProvider, useChannel, useConnectionState, usePresence } from "../src/index.js";
import { fakeClient, flush } from "./support/server.js";

interface Doc {
  title: string;
  n?: number;
}

function Title(props: { initial?: Doc }) {
  const view = useChannel<Doc>("doc", props.initial === undefined ? {} : { initialState: props.initial });
  return h("p", null, `${JSON.stringify(view.state)} synced=${view.synced} pending=${view.pending} offset=${String(view.offset)}`);
}

function Status() {
  return h("i", null, `${useConnectionState()} members=${usePresence("doc").length}`);
}

describe("server rendering (getServerSnapshot)", () => {
  it("renders the initial state, not synced, connecting, no members: even when the channel already has a live state", async () => {
    const { client, socket } = fakeClient();
    socket.welcome();
    const unsubscribe = client.channel("doc").subscribe(() => {});
    await flush();
    socket.answerSubscribe("doc", { title: "live" }, 7);
    assert.deepEqual(client.channel("doc").state, { title: "live" });

    const html = renderToString(
      h(StrictMode, null, h(LifelineProvider, { client }, h(Title, { initial: { title: "kept" } }), h(Status))),
    );
    assert.equal(html, `<p>{&quot;title&quot;:&quot;kept&quot;} synced=false pending=0 offset=undefined</p><i>connecting members=0</i>`);
    unsubscribe();
    client.close();
  });

  it("without initialState the server renders {}", () => {
    const { client } = fakeClient();
    const html = renderToString(h(LifelineProvider, { client }, h(Title)));
    assert.equal(html, `<p>{} synced=false pending=0 offset=undefined</p>`);
    client.close();
  });

  it("server rendering subscribes nothing on the wire", async () => {
    const { client, socket } = fakeClient();
    socket.welcome();
    renderToString(h(LifelineProvider, { client }, h(Title), h(Status)));
    await flush();
    assert.deepEqual(socket.ofType("subscribe"), []);
    client.close();
  });

  it("a hook outside a LifelineProvider throws a clear error", () => {
    assert.throws(() => renderToString(h(Title)), /no LifelineProvider above this component/);
  });

  it("Zustand's own useStore renders the store's getInitialState on the server", () => {
    const { client } = fakeClient();
    const api: StoreApi<Doc> = createChannelStore(client.channel<Doc>("doc"), { initialState: { title: "first" } });
    function Z() {
      return h("b", null, useStore(api, (s) => s.title));
    }
    assert.equal(renderToString(h(Z)), "<b>first</b>");
    client.close();
  });
});
