import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { launchChromium, type Browser } from "./support/chromium.js";
import { JwtIssuer } from "./support/jwt.js";
import { HEARTBEAT_TIMEOUT_MS, LifelineServer } from "./support/lifelineServer.js";
import { log, openClient, waitOffset, waitOpen, waitState } from "./support/pageClient.js";
import { browserRequirements, useBrowserSuite } from "./support/suite.js";

/*
 * Clients that come back by themselves and show the user's edits at once (issue 15), in Chromium against a real
 * `lifeline serve --auth jwt` (tokens signed here, with a `channels` claim, so that a channel can be forbidden).
 * The network of a page is cut with `BrowserContext.setOffline` (the browser's own `offline`/`online` events), so the
 * other users live in a second browser that stays online.
 */

const requirements = browserRequirements();
const { skip } = requirements;

/** The channels every user may use; `secret` is not among them. */
const ALLOWED = ["edits*", "list*", "rollback*"];
/** How long the page stays offline (the time under test). */
const OFFLINE_MS = 40_000;
/** Network back -> open, resynced and every offline edit confirmed. */
const BACK_BOUND_MS = 1000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("clients that come back by themselves (issue 15)", { skip, timeout: 600_000 }, () => {
  let issuer: JwtIssuer | undefined;
  /** The pages that go offline live in kit.browser; the proxy can drop what the server sends (for the liveness probe). */
  const kit = useBrowserSuite(requirements, {
    server: (dll) => {
      issuer = new JwtIssuer();
      return new LifelineServer(dll, {}, ["--auth", "jwt", "--jwt-key-file", issuer.keyFile]);
    },
    tearDown: () => issuer?.dispose(),
  });
  /** The others, always online. */
  let others: Browser;

  const open = async (
    where: Browser,
    user: string,
    channel: string,
    extra: { optimistic?: boolean; baseMs?: number; capMs?: number; recordRetries?: boolean; viaProxy?: boolean } = {},
  ) => {
    const { viaProxy, ...options } = extra;
    const url = viaProxy === true ? kit.proxy.wsUrl : kit.server.wsUrl;
    const page = await openClient(where.context, kit.server.origin, url, { token: issuer!.token(user, { channels: ALLOWED }), channel, ...options });
    kit.track(page);
    return page;
  };

  before(async () => {
    if (requirements.missing === undefined) others = await launchChromium();
  });

  afterEach(async () => {
    await kit.browser.context.setOffline(false);
  });

  after(async () => {
    await others?.close();
  });

  it("offline for 40 s with the backoff at its cap; online -> open, resynced and the 3 offline edits confirmed within 1 s, exactly once", { timeout: 120_000 }, async () => {
    // The default backoff (1 s base, 30 s cap): after 40 s of failing attempts its window is at the cap.
    const alice = await open(kit.browser, "alice", "edits", { optimistic: true, baseMs: 1000, capMs: 30_000, recordRetries: true });
    const bob = await open(others, "bob", "edits");
    await bob.evaluate(`window.__t.channel.publish({ n: 0 })`);
    await waitOffset(alice, 1);

    await kit.browser.context.setOffline(true);
    await waitState(alice, "reconnecting", 2000);
    const lost = (await log(alice)).states.at(-1);
    assert.equal(lost?.reason, "offline", "the offline event, not the watchdog");

    // Three edits made offline show at once, on top of the confirmed state.
    const shown = (await alice.evaluate(`(() => {
      const c = window.__t.channel;
      window.__edits = Promise.all([c.publish({ a: 1 }), c.publish({ b: 2 }), c.publish({ a: 3, c: 4 })]);
      return { state: c.state, confirmed: c.confirmed, pending: c.pending };
    })()`)) as { state: unknown; confirmed: unknown; pending: number };
    assert.deepEqual(shown, { state: { n: 0, a: 3, b: 2, c: 4 }, confirmed: { n: 0 }, pending: 3 });

    // The others keep working meanwhile.
    for (let i = 1; i <= 5; i++) {
      await bob.evaluate(`window.__t.channel.publish({ n: ${i} })`);
      await sleep(OFFLINE_MS / 6);
    }
    await sleep(OFFLINE_MS / 6);
    const retries = (await log(alice)).retries;
    const lastK = retries.at(-1)?.k ?? 0;
    assert.ok(Math.min(30_000, 1000 * 2 ** lastK) === 30_000, `the backoff window is at its cap (k=${lastK}): ${JSON.stringify(retries)}`);
    assert.equal(await alice.evaluate(`window.__t.client.state`), "reconnecting");

    await alice.evaluate(`window.addEventListener("online", () => { window.__onlineAt = Date.now(); }, { once: true })`);
    await kit.browser.context.setOffline(false);
    // Open, subscribed, caught up with bob's 5 publishes and with its own 3 edits confirmed: offsets 1..9.
    await alice.waitForFunction(
      `(() => {
        const { client, channel } = window.__t;
        if (client.state === "open" && channel.synced && channel.pending === 0 && channel.offset === 9) { window.__backAt ??= Date.now(); return true; }
        return false;
      })()`,
      undefined,
      { timeout: 20_000, polling: 5 },
    );
    const backMs = (await alice.evaluate(`window.__backAt - window.__onlineAt`)) as number;
    console.log(`# online -> open + resynced + 3 offline edits confirmed: ${backMs} ms (after ${OFFLINE_MS / 1000} s offline, backoff window at its 30 s cap)`);
    assert.ok(backMs <= BACK_BOUND_MS, `${backMs} ms > ${BACK_BOUND_MS} ms`);
    assert.deepEqual(await alice.evaluate(`window.__edits`), [7, 8, 9]);

    // Exactly once: the server has 9 offsets, and the same state for everyone.
    await waitOffset(bob, 9);
    const expected = { n: 5, a: 3, b: 2, c: 4 };
    assert.deepEqual(await alice.evaluate(`window.__t.channel.state`), expected);
    assert.deepEqual(await bob.evaluate(`window.__t.channel.state`), expected);
    const carol = await open(others, "carol", "edits");
    assert.equal(await carol.evaluate(`window.__t.channel.offset`), 9, "nothing was applied twice");
    assert.deepEqual(await carol.evaluate(`window.__t.channel.state`), expected);
    const states = (await log(alice)).states.map((s) => s.to).filter((to, i, all) => i === 0 || all[i - 1] !== to);
    assert.deepEqual(states, ["open", "reconnecting", "open"]);
    assert.equal((await log(alice)).unhandled, 0);
  });

  it("a forbidden publish shows at once and rolls back when the server refuses it", { timeout: 30_000 }, async () => {
    const alice = await open(kit.browser, "alice", "rollback", { optimistic: true });
    const result = (await alice.evaluate(`(async () => {
      const secret = window.__t.client.channel("secret");
      const seen = [];
      secret.subscribe((state) => seen.push(state));
      const publish = secret.publish({ x: 1 });
      const shown = secret.state;
      let error;
      try { await publish; } catch (e) { error = { name: e.name, code: e.code }; }
      return { shown, error, after: secret.state, seen, pending: secret.pending };
    })()`)) as Record<string, unknown>;
    assert.deepEqual(result, { shown: { x: 1 }, error: { name: "LifelineRequestError", code: "forbidden" }, after: {}, seen: [{ x: 1 }, {}], pending: 0 });
  });

  it("two pages each update the same list 50 times at once -> exactly 100 items, every page equal to the server", { timeout: 120_000 }, async () => {
    const one = await open(kit.browser, "alice", "list-race", { optimistic: true });
    const two = await open(others, "bob", "list-race", { optimistic: true });
    const run = (page: Page, me: string) =>
      page.evaluate(`(async () => {
        const c = window.__t.channel;
        let conflicts = 0;
        let most = 0;
        for (let i = 0; i < 50; i++) {
          // The default retries (10): the client's contention handling (early retry, yielding to the other writer)
          // must keep every update within it.
          let calls = 0;
          await c.update((s) => { calls++; return { ...s, items: [...(s.items ?? []), "${me}-" + i] }; });
          conflicts += calls - 1;
          most = Math.max(most, calls - 1);
        }
        return [conflicts, most];
      })()`) as Promise<[number, number]>;
    const [[c1, m1], [c2, m2]] = await Promise.all([run(one, "one"), run(two, "two")]);
    console.log(`# 2 x 50 concurrent updates: ${c1 + c2} retries after conflicts, at most ${Math.max(m1, m2)} for one update`);
    const server = await open(others, "carol", "list-race");
    const truth = (await server.evaluate(`window.__t.channel.state`)) as { items: string[] };
    assert.equal(truth.items.length, 100);
    assert.equal(new Set(truth.items).size, 100);
    for (const me of ["one", "two"]) {
      assert.deepEqual(truth.items.filter((x) => x.startsWith(`${me}-`)), Array.from({ length: 50 }, (_, i) => `${me}-${i}`), `${me}'s items, in order`);
    }
    const offset = (await server.evaluate(`window.__t.channel.offset`)) as number;
    assert.equal(offset, 100, "one publish per item: no conflicting write was applied");
    for (const page of [one, two]) {
      await waitOffset(page, offset);
      assert.deepEqual(await page.evaluate(`window.__t.channel.state`), truth);
      assert.deepEqual(await page.evaluate(`window.__t.channel.confirmed`), truth);
      assert.equal(await page.evaluate(`window.__t.channel.pending`), 0);
    }
  });

  it("connect() brings a closed client back: resumed, resubscribed from its offset, listeners kept", { timeout: 30_000 }, async () => {
    const alice = await open(kit.browser, "alice", "edits-restart");
    const bob = await open(others, "bob", "edits-restart");
    await bob.evaluate(`window.__t.channel.publish({ n: 1 })`);
    await waitOffset(alice, 1);
    const session = await alice.evaluate(`window.__t.client.session`);
    await alice.evaluate(`window.__t.client.close()`);
    await bob.evaluate(`window.__t.channel.publish({ n: 2 })`);
    await bob.evaluate(`window.__t.channel.publish({ n: 3 })`);
    await alice.evaluate(`window.__t.client.connect()`);
    await waitOpen(alice);
    await waitOffset(alice, 3);
    const l = await log(alice);
    assert.deepEqual(l.values.filter((v) => v !== null), [1, 2, 3], "the gap recovered from the offset, once, by the same listener");
    assert.equal(await alice.evaluate(`window.__t.client.session`), session);
    assert.deepEqual(l.states.map((s) => s.to), ["open", "closed", "connecting", "open"]);
  });

  it("a page that wakes up (resume) probes its connection: no pong within the heartbeat timeout -> reconnect at once", { timeout: 30_000 }, async () => {
    const alice = await open(kit.browser, "alice", "edits-probe", { viaProxy: true });
    const seen = (await log(alice)).states.length;
    // A connection that looks open but delivers nothing any more (what a laptop finds after sleep).
    kit.proxy.holdDownstream();
    const woke = (await alice.evaluate(`(() => { document.dispatchEvent(new Event("resume")); return Date.now(); })()`)) as number;
    await waitState(alice, "reconnecting", 5000);
    const lost = (await log(alice)).states.slice(seen).find((s) => s.to === "reconnecting");
    assert.equal(lost?.reason, "probe_timeout", "the probe, before the watchdog (interval + timeout + slack)");
    const after = lost.ts - woke;
    console.log(`# resume -> probe_timeout after ${after} ms (heartbeat timeout ${HEARTBEAT_TIMEOUT_MS} ms)`);
    // 700 ms for a loaded machine.
    assert.ok(after >= HEARTBEAT_TIMEOUT_MS - 20 && after <= HEARTBEAT_TIMEOUT_MS + 700, `${after} ms`);
    kit.proxy.cut();
    kit.proxy.restore();
    await waitOpen(alice);
  });
});
