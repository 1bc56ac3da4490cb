import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Page } from "playwright-core";
import { LifelineServer } from "./support/lifelineServer.js";
import { findRedisServer, RedisServer } from "./support/redisServer.js";
import { openClient, waitOffset } from "./support/pageClient.js";
import { browserRequirements, useBrowserSuite } from "./support/suite.js";

/*
 * State that survives a page reload (issue 16): `persistence: indexedDbPersistence(...)` in Chromium against a real
 * `lifeline serve`. The page itself is served by the server directly; its Lifeline connection goes through a TCP proxy
 * that the test cuts ("offline") and restores, so the page can be reloaded while its connection is down.
 */

const requirements = browserRequirements();
const { skip } = requirements;

interface Kept {
  state: Record<string, unknown>;
  confirmed: Record<string, unknown>;
  pending: number;
  synced: boolean;
  offset: number | null;
  clientState: string;
  errors: string[];
}

/** Starts (or, after a reload, restarts) the page's client with IndexedDB persistence `db`: window.__p. */
async function startPersistent(page: Page, wsUrl: string, db: string, channel: string): Promise<void> {
  await page.evaluate(`(async () => {
    const { LifelineClient, indexedDbPersistence } = await import("/lifeline.js");
    const errors = [];
    const client = new LifelineClient(${JSON.stringify(wsUrl)}, {
      token: "alice", optimistic: true, reconnect: { baseMs: 50, capMs: 200 },
      persistence: indexedDbPersistence(${JSON.stringify(db)}), onError: (e) => errors.push(String(e)),
    });
    const channel = client.channel(${JSON.stringify(channel)});
    const seen = [];
    channel.subscribe((s) => seen.push(s));
    window.__p = { client, channel, errors, seen };
  })()`);
}

const kept = (page: Page) =>
  page.evaluate(`(() => {
    const { client, channel, errors } = window.__p;
    return { state: channel.state, confirmed: channel.confirmed, pending: channel.pending, synced: channel.synced,
      offset: channel.offset ?? null, clientState: client.state, errors };
  })()`) as Promise<Kept>;

describe("persistence across a page reload (issue 16)", { skip, timeout: 300_000 }, () => {
  const kit = useBrowserSuite(requirements);

  const start = (page: Page, channel: string) => startPersistent(page, kit.proxy.wsUrl, "e2e", channel);

  const newPage = async () => {
    const page = await kit.browser.context.newPage();
    page.setDefaultTimeout(20_000);
    kit.track(page);
    await page.goto(`${kit.server.origin}/healthz`);
    return page;
  };

  it("5 edits offline, reload while still offline: they show at once; back online: the server has each exactly once and every page equals it", async () => {
    const bob = await openClient(kit.browser.context, kit.server.origin, kit.server.wsUrl, { token: "bob", channel: "persist-1" });
    await bob.evaluate(`window.__t.channel.publish({ n: 0 })`);

    const alice = await newPage();
    await start(alice, "persist-1");
    await alice.waitForFunction(`window.__p.channel.synced && window.__p.channel.offset === 1`);

    kit.proxy.cut();
    await alice.waitForFunction(`window.__p.client.state === "reconnecting"`);
    await alice.evaluate(`(() => {
      const c = window.__p.channel;
      for (let i = 1; i <= 5; i++) c.publish({ ["e" + i]: i }).catch(() => {});
    })()`);
    const before = await kept(alice);
    assert.deepEqual(before.state, { n: 0, e1: 1, e2: 2, e3: 3, e4: 4, e5: 5 });
    assert.equal(before.pending, 5);

    // Reload at once: what the last 100 ms changed is written on pagehide.
    await alice.reload();
    await start(alice, "persist-1");
    await alice.waitForFunction(`window.__p.channel.pending === 5`, undefined, { timeout: 5000 });
    const after = await kept(alice);
    assert.deepEqual(after.state, { n: 0, e1: 1, e2: 2, e3: 3, e4: 4, e5: 5 }, "the 5 edits show at once after the reload");
    assert.deepEqual(after.confirmed, { n: 0 });
    assert.equal(after.offset, 1);
    assert.equal(after.synced, false);
    assert.notEqual(after.clientState, "open", "still offline");
    assert.deepEqual(after.errors, []);

    kit.proxy.restore();
    await alice.waitForFunction(`window.__p.channel.synced && window.__p.channel.pending === 0`);
    await waitOffset(bob, 6);
    // Exactly once: one offset per edit (1 + 5), and the state of everyone equal to the server's.
    const server6 = (await bob.evaluate(`({ state: window.__t.channel.state, offset: window.__t.channel.offset })`)) as { state: unknown; offset: number };
    assert.deepEqual(server6, { state: { n: 0, e1: 1, e2: 2, e3: 3, e4: 4, e5: 5 }, offset: 6 });
    const done = await kept(alice);
    assert.deepEqual([done.state, done.confirmed, done.offset], [server6.state, server6.state, 6]);
    // Nothing more arrives: no edit was applied twice.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await bob.evaluate(`window.__t.channel.offset`), 6);

    // A later reload (online) starts from offset 6 with nothing pending.
    await alice.reload();
    await start(alice, "persist-1");
    await alice.waitForFunction(`window.__p.channel.synced`);
    const again = await kept(alice);
    assert.deepEqual([again.state, again.offset, again.pending, again.errors], [server6.state, 6, 0, []]);
    assert.equal(await bob.evaluate(`window.__t.channel.offset`), 6);
  });

  it("a corrupt record is reported through onError and ignored; the other channels are restored", async () => {
    const page = await newPage();
    await start(page, "persist-2");
    await page.waitForFunction(`window.__p.channel.synced`);
    await page.evaluate(`window.__p.channel.publish({ ok: true })`);
    await page.waitForFunction(`window.__p.channel.pending === 0 && window.__p.channel.offset === 1`);
    await new Promise((r) => setTimeout(r, 300)); // written (batched every 100 ms)
    // Damage one record in place (its body no longer matches its checksum), as a torn write would.
    await page.evaluate(`new Promise((resolve, reject) => {
      const open = indexedDB.open("lifeline:e2e");
      open.onsuccess = () => {
        const tx = open.result.transaction("channels", "readwrite");
        tx.objectStore("channels").put({ v: 1, at: Date.now(), sum: "00000000", body: '{"channel":"persist-bad","state":{},"pending":[]}' }, "persist-bad");
        tx.oncomplete = () => { open.result.close(); resolve(); };
        tx.onerror = () => reject(tx.error);
      };
      open.onerror = () => reject(open.error);
    })`);
    await page.reload();
    await start(page, "persist-2");
    await page.waitForFunction(`window.__p.errors.length > 0`);
    const state = await kept(page);
    assert.equal(state.errors.length, 1, state.errors.join("\n"));
    assert.match(state.errors[0]!, /persist-bad.*checksum mismatch/);
    assert.deepEqual(state.state, { ok: true }, "the good record is restored");
    assert.deepEqual(await page.evaluate(`window.__p.client.channel("persist-bad").state`), {});
  });
});

const redisServer = findRedisServer();
const redisRequirements = browserRequirements(() =>
  redisServer ? undefined : "no redis-server on the PATH (apt-get install redis-server, or set REDIS_SERVER)",
);

describe("persistence: the server killed while the kept publishes are unconfirmed (lifeline serve --redis)", { skip: redisRequirements.skip, timeout: 300_000 }, () => {
  let redis: RedisServer | undefined;
  const kit = useBrowserSuite(redisRequirements, {
    setUp: async () => {
      redis = await RedisServer.start(redisServer!);
    },
    server: (dll) => new LifelineServer(dll, {}, ["--auth", "dev"], ["--redis", redis!.address]),
    tearDown: () => redis?.stop(),
  });

  it("5 edits applied by the server but their replies lost; the server killed (SIGKILL) and restarted; the page reloaded: the kept edits re-sent with their keys are applied once", async () => {
    const bob = await openClient(kit.browser.context, kit.server.origin, kit.server.wsUrl, { token: "bob", channel: "persist-kill" });
    await bob.evaluate(`window.__t.channel.publish({ n: 0 })`);
    const alice = await kit.browser.context.newPage();
    alice.setDefaultTimeout(20_000);
    // Every publish alice sends, seen from outside the page (Playwright's WebSocket frames).
    const sent: Array<{ key: string; patch: unknown }> = [];
    alice.on("websocket", (ws) =>
      ws.on("framesent", (frame) => {
        const text = typeof frame.payload === "string" ? frame.payload : frame.payload.toString("utf8");
        for (const line of text.split("\n")) {
          const m = JSON.parse(line) as { type?: string; key?: string; patch?: unknown };
          if (m.type === "publish") sent.push({ key: m.key!, patch: m.patch });
        }
      }),
    );
    await alice.goto(`${kit.server.origin}/healthz`);
    await startPersistent(alice, kit.proxy.wsUrl, "e2e-kill", "persist-kill");
    await alice.waitForFunction(`window.__p.channel.synced && window.__p.channel.offset === 1`);

    // What the server sends alice is dropped: her 5 publishes reach the server and are applied, the replies and
    // deltas never come back, so they stay pending (and kept).
    kit.proxy.holdDownstream();
    await alice.evaluate(`(() => {
      const c = window.__p.channel;
      for (let i = 1; i <= 5; i++) c.publish({ ["k" + i]: i }).catch(() => {});
    })()`);
    await waitOffset(bob, 6);
    assert.equal((await kept(alice)).pending, 5);
    assert.equal(sent.length, 5);

    // The server dies (no graceful drain) and comes back on the same port with the same Redis; alice's page reloads
    // while her connection is still cut.
    kit.proxy.cut();
    await kit.server.restart("kill");
    await alice.reload();
    await startPersistent(alice, kit.proxy.wsUrl, "e2e-kill", "persist-kill");
    await alice.waitForFunction(`window.__p.channel.pending === 5`, undefined, { timeout: 5000 });
    const reloaded = await kept(alice);
    assert.deepEqual(reloaded.state, { n: 0, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5 });
    assert.deepEqual([reloaded.confirmed, reloaded.offset, reloaded.synced], [{ n: 0 }, 1, false]);

    kit.proxy.restore();
    await alice.waitForFunction(`window.__p.channel.synced && window.__p.channel.pending === 0`);
    await bob.waitForFunction(`window.__t.client.state === "open" && window.__t.channel.synced`);
    await new Promise((r) => setTimeout(r, 500));
    const truth = (await bob.evaluate(`({ state: window.__t.channel.state, offset: window.__t.channel.offset })`)) as { state: unknown; offset: number };
    assert.deepEqual(truth, { state: { n: 0, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5 }, offset: 6 }, "each edit applied once: offsets 1 + 5");
    const done = await kept(alice);
    assert.deepEqual([done.state, done.confirmed, done.offset, done.errors], [truth.state, truth.state, 6, []]);
    // The reloaded page sent the 5 kept publishes again, once each, with the same keys and patches.
    assert.deepEqual(sent.slice(5), sent.slice(0, 5), "re-sent once, same keys");
    await alice.close();
    await bob.close();
  });
});
