import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Browser } from "../../js/e2e/support/chromium.js";
import { browserRequirements, useBrowserSuite } from "../../js/e2e/support/suite.js";
import { browserBundle, ssrModule } from "./support/kit.js";

/*
 * @lifeline/react in Chromium, with the real React 19, react-dom and zustand from npm (bundled by esbuild), against a
 * real `lifeline serve --auth dev`. The wire is watched from outside the page: Playwright's WebSocket frames.
 */

/** Playwright's Page, as the kit's browser (clients/js/e2e/support) types it. */
type Page = Awaited<ReturnType<Browser["context"]["newPage"]>>;

const requirements = browserRequirements();
const { skip } = requirements;

/** Every message the page sent on its WebSockets, parsed. */
function watchWire(page: Page): Array<Record<string, unknown>> {
  const sent: Array<Record<string, unknown>> = [];
  page.on("websocket", (ws) => {
    ws.on("framesent", (frame) => {
      const text = typeof frame.payload === "string" ? frame.payload : frame.payload.toString("utf8");
      for (const line of text.split("\n")) if (line.trim() !== "") sent.push(JSON.parse(line) as Record<string, unknown>);
    });
  });
  return sent;
}

const count = (sent: Array<Record<string, unknown>>, type: string, channel: string) =>
  sent.filter((m) => m["type"] === type && m["channel"] === channel).length;

describe("@lifeline/react in Chromium (React 19, StrictMode, Zustand, server rendering)", { skip, timeout: 300_000 }, () => {
  let bundle: string;
  /** alice's connection for the persistence proof (kit.proxy): cut while the page reloads. */
  const kit = useBrowserSuite(requirements, {
    setUp: async () => {
      bundle = await browserBundle();
    },
  });

  const openPage = async () => {
    const page = await kit.browser.context.newPage();
    page.setDefaultTimeout(20_000);
    kit.track(page);
    const sent = watchWire(page);
    await page.goto(`${kit.server.origin}/healthz`);
    await page.evaluate(`document.documentElement.innerHTML = "<head></head><body><div id='root'></div></body>"`);
    await page.addScriptTag({ content: bundle });
    return { page, sent };
  };

  /** Another user, in a page of its own (its frames are not counted), as window.__other. */
  const otherUser = async () => {
    const { page } = await openPage();
    await page.evaluate(`window.__other = window.__app.other(${JSON.stringify(kit.server.wsUrl)})`);
    return page;
  };

  it("StrictMode, 3 components on one channel: one wire subscribe, one listener each; 100 deltas each committed once per component, equal to the server; unmount: one unsubscribe", async () => {
    const { page, sent } = await openPage();
    await page.evaluate(`window.__app.mountCounters(${JSON.stringify(kit.server.wsUrl)}, "react-strict")`);
    await page.waitForFunction(`window.__app.client().state === "open" && window.__app.client().channel("react-strict").synced`);
    assert.equal(count(sent, "subscribe", "react-strict"), 1, "one wire subscription for three components under StrictMode");
    assert.deepEqual(await page.evaluate(`window.__app.listeners("react-strict")`), { watchers: 3, state: 0, presence: 0 }, "one listener per component, none twice");

    const other = await otherUser();
    for (let n = 1; n <= 100; n++) {
      await other.evaluate(`window.__other.channel("react-strict").publish({ n: ${n} })`);
      // Each delta is rendered before the next is sent, so each state is its own commit.
      await page.waitForFunction(`["a","b","c"].every((id) => document.getElementById(id).textContent === ${JSON.stringify(JSON.stringify({ n }))})`);
    }
    const commits = (await page.evaluate(`window.__app.commits`)) as Record<string, Array<number | null>>;
    const expected = Array.from({ length: 100 }, (_, i) => i + 1);
    for (const id of ["a", "b", "c"]) {
      const values = commits[id]!;
      // StrictMode runs each mount effect twice (mount, unmount, mount): the initial state may be recorded twice.
      const afterMount = values.filter((v) => v !== null);
      assert.deepEqual(afterMount, expected, `component ${id}: each of the 100 states committed exactly once`);
      assert.ok(values.length - afterMount.length <= 2, `component ${id}: ${JSON.stringify(values.slice(0, 3))}`);
    }

    // The rendered text equals what a new client gets from the kit.server.
    const fresh = await other.evaluate(`new Promise((resolve) => {
      const c = window.__app.other(${JSON.stringify(kit.server.wsUrl)});
      const ch = c.channel("react-strict");
      const off = ch.subscribe(() => { if (ch.synced) { off(); resolve(ch.state); c.close(); } });
    })`);
    assert.deepEqual(fresh, { n: 100 });
    assert.equal(await page.textContent("#a"), JSON.stringify(fresh));

    await page.evaluate(`window.__app.unmount()`);
    await page.waitForFunction(`window.__app.client().channel("react-strict")._wire === "none"`);
    assert.equal(count(sent, "unsubscribe", "react-strict"), 1, "unmounting all: one unsubscribe");
    assert.equal(count(sent, "subscribe", "react-strict"), 1, "and no stale resubscribe");
    assert.deepEqual(await page.evaluate(`window.__app.listeners("react-strict")`), { watchers: 0, state: 0, presence: 0 });
    assert.deepEqual(await page.evaluate(`window.__app.errors`), []);
  });

  it("Zustand: useStore(createChannelStore(channel)) follows the channel's deltas; setState publishes (another user sees it)", async () => {
    const { page, sent } = await openPage();
    await page.evaluate(`window.__app.mountZustand(${JSON.stringify(kit.server.wsUrl)}, "react-zustand")`);
    await page.waitForFunction(`window.__app.client().channel("react-zustand").synced`);
    assert.equal(await page.textContent("#zustand"), "undefined");
    const other = await otherUser();
    await other.evaluate(`window.__other.channel("react-zustand").publish({ n: 7 })`);
    await page.waitForFunction(`document.getElementById("zustand").textContent === "7"`);

    // setState publishes; the other user, subscribed, receives it.
    await other.evaluate(`(() => {
      const ch = window.__other.channel("react-zustand");
      window.__seen = new Promise((resolve) => { const off = ch.subscribe((s) => { if (s.n === 8) { off(); resolve(ch.offset); } }); });
    })()`);
    await page.evaluate(`window.__app.store.setState((s) => ({ n: s.n + 1 }))`);
    assert.equal(await other.evaluate(`window.__seen`), 2);
    await page.waitForFunction(`document.getElementById("zustand").textContent === "8"`);
    assert.equal(count(sent, "subscribe", "react-zustand"), 1);
    assert.deepEqual(await page.evaluate(`window.__app.errors`), []);
  });

  it("server rendering (renderToString in Node) shows the initial state; hydration in Chromium gives no mismatch, then the live state", async () => {
    const ssr = await ssrModule();
    const initial = { title: "as rendered" };
    const html = ssr.render("react-ssr", initial);
    assert.match(html, /<h1 id="title">as rendered<\/h1>/);
    assert.match(html, /synced=<!-- -->false<!-- --> members=<!-- -->0<!-- --> connection=<!-- -->connecting/);

    const other = await otherUser();
    await other.evaluate(`window.__other.channel("react-ssr").publish({ title: "live" })`);
    const { page } = await openPage();
    await page.evaluate(`document.getElementById("root").innerHTML = ${JSON.stringify(html)}`);
    await page.evaluate(`window.__app.hydrate(${JSON.stringify(kit.server.wsUrl)}, "react-ssr", ${JSON.stringify(initial)})`);
    await page.waitForFunction(`document.getElementById("title").textContent === "live"`);
    await page.waitForFunction(`document.getElementById("meta").textContent.includes("synced=true")`);
    assert.deepEqual(await page.evaluate(`window.__app.recoverable`), [], "no hydration mismatch");
    assert.deepEqual(await page.evaluate(`window.__app.errors`), [], "no console error (React's development build reports mismatches there)");

    // The check can fail: hydrating the same HTML with another initial state is a mismatch.
    const { page: wrong } = await openPage();
    await wrong.evaluate(`document.getElementById("root").innerHTML = ${JSON.stringify(html)}`);
    await wrong.evaluate(`window.__app.hydrate(${JSON.stringify(kit.server.wsUrl)}, "react-ssr-other", { title: "something else" })`);
    await wrong.waitForFunction(`window.__app.recoverable.length + window.__app.errors.length > 0`);
    const reported = (await wrong.evaluate(`[...window.__app.recoverable, ...window.__app.errors].join("\\n")`)) as string;
    assert.match(reported, /hydrat/i, reported);
  });

  it("persistence: after a reload with the connection still cut, useChannel renders the kept state and edits (not synced) at once; back online it is synced and equal to the server", async () => {
    const other = await otherUser();
    await other.evaluate(`window.__other.channel("react-kept").publish({ title: "first" })`);
    const { page } = await openPage();
    await page.evaluate(`window.__app.mountPersistent(${JSON.stringify(kit.proxy.wsUrl)}, "react-kept", "react-e2e")`);
    await page.waitForFunction(`document.getElementById("status").textContent === '{"title":"first"} synced=true pending=0'`);
    kit.proxy.cut();
    await page.waitForFunction(`window.__app.client().state === "reconnecting"`);
    await page.evaluate(`void window.__app.client().channel("react-kept").publish({ n: 1 }).catch(() => {})`);
    await page.waitForFunction(`document.getElementById("status").textContent === '{"title":"first","n":1} synced=false pending=1'`);

    // Reload at once: the last changes (and a write still in flight) are written on pagehide.
    await page.reload();
    await page.evaluate(`document.documentElement.innerHTML = "<head></head><body><div id='root'></div></body>"`);
    await page.addScriptTag({ content: bundle });
    await page.evaluate(`window.__app.mountPersistent(${JSON.stringify(kit.proxy.wsUrl)}, "react-kept", "react-e2e")`);
    await page.waitForFunction(`document.getElementById("status").textContent === '{"title":"first","n":1} synced=false pending=1'`, undefined, { timeout: 5000 });
    assert.notEqual(await page.evaluate(`window.__app.client().state`), "open", "rendered from what was kept, before any connection");

    kit.proxy.restore();
    await page.waitForFunction(`document.getElementById("status").textContent === '{"title":"first","n":1} synced=true pending=0'`);
    const fresh = await other.evaluate(`new Promise((resolve) => {
      const c = window.__app.other(${JSON.stringify(kit.server.wsUrl)});
      const ch = c.channel("react-kept");
      const off = ch.subscribe(() => { if (ch.synced) { off(); resolve({ state: ch.state, offset: ch.offset }); c.close(); } });
    })`);
    assert.deepEqual(fresh, { state: { title: "first", n: 1 }, offset: 2 }, "the kept edit applied once");
    assert.deepEqual(await page.evaluate(`window.__app.errors`), []);
  });
});
