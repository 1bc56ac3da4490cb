import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CHROMIUM_PATH, launchChromium, type Browser } from "./support/chromium.js";
import { findLifelineDll, LifelineServer } from "./support/lifelineServer.js";
import { openClient, waitOffset } from "./support/pageClient.js";

/*
 * The server API of `lifeline serve` (issue 19) seen from a browser: a backend's POST /api/publish (here: this test,
 * with the key of --api-key-file) reaches the browser client subscribed in real headless Chromium.
 */

const dll = findLifelineDll();
const missing = !existsSync(CHROMIUM_PATH)
  ? `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium)`
  : !dll
    ? "lifeline.dll is not built (dotnet build src/Lifeline.Cli, or set LIFELINE_DLL)"
    : undefined;
const skip = missing && process.env["CI"] !== "true" ? missing : false;

describe("server API reaching the browser client", { skip, timeout: 120_000 }, () => {
  const key = "e2e-backend-key-" + process.pid;
  const dir = mkdtempSync(join(tmpdir(), "lifeline-e2e-api-"));
  let server: LifelineServer;
  let browser: Browser;

  before(async () => {
    if (missing) {
      throw new Error(`missing dependency: ${missing}`);
    }
    const keyFile = join(dir, "api-keys");
    writeFileSync(keyFile, `${key}\n`);
    server = new LifelineServer(dll!, {}, ["--auth", "dev"], ["--api-key-file", keyFile]);
    await server.start(0);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("POST /api/publish with the key reaches a subscribed page; without the key it is 401 and reaches nobody", { timeout: 60_000 }, async () => {
    const page = await openClient(browser.context, server.origin, server.wsUrl, { token: "alice", channel: "room:api" });
    const publish = (authorization: string | undefined, patch: object) =>
      fetch(`${server.origin}/api/publish`, {
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
});
