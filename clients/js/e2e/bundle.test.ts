import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { CHROMIUM_PATH, launchChromium, type Browser } from "./support/chromium.js";
import { StubServer } from "./support/stubServer.js";

/*
 * The one-file bundle dist/lifeline.js, imported as /lifeline.js by a page in real headless
 * Chromium, against the stub server. Checks what a fake socket cannot: the bundle loads in a
 * browser, the browser's WebSocket fits WebSocketLike, and a real 1006 is survived.
 * The tests against the real `lifeline serve` come with the server (issue 7).
 */

const here = dirname(fileURLToPath(import.meta.url));
const bundlePath = join(here, "..", "..", "dist", "lifeline.js");

interface Log {
  states: string[];
  values: Array<number | null>;
  calls: number;
}

describe("bundle in Chromium against the stub server", { skip: existsSync(CHROMIUM_PATH) ? false : `no Chromium at ${CHROMIUM_PATH}` }, () => {
  let stub: StubServer;
  let host: string;
  let browser: Browser;
  let page: Page;

  before(async () => {
    stub = new StubServer({ bundlePath });
    host = await stub.listen();
    browser = await launchChromium();
    page = await browser.context.newPage();
    await page.goto(`http://${host}/`);
    await page.evaluate(`(async () => {
      const { LifelineClient } = await import("/lifeline.js");
      const log = (window.__log = { states: [], values: [], calls: 0 });
      const client = (window.__client = new LifelineClient("ws://${host}/ws", { reconnect: { baseMs: 50, capMs: 200 } }));
      client.onStateChange((c) => log.states.push(c.to + ":" + c.reason));
      client.channel("todos").subscribe((s) => { log.calls++; log.values.push(s.n ?? null); });
    })()`);
    await page.waitForFunction(`window.__client.state === "open" && window.__client.channel("todos").synced`);
  });

  after(async () => {
    await browser?.close();
    await stub?.close();
  });

  const log = () => page.evaluate(`window.__log`) as Promise<Log>;

  it("connects, syncs and publishes", async () => {
    const offset = await page.evaluate(`window.__client.channel("todos").publish({ n: 1 })`);
    assert.equal(offset, 1);
    stub.publish("todos", { n: 2 });
    await page.waitForFunction(`window.__client.channel("todos").offset === 2`);
    assert.deepEqual((await log()).values, [null, 1, 2]);
  });

  it("survives a dropped connection: resumes, recovers the gap, flushes the offline publish once", async () => {
    stub.dropAll();
    await page.waitForFunction(`window.__client.state === "reconnecting"`);
    const pending = page.evaluate(`window.__client.channel("todos").publish({ n: 3 })`);
    stub.publish("todos", { n: 4 }); // another client publishes during the gap
    await page.waitForFunction(`window.__client.state === "open" && window.__client.channel("todos").offset === 4`);
    assert.equal(await pending, 4, "the offline publish lands after the gap");
    const values = (await log()).values;
    assert.deepEqual(values.slice(3), [4, 3], "the gap first (recovered from history), then the flushed publish");
    const hellos = stub.received.filter((m) => m["type"] === "hello");
    assert.equal(hellos[hellos.length - 1]?.["resume"], "stub-session-1");
    const subs = stub.received.filter((m) => m["type"] === "subscribe");
    assert.deepEqual(subs[subs.length - 1]?.["since"], { epoch: "stub-epoch", offset: 2 });
  });

  it("fires handlers once per message after 10 reconnects", async () => {
    for (let i = 0; i < 10; i++) {
      stub.dropAll();
      await page.waitForFunction(`window.__client.state === "reconnecting"`);
      await page.waitForFunction(`window.__client.state === "open" && window.__client.channel("todos").synced`);
    }
    const before = (await log()).calls;
    stub.publish("todos", { n: 5 });
    await page.waitForFunction(`window.__client.channel("todos").offset === 5`);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await log()).calls, before + 1);
    assert.equal(stub.connections, 1);
  });
});
