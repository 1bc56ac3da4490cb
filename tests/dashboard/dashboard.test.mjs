// /dashboard in a real headless Chromium (Debian's /usr/bin/chromium through playwright-core) against a real
// `lifeline serve`: known traffic is made (connections opened, deltas delivered, closes with known codes), then the
// numbers the page shows must equal what /metrics says. A screenshot goes to test-output/dashboard.png.
//
//   CONFIGURATION=Release node --test dashboard.test.mjs   (lifeline built first; ./test.sh does both)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const outputDir = path.join(root, "test-output");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const BOUND_MS = 30_000;

function lifelineDll() {
  const wanted = process.env.CONFIGURATION || "Release";
  for (const configuration of [wanted, "Release", "Debug"]) {
    const dll = path.join(root, "src/Lifeline.Cli/bin", configuration, "net10.0/lifeline.dll");
    if (existsSync(dll)) return dll;
  }
  throw new Error(`lifeline is not built (looked for src/Lifeline.Cli/bin/${wanted}/net10.0/lifeline.dll): run dotnet build first`);
}

let server;
let port;
let browser;
let userDataDir;
const serverOutput = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: apt-get install chromium (./test.sh does)`);
  server = spawn("dotnet", [lifelineDll(), "serve", "--port", "0", "--auth", "dev"], { stdio: ["ignore", "pipe", "pipe"] });
  port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("lifeline serve did not start within 30 s:\n" + serverOutput.join(""))), BOUND_MS);
    server.stdout.on("data", chunk => {
      serverOutput.push(chunk.toString());
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(serverOutput.join(""));
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    server.stderr.on("data", chunk => serverOutput.push(chunk.toString()));
    server.on("exit", code => { clearTimeout(timer); reject(new Error(`lifeline serve exited with ${code}:\n${serverOutput.join("")}`)); });
  });
  userDataDir = mkdtempSync(path.join(tmpdir(), "lifeline-dashboard-chromium-"));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
  });
});

after(async () => {
  await browser?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  if (server && server.exitCode === null) {
    const exited = new Promise(resolve => server.once("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
});

function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return samples;
}

const value = (samples, name, filter = {}) =>
  samples.filter(s => s.name === name && Object.entries(filter).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);

async function scrape() {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { Accept: "text/plain" } });
  assert.equal(response.status, 200);
  return parseMetrics(await response.text());
}

async function waitForMetrics(condition, what) {
  const deadline = Date.now() + BOUND_MS;
  let samples = [];
  for (;;) {
    samples = await scrape();
    if (condition(samples)) return samples;
    if (Date.now() > deadline) assert.fail(`/metrics never showed ${what}`);
    await new Promise(r => setTimeout(r, 100)); // polling /metrics, bounded
  }
}

test("the dashboard shows what /metrics says, for known traffic", async () => {
  // Known traffic, made by a page of the same browser: 5 clients; client 0 subscribes and client 1 publishes 3
  // deltas; clients 3 and 4 close with 1000, client 2 with 4001; a sixth sends hello v=2 and is closed with 1002.
  const traffic = await browser.newPage();
  await traffic.goto(`http://127.0.0.1:${port}/healthz`);
  const seen = await traffic.evaluate(async wsUrl => {
    const bound = (p, what) => Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error("timeout: " + what)), 20000))]);
    const open = user => new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl);
      ws.inbox = [];
      ws.waiters = [];
      ws.onmessage = e => {
        for (const line of String(e.data).split("\n").filter(Boolean)) {
          const m = JSON.parse(line);
          if (m.type === "ping") ws.send(JSON.stringify({ type: "pong", n: m.n }));
          if (m.type === "welcome") resolve(ws);
          ws.inbox.push(m);
          ws.waiters = ws.waiters.filter(w => !(w.match(m) && (w.resolve(m), true)));
        }
      };
      ws.onopen = () => ws.send(JSON.stringify({ type: "hello", v: 1, token: user }));
      ws.onerror = () => reject(new Error("websocket error for " + user));
    });
    const next = (ws, match) => new Promise(resolve => ws.waiters.push({ match, resolve }));
    const closed = ws => new Promise(resolve => ws.addEventListener("close", e => resolve(e.code)));

    const clients = [];
    for (let i = 0; i < 5; i++) clients.push(await bound(open("user" + i), "welcome " + i));
    clients[0].send(JSON.stringify({ type: "subscribe", id: 1, channel: "room:dashboard" }));
    await bound(next(clients[0], m => m.type === "subscribed"), "subscribed");
    const deltas = [];
    for (let n = 1; n <= 3; n++) {
      const delta = next(clients[0], m => m.type === "delta" && m.offset === n);
      clients[1].send(JSON.stringify({ type: "publish", id: n, channel: "room:dashboard", patch: { n } }));
      deltas.push(await bound(delta, "delta " + n));
    }
    const closes = [closed(clients[2]), closed(clients[3]), closed(clients[4])];
    clients[2].close(4001, "bye");
    clients[3].close(1000);
    clients[4].close(1000);
    const codes = await bound(Promise.all(closes), "closes");
    const bad = new WebSocket(wsUrl);
    bad.onopen = () => bad.send(JSON.stringify({ type: "hello", v: 2 }));
    codes.push(await bound(closed(bad), "close of the bad hello"));
    window.__keep = clients; // clients 0 and 1 stay open (and keep answering pings)
    return { deltas: deltas.length, codes };
  }, `ws://127.0.0.1:${port}/ws`);
  assert.equal(seen.deltas, 3);
  assert.deepEqual(seen.codes, [4001, 1000, 1000, 1002]);

  const metrics = await waitForMetrics(s =>
    value(s, "ws_connections_active") === 2
    && value(s, "ws_close_codes_distribution_total") === 4
    && value(s, "state_sync_latency_seconds_count", { phase: "delivery" }) === 3, "2 active, 4 closes, 3 deliveries");
  assert.equal(value(metrics, "ws_close_codes_distribution_total", { code: "1000" }), 2);
  assert.equal(value(metrics, "ws_close_codes_distribution_total", { code: "4001" }), 1);
  assert.equal(value(metrics, "ws_close_codes_distribution_total", { code: "1002" }), 1);

  // The dashboard, polling every 250 ms; wait for six renders after the traffic settled (a few points on the charts).
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", e => errors.push(String(e)));
  page.on("console", m => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(`http://127.0.0.1:${port}/dashboard?interval=250`);
  await page.waitForFunction(() => Number(document.body.dataset.scrapes || 0) >= 6, null, { timeout: BOUND_MS });
  const shown = await page.evaluate(() => {
    const text = id => document.getElementById(id).textContent.trim();
    const codes = {};
    for (const row of document.querySelectorAll("#close-codes tbody tr[data-code]")) codes[row.dataset.code] = row.querySelector(".count").textContent.trim();
    const points = document.querySelector("#chart-active polyline")?.getAttribute("points")?.trim().split(/\s+/).length ?? 0;
    const latencyRow = document.querySelector('#latency tr[data-phase="delivery"] .count')?.textContent.trim();
    return {
      active: text("active"), closeWait: text("close-wait"), heartbeatTimeouts: text("heartbeat-timeouts"),
      slowConsumers: text("slow-consumers"), sessionsResumed: text("sessions-resumed"), sendQueue: text("send-queue"),
      deliveryCount: text("delivery-count"), latencyRow, codes, points, status: text("status"),
    };
  });

  // Nothing of Lifeline's changes any more: the page and this scrape see the same figures. (The process and runtime
  // metrics on the same /metrics, CPU time, JIT, GC, move with every request and are not the dashboard's.)
  const lifeline = samples => samples.filter(s => (s.name.startsWith("ws_") || s.name.startsWith("state_sync_")) && s.name !== "ws_tcp_close_wait_sockets");
  const now = await scrape();
  assert.ok(lifeline(now).length >= 8, "Lifeline's own metrics are on /metrics");
  assert.deepEqual(lifeline(now), lifeline(metrics));
  const codesFromMetrics = {};
  for (const s of now.filter(s => s.name === "ws_close_codes_distribution_total")) codesFromMetrics[s.labels.code] = String(s.value);

  assert.equal(shown.active, String(value(now, "ws_connections_active")));
  assert.equal(shown.active, "2");
  assert.equal(shown.closeWait, String(value(now, "ws_tcp_close_wait_sockets")));
  assert.equal(shown.heartbeatTimeouts, String(value(now, "ws_heartbeat_timeouts_total")));
  assert.equal(shown.slowConsumers, String(value(now, "ws_slow_consumer_closes_total")));
  assert.equal(shown.sessionsResumed, String(value(now, "ws_sessions_resumed_total")));
  assert.equal(shown.sendQueue, String(value(now, "ws_send_queue_depth")));
  assert.equal(shown.deliveryCount, String(value(now, "state_sync_latency_seconds_count", { phase: "delivery" })));
  assert.equal(shown.deliveryCount, "3");
  assert.equal(shown.latencyRow, "3");
  assert.deepEqual(shown.codes, codesFromMetrics);
  assert.deepEqual(shown.codes, { 1000: "2", 1002: "1", 4001: "1" });
  assert.ok(shown.points >= 2, `the active-connections chart has ${shown.points} points`);
  assert.match(shown.status, /scraped at/);
  assert.deepEqual(errors, []);

  mkdirSync(outputDir, { recursive: true });
  await page.screenshot({ path: path.join(outputDir, "dashboard.png"), fullPage: true });
});

test("the dashboard is self-contained: no request leaves the server", async () => {
  const page = await browser.newPage();
  const foreign = [];
  page.on("request", r => { if (!r.url().startsWith(`http://127.0.0.1:${port}/`)) foreign.push(r.url()); });
  await page.goto(`http://127.0.0.1:${port}/dashboard?interval=250`);
  await page.waitForFunction(() => Number(document.body.dataset.scrapes || 0) >= 1, null, { timeout: BOUND_MS });
  assert.deepEqual(foreign, []);
});
