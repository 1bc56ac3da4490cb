import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS, LifelineServer, TEST_OUTPUT } from "./support/lifelineServer.js";
import { log, openClient, pendingOffsets, publishAll, publishLater, stateOf, waitOffset, waitOpen, waitState } from "./support/pageClient.js";
import { browserRequirements, useBrowserSuite } from "./support/suite.js";

/*
 * The browser client in real headless Chromium (Debian's, through playwright-core) against a real `lifeline serve`
 * process (the built lifeline.dll, --auth dev --test-endpoints, heartbeat 500ms/500ms). Pages import the
 * /lifeline.js that the server serves. "The network" of a page is a TCP proxy the test can cut; a server restart
 * is a real new process on the same port. Every wait is on an event or a condition, bounded in time.
 */

const here = dirname(fileURLToPath(import.meta.url));
const distBundle = join(here, "..", "..", "dist", "lifeline.js");
const requirements = browserRequirements();
const { skip } = requirements;

describe("browser client against lifeline serve", { skip, timeout: 600_000 }, () => {
  // A short retry spread, so that a graceful restart (1001 retry_after_ms=N) is quick.
  const kit = useBrowserSuite(requirements, { server: (dll) => new LifelineServer(dll, { Lifeline__ShutdownRetrySpread: "200ms" }) });

  const open = async (token: string, channel: string, via: "proxy" | "direct", extra: { baseMs?: number; capMs?: number; tokenMode?: "string" | "async" } = {}) => {
    const page = await openClient(kit.browser.context, kit.server.origin, via === "proxy" ? kit.proxy.wsUrl : kit.server.wsUrl, { token, channel, ...extra });
    kit.track(page);
    return page;
  };

  afterEach(async () => {
    await kit.server.post("/_test/resume-pings").catch(() => undefined);
  });

  it("serves the client at /lifeline.js (the current build) and the demo at /", { timeout: 20_000 }, async () => {
    const js = await fetch(`${kit.server.origin}/lifeline.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type") ?? "", /^text\/javascript/);
    const body = Buffer.from(await js.arrayBuffer());
    assert.ok(body.equals(readFileSync(distBundle)), "the server serves a stale bundle: run `npm run bundle:server` in clients/js and rebuild the CLI");
    const etag = js.headers.get("etag");
    assert.ok(etag);
    assert.equal((await fetch(`${kit.server.origin}/lifeline.js`, { headers: { "if-none-match": etag } })).status, 304);
    const demo = await fetch(`${kit.server.origin}/`);
    assert.equal(demo.status, 200);
    assert.match(demo.headers.get("content-type") ?? "", /^text\/html/);
    const html = await demo.text();
    assert.match(html, /from "\/lifeline\.js"/);
    assert.match(html, /<meta name="lifeline-ws-path" content="\/ws">/);
  });

  it("reconnects after a server restart: graceful (SIGTERM, 1001) and crash (SIGKILL, 1006), new process on the same port", { timeout: 90_000 }, async () => {
    const page = await open("alice", "restart", "direct");
    assert.deepEqual(await publishAll(page, [1]), [1]);
    await waitOffset(page, 1);
    const firstEpoch = await page.evaluate(`window.__t.channel.epoch`);
    const port = kit.server.port;

    assert.equal(await kit.server.terminate(), 0, "a graceful stop exits with 0");
    await waitState(page, "reconnecting");
    await kit.server.start(port);
    await waitOpen(page);
    assert.equal(kit.server.port, port);
    const afterGraceful = await log(page);
    const lost = afterGraceful.states.find((s) => s.to === "reconnecting");
    assert.equal(lost?.code, 1001, JSON.stringify(afterGraceful.states));
    const secondEpoch = await page.evaluate(`window.__t.channel.epoch`);
    assert.notEqual(secondEpoch, firstEpoch, "an in-memory engine that restarted has a new epoch");
    assert.deepEqual(await publishAll(page, [2]), [1], "offsets restart in the new epoch");

    await kit.server.kill();
    await waitState(page, "reconnecting");
    await kit.server.start(port);
    await waitOpen(page);
    const states = (await log(page)).states;
    assert.equal(states.filter((s) => s.to === "reconnecting").at(-1)?.code, 1006, JSON.stringify(states));
    assert.deepEqual(await publishAll(page, [3]), [1]);
    await page.waitForFunction(`window.__t.channel.state.n === 3`);
    const path = states.map((s) => s.to).filter((to, i, all) => i === 0 || all[i - 1] !== to);
    assert.deepEqual(path, ["open", "reconnecting", "open", "reconnecting", "open"]);
    assert.deepEqual((await log(page)).errors, []);
  });

  it("resumes without loss while another client publishes during the gap", { timeout: 60_000 }, async () => {
    const alice = await open("alice", "resume", "proxy");
    const bob = await open("bob", "resume", "direct");
    await publishAll(alice, [1, 2, 3]);
    await waitOffset(alice, 3);
    await waitOffset(bob, 3);
    const session = await alice.evaluate(`window.__t.client.session`);
    const before = await log(alice);

    kit.proxy.cut();
    await waitState(alice, "reconnecting");
    assert.deepEqual(await publishAll(bob, [4, 5, 6, 7, 8]), [4, 5, 6, 7, 8]);
    assert.equal(await alice.evaluate(`window.__t.channel.offset`), 3, "alice is offline: nothing arrives");
    kit.proxy.restore();
    await waitOpen(alice);
    await waitOffset(alice, 8);

    const afterGap = await log(alice);
    assert.deepEqual(afterGap.values.slice(before.values.length), [4, 5, 6, 7, 8], "every delta of the gap, once, in order (recovered, not a snapshot)");
    assert.equal(await alice.evaluate(`window.__t.client.session`), session);
    assert.equal(await alice.evaluate(`window.__t.client.resumed`), true, "the session was resumed");
    assert.deepEqual(await alice.evaluate(`window.__t.channel.state`), { n: 8 });
    assert.deepEqual((await log(bob)).values.filter((v) => v !== null), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("an async token function is asked before every attempt; while it fails, attempts fail (token_failed), never an unhandled rejection", { timeout: 60_000 }, async () => {
    const alice = await open("alice", "async-token", "proxy", { tokenMode: "async" });
    const bob = await open("bob", "async-token", "direct");
    assert.deepEqual((await log(alice)).tokenAsks, ["connect"]);
    await publishAll(bob, [1]);
    await waitOffset(alice, 1);
    const session = await alice.evaluate(`window.__t.client.session`);

    await alice.evaluate(`window.__tokenFails = 3`);
    kit.proxy.cut();
    await waitState(alice, "reconnecting");
    assert.deepEqual(await publishAll(bob, [2, 3]), [2, 3]);
    kit.proxy.restore();
    await waitOpen(alice);
    await waitOffset(alice, 3);

    const after = await log(alice);
    assert.equal(await alice.evaluate(`window.__tokenFails`), 0, "the failing calls were made");
    assert.ok(after.tokenAsks.length >= 5, `asked before each attempt: ${JSON.stringify(after.tokenAsks)}`);
    assert.ok(after.tokenAsks.every((r) => r === "connect"), JSON.stringify(after.tokenAsks));
    assert.equal(after.errors.filter((e) => e.includes("token service down")).length, 3, JSON.stringify(after.errors));
    assert.equal(after.unhandled, 0, "no unhandled rejection");
    assert.equal(await alice.evaluate(`window.__t.client.session`), session);
    assert.equal(await alice.evaluate(`window.__t.client.resumed`), true);
    assert.deepEqual(after.values.filter((v) => v !== null), [1, 2, 3], "the gap recovered once, in order");
  });

  it("flushes offline publishes in order exactly once, also when the replies were lost", { timeout: 60_000 }, async () => {
    const alice = await open("alice", "offline", "proxy");
    const bob = await open("bob", "offline", "direct");

    // Offline: queued, then flushed in order on reconnect.
    kit.proxy.cut();
    await waitState(alice, "reconnecting");
    const ns = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    await publishLater(alice, ns);
    assert.equal(await alice.evaluate(`window.__t.client.pendingPublishes`), 10);
    kit.proxy.restore();
    assert.deepEqual(await pendingOffsets(alice), ns, "replies in order: offsets 1..10");
    await waitOffset(bob, 10);
    await waitOffset(alice, 10);
    assert.deepEqual((await log(bob)).values.filter((v) => v !== null), ns, "bob saw each publish once, in order");
    assert.deepEqual((await log(alice)).values.filter((v) => v !== null), ns);

    // Sent and applied, but the replies never arrive: the client re-sends with the same keys after the reconnect, and the server applies nothing twice.
    kit.proxy.holdDownstream();
    await publishLater(alice, [11, 12, 13, 14, 15]);
    await waitOffset(bob, 15);
    kit.proxy.cut();
    await waitState(alice, "reconnecting");
    kit.proxy.restore();
    assert.deepEqual(await pendingOffsets(alice), [11, 12, 13, 14, 15], "the re-sent publishes get their first result");
    await waitOffset(alice, 15);
    // A marker after them: anything applied twice would come before it.
    assert.deepEqual(await publishAll(bob, [16]), [16]);
    await waitOffset(alice, 16);
    await waitOffset(bob, 16);
    const expected = [...ns, 11, 12, 13, 14, 15, 16];
    assert.deepEqual((await log(bob)).values.filter((v) => v !== null), expected);
    assert.deepEqual((await log(alice)).values.filter((v) => v !== null), expected);
    assert.equal(await alice.evaluate(`window.__t.client.pendingPublishes`), 0);
  });

  it("detects a silent server with its watchdog when the pings stop (interval + timeout + slack)", { timeout: 60_000 }, async () => {
    const slackMs = 300;
    const alice = await open("alice", "watchdog", "direct");
    const seen = (await log(alice)).states.length;
    assert.equal(await kit.server.post("/_test/pause-pings"), 204);
    const paused = Date.now();
    await waitState(alice, "reconnecting", 10_000);
    const lost = (await log(alice)).states.slice(seen).find((s) => s.to === "reconnecting");
    assert.ok(lost, "no reconnecting state");
    assert.equal(lost.reason, "watchdog");
    // The last message came at most at `paused`; the watchdog fires interval + timeout + slack after it. 700 ms for a loaded machine.
    const bound = HEARTBEAT_INTERVAL_MS + HEARTBEAT_TIMEOUT_MS + slackMs + 700;
    assert.ok(lost.ts - paused <= bound, `watchdog after ${lost.ts - paused} ms > ${bound} ms`);
    assert.equal(await kit.server.post("/_test/resume-pings"), 204);
    await waitOpen(alice);
    assert.equal(await stateOf(alice), "open");
  });

  it("fires every handler once per message after 10 reconnects", { timeout: 90_000 }, async () => {
    const alice = await open("alice", "handlers", "proxy");
    const bob = await open("bob", "handlers", "direct");
    for (let i = 0; i < 10; i++) {
      kit.proxy.cut();
      await waitState(alice, "reconnecting");
      kit.proxy.restore();
      await waitOpen(alice);
    }
    const before = await log(alice);
    assert.equal(before.states.filter((s) => s.to === "open").length, 11, "one open per connection");
    await publishAll(bob, [1]);
    await publishAll(bob, [2]);
    await waitOffset(alice, 2);
    const afterTen = await log(alice);
    assert.equal(afterTen.calls, before.calls + 2, "one listener call per delta");
    assert.deepEqual(afterTen.values.slice(before.values.length), [1, 2]);
    assert.equal(afterTen.states.length, before.states.length, "no state change from stray sockets");
    assert.equal(kit.proxy.open, 1, "alice holds one connection, not one per reconnect");
    assert.equal((await kit.server.health()).connections, 2, "the server sees alice once and bob once");
    assert.deepEqual(afterTen.errors, []);
  });

  it("keeps the page's memory flat over 100 reconnects", { timeout: 240_000 }, async () => {
    // Bound: the JS heap after 100 more reconnects (each a new WebSocket, welcome, resubscribe) may grow by at most
    // 1 MiB over the heap after a 10-reconnect warm-up, both measured after a forced full GC (CDP).
    const boundBytes = 1024 * 1024;
    const alice = await open("alice", "memory", "proxy", { baseMs: 10, capMs: 30 });
    // A channel with history: each resubscribe then recovers from the client's position (a never-published channel
    // comes back in a fresh epoch at every read, hence with a snapshot).
    await publishAll(alice, [0]);
    await waitOffset(alice, 1);
    const callsBefore = (await log(alice)).calls;
    const cdp = await kit.browser.context.newCDPSession(alice);
    const heap = async () => {
      await cdp.send("HeapProfiler.collectGarbage");
      await cdp.send("HeapProfiler.collectGarbage");
      return (await cdp.send("Runtime.getHeapUsage")).usedSize;
    };
    const reconnect = async () => {
      kit.proxy.cut();
      await waitState(alice, "reconnecting");
      kit.proxy.restore();
      await waitOpen(alice);
    };
    for (let i = 0; i < 10; i++) await reconnect();
    // The log grows with each reconnect by design; empty it so that only the client is measured.
    await alice.evaluate(`window.__t.log.states.length = 0`);
    const start = await heap();
    for (let i = 0; i < 100; i++) await reconnect();
    await alice.evaluate(`window.__t.log.states.length = 0`);
    const end = await heap();
    await cdp.detach();
    console.log(`# heap: ${start} -> ${end} bytes (${end - start} over 100 reconnects)`);
    assert.ok(end - start < boundBytes, `heap grew by ${end - start} bytes over 100 reconnects (bound ${boundBytes})`);
    await publishAll(alice, [1]);
    await waitOffset(alice, 2);
    assert.equal((await log(alice)).calls, callsBefore + 1, "110 recovered resubscribes changed nothing; then one call for one delta");
  });

  it("demo: two tabs edit the list together, through a server restart (screenshots in test-output/demo.png, demo-reconnecting.png)", { timeout: 120_000 }, async () => {
    const tab = async () => {
      const page = await kit.browser.context.newPage();
      kit.track(page);
      page.setDefaultTimeout(20_000);
      await page.setViewportSize({ width: 640, height: 560 });
      await page.goto(`${kit.server.origin}/`);
      await page.waitForSelector(`[data-testid="state"][data-state="open"]`);
      return page;
    };
    const add = async (page: Page, text: string) => {
      await page.fill(`[data-testid="new-item"]`, text);
      await page.click(`[data-testid="add"]`);
    };
    const texts = (page: Page) => page.$$eval(`[data-testid="item"] .text`, (els) => els.map((e) => e.textContent));
    const waitItems = (page: Page, n: number) => page.waitForFunction(`document.querySelectorAll('[data-testid="item"]').length === ${n}`);

    const one = await tab();
    const two = await tab();
    await add(one, "Buy oat milk");
    await waitItems(two, 1);
    await add(two, "Water the plants");
    await add(two, "Call the plumber");
    await waitItems(one, 3);
    await two.click(`[data-testid="item"]:has-text("Buy oat milk") [data-testid="toggle"]`);
    await one.waitForSelector(`[data-testid="item"].done:has-text("Buy oat milk")`);
    await add(one, "Temporary");
    await waitItems(two, 4);
    await two.click(`[data-testid="item"]:has-text("Temporary") [data-testid="remove"]`);
    await waitItems(one, 3);
    assert.deepEqual(await texts(one), ["Buy oat milk", "Water the plants", "Call the plumber"]);
    assert.deepEqual(await texts(two), await texts(one));

    // The server restarts (a crash): both tabs show it, come back, and the list is still there (the tabs re-seed it).
    await kit.server.kill();
    await one.waitForSelector(`[data-testid="state"][data-state="reconnecting"]`);
    await two.waitForSelector(`[data-testid="state"][data-state="reconnecting"]`);
    mkdirSync(TEST_OUTPUT, { recursive: true });
    await one.screenshot({ path: join(TEST_OUTPUT, "demo-reconnecting.png") });
    await kit.server.start(kit.server.port);
    for (const page of [one, two]) {
      await page.waitForSelector(`[data-testid="state"][data-state="open"]`);
      await waitItems(page, 3);
    }
    await add(one, "Ship the browser client");
    await waitItems(two, 4);
    await two.click(`[data-testid="item"]:has-text("Water the plants") [data-testid="toggle"]`);
    for (const page of [one, two]) {
      await page.waitForSelector(`[data-testid="item"].done:has-text("Water the plants")`);
      await page.waitForFunction(`window.lifelineDemo.client.pendingPublishes === 0`);
    }
    const expected = ["Buy oat milk", "Water the plants", "Call the plumber", "Ship the browser client"];
    assert.deepEqual(await texts(one), expected);
    assert.deepEqual(await texts(two), expected);
    assert.deepEqual(
      await one.$$eval(`[data-testid="item"].done .text`, (els) => els.map((e) => e.textContent)),
      ["Buy oat milk", "Water the plants"],
    );

    // One picture: both tabs side by side.
    const shots = await Promise.all([one, two].map((p) => p.screenshot()));
    const sheet = await kit.browser.context.newPage();
    kit.pages.push(sheet);
    await sheet.setViewportSize({ width: 1300, height: 600 });
    await sheet.setContent(`<body style="margin:0;background:#c9ced8;display:flex;gap:20px;padding:20px">${shots
      .map((s, i) => `<figure style="margin:0"><img src="data:image/png;base64,${s.toString("base64")}" style="display:block;border:1px solid #888"><figcaption style="font:13px sans-serif;padding-top:4px">tab ${i + 1}</figcaption></figure>`)
      .join("")}</body>`);
    await sheet.waitForFunction(`Array.from(document.images).every((i) => i.complete && i.naturalWidth > 0)`);
    const file = join(TEST_OUTPUT, "demo.png");
    writeFileSync(file, await sheet.screenshot({ fullPage: true }));
    console.log(`# screenshot: ${file}`);
  });
});
