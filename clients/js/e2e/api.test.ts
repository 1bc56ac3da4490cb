import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { LifelineServer } from "./support/lifelineServer.js";
import { openClient, waitOffset } from "./support/pageClient.js";
import { browserRequirements, useBrowserSuite } from "./support/suite.js";

/*
 * The server API of `lifeline serve` (issue 19) seen from a browser: a backend's POST /api/publish (here: this test,
 * with the key of --api-key-file) reaches the browser client subscribed in real headless Chromium.
 */

const requirements = browserRequirements();
const { skip } = requirements;

describe("server API reaching the browser client", { skip, timeout: 120_000 }, () => {
  const key = "e2e-backend-key-" + process.pid;
  const dir = mkdtempSync(join(tmpdir(), "lifeline-e2e-api-"));
  const kit = useBrowserSuite(requirements, {
    server: (dll) => {
      const keyFile = join(dir, "api-keys");
      writeFileSync(keyFile, `${key}\n`);
      return new LifelineServer(dll, {}, ["--auth", "dev"], ["--api-key-file", keyFile]);
    },
    proxy: false,
    tearDown: () => rmSync(dir, { recursive: true, force: true }),
  });

  it("POST /api/publish with the key reaches a subscribed page; without the key it is 401 and reaches nobody", { timeout: 60_000 }, async () => {
    const page = await openClient(kit.browser.context, kit.server.origin, kit.server.wsUrl, { token: "alice", channel: "room:api" });
    const publish = (authorization: string | undefined, patch: object) =>
      fetch(`${kit.server.origin}/api/publish`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ channel: "room:api", patch }),
      });

    const refused = await publish(undefined, { from: "nobody" });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("www-authenticate"), "Bearer");
    assert.equal(refused.headers.get("access-control-allow-origin"), null);

    const accepted = await publish(`Bearer ${key}`, { from: "backend" });
    assert.equal(accepted.status, 200, await accepted.clone().text());
    const body = (await accepted.json()) as { offset: number; epoch: string };
    assert.equal(body.offset, 1);

    await waitOffset(page, 1);
    assert.deepEqual(await page.evaluate(`window.__t.channel.state`), { from: "backend" });
    await page.close();
  });

  it("POST /api/send reaches client.onMessage of every page of that user, once, and no other user's page", { timeout: 60_000 }, async () => {
    const pages = [];
    for (const user of ["carol", "carol", "dave"]) {
      const page = await openClient(kit.browser.context, kit.server.origin, kit.server.wsUrl, { token: user, channel: `room:send-${pages.length}` });
      await page.evaluate(`(() => { window.__messages = []; window.__t.client.onMessage((m) => window.__messages.push(m)); })()`);
      pages.push(page);
    }
    const send = async (user: string, data: unknown) => {
      const response = await fetch(`${kit.server.origin}/api/send`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
        body: JSON.stringify({ user, data }),
      });
      assert.equal(response.status, 200, await response.clone().text());
      return ((await response.json()) as { delivered: number }).delivered;
    };

    assert.equal(await send("carol", { export: "ready" }), 2);
    assert.equal(await send("dave", "second"), 1);
    // dave's page got its own message: every message sent before it to carol has reached carol's pages too.
    await pages[2]!.waitForFunction(`window.__messages.length === 1`);
    for (const page of pages.slice(0, 2)) {
      await page.waitForFunction(`window.__messages.length >= 1`);
      const got = (await page.evaluate(`window.__messages`)) as Array<{ data: unknown; ts?: number }>;
      assert.deepEqual(got.map((m) => m.data), [{ export: "ready" }], "once, and not dave's");
      assert.equal(typeof got[0]?.ts, "number");
    }
    assert.deepEqual(((await pages[2]!.evaluate(`window.__messages`)) as Array<{ data: unknown }>).map((m) => m.data), ["second"]);
    assert.equal(await send("nobody", 1), 0);
    for (const page of pages) await page.close();
  });
});
