import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Page } from "playwright-core";
import { TEST_OUTPUT } from "./support/lifelineServer.js";
import { log, openClient, publishAll, waitOffset, waitOpen, waitState } from "./support/pageClient.js";
import { browserRequirements, useBrowserSuite } from "./support/suite.js";

/*
 * Issue 18 in the browser: ephemeral events (channel.emit / channel.onEvent) between pages in real Chromium against a
 * real `lifeline serve` (--auth dev: the token is the user), and the demo's live pointers. A publish after the emits is
 * the marker: the server sends a connection what it sends in order, so once a page has the marker's delta, every
 * event emitted before it has arrived (or never will).
 */

interface SeenEvent {
  channel: string;
  user: string | null;
  data: unknown;
  ts: number;
}

const requirements = browserRequirements();
const { skip } = requirements;

/** Records every event the page's channel gets in window.__events (an onEvent listener). */
const recordEvents = (page: Page) =>
  page.evaluate(`window.__events = [], window.__t.channel.onEvent((e) => window.__events.push({ channel: e.channel, user: e.user ?? null, data: e.data, ts: e.ts })), undefined`);

const eventsOf = (page: Page) => page.evaluate(`window.__events`) as Promise<SeenEvent[]>;

const emit = (page: Page, data: unknown) => page.evaluate(`window.__t.channel.emit(${JSON.stringify(data)})`);

describe("events in the browser against lifeline serve", { skip, timeout: 300_000 }, () => {
  const kit = useBrowserSuite(requirements);

  const open = async (token: string, channel: string, via: "proxy" | "direct") => {
    const page = await openClient(kit.browser.context, kit.server.origin, via === "proxy" ? kit.proxy.wsUrl : kit.server.wsUrl, { token, channel });
    kit.track(page);
    await recordEvents(page);
    return page;
  };

  it("an emit from page A reaches page B once, with the user and the data, and never page A", { timeout: 60_000 }, async () => {
    const alice = await open("alice", "events-once", "direct");
    const bob = await open("bob", "events-once", "direct");
    const before = Date.now();
    await emit(alice, { cursor: [0.25, 0.5] });
    await emit(alice, "typing");
    assert.deepEqual(await publishAll(alice, [1]), [1]);
    await waitOffset(alice, 1);
    await waitOffset(bob, 1);

    const atBob = await eventsOf(bob);
    assert.deepEqual(atBob.map((e) => [e.channel, e.user, e.data]), [
      ["events-once", "alice", { cursor: [0.25, 0.5] }],
      ["events-once", "alice", "typing"],
    ], "each event once, in order, with its user");
    assert.ok(atBob.every((e) => e.ts >= before - 1000 && e.ts <= Date.now() + 1000), JSON.stringify(atBob));
    assert.deepEqual(await eventsOf(alice), [], "the sender never gets its own events");
    // Events are not state: the channel's state holds only the publish.
    assert.deepEqual(await bob.evaluate(`window.__t.channel.state`), { n: 1 });
    assert.deepEqual((await log(bob)).errors, []);
  });

  it("events are not replayed: a page that reconnects sees none of the events emitted before or while it was away", { timeout: 60_000 }, async () => {
    const alice = await open("alice", "events-gap", "direct");
    const bob = await open("bob", "events-gap", "proxy");
    for (const i of [1, 2, 3]) await emit(alice, { before: i });
    await publishAll(alice, [1]);
    await waitOffset(bob, 1);
    assert.deepEqual((await eventsOf(bob)).map((e) => e.data), [{ before: 1 }, { before: 2 }, { before: 3 }]);

    // Bob's network goes away: the events emitted meanwhile are never delivered to him; the publish is.
    kit.proxy.cut();
    await waitState(bob, "reconnecting");
    for (const i of [1, 2]) await emit(alice, { during: i });
    await publishAll(alice, [2]);
    kit.proxy.restore();
    await waitOpen(bob);
    await waitOffset(bob, 2);
    assert.equal(await bob.evaluate(`window.__t.client.resumed`), true, "the session was resumed (the gap's deltas recovered)");

    // Live again: only what is emitted from now on arrives, once.
    await emit(alice, { after: 1 });
    await publishAll(alice, [3]);
    await waitOffset(bob, 3);
    assert.deepEqual(
      (await eventsOf(bob)).map((e) => e.data),
      [{ before: 1 }, { before: 2 }, { before: 3 }, { after: 1 }],
      "no event from before the reconnect again, none from the gap",
    );
    assert.deepEqual((await log(bob)).values.filter((v) => v !== null), [1, 2, 3], "the deltas, unlike the events, all arrive once");
    assert.deepEqual(await eventsOf(alice), []);
  });

  it("events are not replayed across a server restart either", { timeout: 90_000 }, async () => {
    const alice = await open("alice", "events-restart", "direct");
    const bob = await open("bob", "events-restart", "direct");
    await emit(alice, { old: true });
    await publishAll(alice, [1]);
    await waitOffset(bob, 1);
    assert.equal((await eventsOf(bob)).length, 1);

    const port = kit.server.port;
    assert.equal(await kit.server.terminate(), 0);
    await waitState(bob, "reconnecting");
    await waitState(alice, "reconnecting");
    await kit.server.start(port);
    await waitOpen(alice);
    await waitOpen(bob);
    await emit(alice, { fresh: true });
    // A new epoch after the in-memory server's restart: the first publish there has offset 1.
    assert.deepEqual(await publishAll(alice, [2]), [1]);
    await bob.waitForFunction(`window.__t.channel.state.n === 2`);
    assert.deepEqual((await eventsOf(bob)).map((e) => e.data), [{ old: true }, { fresh: true }]);
    assert.deepEqual(await eventsOf(alice), []);
  });

  it("demo: moving the pointer in tab A shows tab A's cursor in tab B (and not in tab A); picture of tab B in test-output/demo-cursor.png", { timeout: 60_000 }, async () => {
    const tab = async () => {
      const page = await kit.browser.context.newPage();
      kit.track(page);
      page.setDefaultTimeout(20_000);
      await page.setViewportSize({ width: 640, height: 560 });
      await page.goto(`${kit.server.origin}/`);
      await page.waitForSelector(`[data-testid="state"][data-state="open"]`);
      return page;
    };
    const one = await tab();
    const two = await tab();
    const userOne = (await one.evaluate(`window.lifelineDemo.client.user`)) as string;
    const userTwo = (await two.evaluate(`window.lifelineDemo.client.user`)) as string;
    assert.ok(userOne && userTwo && userOne !== userTwo, `${userOne} ${userTwo}`);
    // Both tabs subscribed on the wire (the demo subscribes at load; the state says open once it is synced).
    await one.waitForFunction(`window.lifelineDemo.list.synced`);
    await two.waitForFunction(`window.lifelineDemo.list.synced`);

    const card = (await one.locator("main").boundingBox())!;
    const cursorInTwo = two.locator(`[data-testid="cursor"][data-user="${userOne}"]`);
    // The demo emits at most every 50 ms: keep moving until tab B draws the pointer (bounded).
    for (let i = 0; i < 100 && (await cursorInTwo.count()) === 0; i++) {
      await one.mouse.move(card.x + card.width * (0.2 + (i % 10) * 0.05), card.y + card.height * 0.5, { steps: 2 });
      await one.waitForTimeout(60);
    }
    await cursorInTwo.waitFor({ state: "visible" });
    assert.equal(await cursorInTwo.textContent(), userOne);
    // It sits where tab A's pointer is, as a fraction of the card. The demo sends at most one position per 50 ms, so
    // the move is made after that interval (else it is throttled away and the next move would replace it).
    await one.waitForTimeout(120);
    await one.mouse.move(card.x + card.width * 0.75, card.y + card.height * 0.25);
    await two.waitForFunction(
      `(() => { const el = document.querySelector('[data-testid="cursor"][data-user="${userOne}"]'); return el && el.style.left === "75%" && el.style.top === "25%"; })()`,
    );
    assert.equal(await one.locator(`[data-testid="cursor"]`).count(), 0, "a tab never draws its own pointer");
    mkdirSync(TEST_OUTPUT, { recursive: true });
    const file = join(TEST_OUTPUT, "demo-cursor.png");
    await two.screenshot({ path: file });
    console.log(`# screenshot: ${file}`);
  });
});
