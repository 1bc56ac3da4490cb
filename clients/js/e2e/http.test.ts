import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { afterEach, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { LifelineServer } from "./support/lifelineServer.js";
import { findNginx, hostileConfig, NginxServer } from "./support/nginxServer.js";
import { log, openClient, publishAll, waitOffset, waitOpen, waitState, type ClientLog } from "./support/pageClient.js";
import { findRedisServer, RedisServer } from "./support/redisServer.js";
import { browserRequirements, useBrowserSuite } from "./support/suite.js";

/*
 * The HTTP transport (issue 17), in Chromium: a real nginx running deploy/nginx/lifeline.conf made WebSocket-hostile
 * (the upgrade headers stripped: the server answers the plain GET /ws with 400) in front of a real
 * `lifeline serve --redis` (a throw-away redis-server: the sessions outlive a server restart). The page is of nginx's
 * origin. Without Chromium, the built tool, nginx or redis-server the tests are skipped with a message; under CI=true
 * they fail (test.sh installs nginx and redis-server).
 */

// The heartbeat is longer than the other suites' 500 ms: behind the buffering proxy the server would otherwise end the
// pong-less stream (4000) within about a second, and nginx would then deliver its welcome with the close, inside the
// connect timeout. The connect timeout is short, so that each fallback is quick.
const HEARTBEAT_MS: [number, number] = [3000, 3000];
const CONNECT_TIMEOUT_MS = 1500;

const nginxPath = findNginx();
const redisPath = findRedisServer();
const requirements = browserRequirements(
  () => (nginxPath ? undefined : "no nginx on the PATH or in /usr/sbin (apt-get install nginx, or set NGINX)"),
  () => (redisPath ? undefined : "no redis-server on the PATH (apt-get install redis-server, or set REDIS_SERVER)"),
);
const { skip } = requirements;

/** What the page's channel holds, as a new client would compare it. */
const view = (page: Page) => page.evaluate(`({ state: window.__t.channel.state, epoch: window.__t.channel.epoch, offset: window.__t.channel.offset })`);

/** The status nginx answers a WebSocket upgrade request on /ws with. */
const upgradeStatus = (nginxPort: number) =>
  new Promise<number>((resolve, reject) => {
    const request = httpRequest({ host: "127.0.0.1", port: nginxPort, path: "/ws", headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" } });
    request.once("upgrade", (_res, socket) => {
      socket.destroy();
      resolve(101);
    });
    request.once("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    request.once("error", reject);
    request.end();
  });

/** The paths of the page's fetches, in order. */
const fetches = (page: Page) => page.evaluate(`window.__fetches`) as Promise<string[]>;

const transportOf = (page: Page) => page.evaluate(`window.__t.client.transport`) as Promise<string>;

/** The transports of the `open` state changes. */
const openedOn = (entries: ClientLog["states"]) => entries.filter((s) => s.to === "open").map((s) => s.transport);

describe("browser client behind a WebSocket-hostile nginx (HTTP transport)", { skip, timeout: 600_000 }, () => {
  let redis: RedisServer | undefined;
  const kit = useBrowserSuite(requirements, {
    setUp: async () => {
      redis = await RedisServer.start(redisPath!);
    },
    server: (dll) => new LifelineServer(dll, {}, ["--auth", "dev"], ["--redis", redis!.address], HEARTBEAT_MS),
    proxy: false,
    tearDown: () => redis?.stop(),
  });
  const proxies: NginxServer[] = [];

  const open = async (token: string, channel: string, origin: string, wsUrl: string, clientOptions: Record<string, unknown> = {}) => {
    const page = await kit.browser.context.newPage();
    await page.close();
    try {
      const opened = await openClient(kit.browser.context, origin, wsUrl, { token, channel, clientOptions: { connectTimeoutMs: CONNECT_TIMEOUT_MS, ...clientOptions } });
      kit.track(opened);
      return opened;
    } catch (e) {
      const last = kit.browser.context.pages().at(-1);
      const states = last === undefined ? "" : JSON.stringify((await log(last).catch(() => undefined))?.states);
      throw new Error(`${String(e)}\nstates: ${states}`);
    }
  };

  const hostile = async (bufferStream: boolean) => {
    const nginx = await NginxServer.start(nginxPath!, (listen) => hostileConfig(kit.server.port, listen, { bufferStream }));
    proxies.push(nginx);
    return nginx;
  };

  /** A new client (straight to the server, over the WebSocket) subscribes and sees what the server holds. */
  const serverView = async (channel: string, offset: number) => {
    const carol = await open("carol", channel, kit.server.origin, kit.server.wsUrl);
    await waitOffset(carol, offset);
    assert.equal(await transportOf(carol), "websocket");
    return view(carol);
  };

  before(async () => {
    // Every page records the path of each fetch it makes (the HTTP transport's requests).
    await kit.browser.context.addInitScript(`(() => {
      const original = window.fetch.bind(window);
      window.__fetches = [];
      window.fetch = (input, init) => {
        const url = new URL(typeof input === "string" ? input : input.url, location.href);
        window.__fetches.push(url.pathname + url.search);
        return original(input, init);
      };
    })()`);
  });

  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.stop()));
  });

  it("the upgrade refused: falls back to the stream, subscribes, publishes, resumes after a server restart, ends equal to the server", { timeout: 120_000 }, async () => {
    const nginx = await hostile(false);
    // The refused upgrade really is refused: nginx passes the GET on without its Upgrade header.
    assert.equal(await upgradeStatus(nginx.port), 400, "the server never saw the upgrade");

    // The background WebSocket probe runs every second here: it keeps failing behind this proxy, and the client stays.
    const alice = await open("alice", "http:stream", nginx.origin, nginx.wsUrl, { transportProbeIntervalMs: 1000 });
    const bob = await open("bob", "http:stream", kit.server.origin, kit.server.wsUrl);
    assert.equal(await transportOf(alice), "http-stream");
    assert.equal(await transportOf(bob), "websocket");
    const first = await log(alice);
    const failedWs = first.states.find((s) => s.to === "reconnecting");
    assert.equal(failedWs?.transport, "websocket", `the WebSocket was tried first: ${JSON.stringify(first.states)}`);
    assert.deepEqual(openedOn(first.states), ["http-stream"]);
    assert.equal((await fetches(alice))[0], "/ws/stream", "the hello went in the body of POST /ws/stream");

    assert.deepEqual(await publishAll(alice, [1, 2]), [1, 2], "alice publishes over POST /ws/send");
    assert.deepEqual(await publishAll(bob, [3]), [3]);
    await waitOffset(alice, 3);
    const session = await alice.evaluate(`window.__t.client.session`);
    assert.ok(session);

    // A crash: the stream ends without a close event (1006); nginx answers 502 while the server is down.
    const port = kit.server.port;
    await kit.server.kill();
    await waitState(alice, "reconnecting");
    await kit.server.start(port);
    await waitOpen(alice);
    await waitOpen(bob);
    assert.equal(await alice.evaluate(`window.__t.client.session`), session, "the same session");
    assert.equal(await alice.evaluate(`window.__t.client.resumed`), true, "welcome.resumed");
    assert.equal(await transportOf(alice), "http-stream", "the transport that worked is remembered");

    assert.deepEqual(await publishAll(bob, [4, 5]), [4, 5], "the restarted server continues the offsets it kept in Redis");
    assert.deepEqual(await publishAll(alice, [6]), [6]);
    await waitOffset(alice, 6);
    await waitOffset(bob, 6);
    // Three more probe intervals behind the proxy: still on the stream, no switch.
    await new Promise((r) => setTimeout(r, 3500)); // the observation window is the point: nothing may change in it
    const end = await log(alice);
    assert.deepEqual(end.offsets, [0, 1, 2, 3, 4, 5, 6], "each delta once, in order, recovered from the offset (no new snapshot)");
    assert.deepEqual(end.values, [null, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(openedOn(end.states), ["http-stream", "http-stream"], `never on a WebSocket: ${JSON.stringify(end.states)}`);
    assert.equal(end.states.filter((s) => s.reason === "transport_switch").length, 0);
    assert.equal(end.states.at(-1)?.to, "open");
    assert.deepEqual(end.errors, []);
    assert.equal(end.unhandled, 0);
    assert.deepEqual(await view(alice), await serverView("http:stream", 6));
    assert.deepEqual(await alice.evaluate(`window.__t.channel.state`), { n: 6 });
  });

  it("a page of another allowed origin (CORS): falls back to the stream and publishes through it", { timeout: 120_000 }, async () => {
    // The page comes from the server's own origin, the client talks to nginx's: cross-origin, and allowed (lifeline
    // serve allows localhost pages on any port). The WebSocket would need no CORS; the HTTP transport does.
    const nginx = await hostile(false);
    assert.notEqual(kit.server.origin, nginx.origin);
    const alice = await open("alice", "http:cors", kit.server.origin, nginx.wsUrl, { transportProbeIntervalMs: 60_000 });
    assert.equal(await transportOf(alice), "http-stream");
    assert.deepEqual(await publishAll(alice, [1, 2]), [1, 2], "alice publishes over a cross-origin POST /ws/send");
    await waitOffset(alice, 2);
    const end = await log(alice);
    assert.deepEqual(openedOn(end.states), ["http-stream"], JSON.stringify(end.states));
    assert.deepEqual(end.errors, []);
    assert.deepEqual(await view(alice), await serverView("http:cors", 2));
  });

  it("the stream buffered by the proxy: falls back to long polling and still converges", { timeout: 120_000 }, async () => {
    const nginx = await hostile(true);
    const alice = await open("alice", "http:poll", nginx.origin, nginx.wsUrl, { transportProbeIntervalMs: 1000 });
    const bob = await open("bob", "http:poll", kit.server.origin, kit.server.wsUrl);
    assert.equal(await transportOf(alice), "http-poll");
    const first = await log(alice);
    assert.equal(first.states.find((s) => s.to === "reconnecting")?.transport, "websocket", `the WebSocket first: ${JSON.stringify(first.states)}`);
    assert.deepEqual(openedOn(first.states), ["http-poll"]);
    // Then the stream (held by nginx past the connect timeout), then long polling.
    const paths = (await fetches(alice)).filter((p) => p !== "/ws/send");
    assert.deepEqual(paths.slice(0, 3), ["/ws/stream", "/ws/stream?poll=1", "/ws/poll"], paths.join(" "));

    // Publishes both ways, interleaved; each poll brings the next batch.
    for (let round = 0; round < 5; round++) {
      await publishAll(alice, [round * 2 + 1]);
      await publishAll(bob, [round * 2 + 2]);
    }
    await waitOffset(alice, 10);
    await waitOffset(bob, 10);
    // Idle polls (nothing to deliver but pings) and then one more delta.
    await new Promise((r) => setTimeout(r, 3500)); // the observation window is the point: the connection must stay
    assert.deepEqual(await publishAll(bob, [11]), [11]);
    await waitOffset(alice, 11);

    const end = await log(alice);
    assert.deepEqual(end.offsets, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], "each delta once, in order");
    assert.deepEqual(end.values, [null, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.deepEqual(openedOn(end.states), ["http-poll"], `one connection, on long polling: ${JSON.stringify(end.states)}`);
    assert.deepEqual(end.errors, []);
    assert.equal(end.unhandled, 0);
    assert.deepEqual(await view(alice), await serverView("http:poll", 11));
  });

  for (const kind of ["http-stream", "http-poll"] as const) {
    it(`${kind}: client.close() is the client's close 1000 at the server (not an aborted stream, 1006), so the user's presence leave comes at once, not after the 5 s grace`, { timeout: 120_000 }, async () => {
      const nginx = await hostile(kind === "http-poll");
      const channel = `http:close:${kind}`;
      // Bob watches the channel's presence, straight over the WebSocket.
      const bob = await open("bob", channel, kit.server.origin, kit.server.wsUrl);
      await bob.evaluate(`(() => {
        window.__presence = [];
        window.__t.channel.onPresence((e) => window.__presence.push({ event: e.event, user: e.user, at: Date.now() }));
      })()`);
      const alice = await open("alice", channel, nginx.origin, nginx.wsUrl, { transportProbeIntervalMs: 60_000 });
      assert.equal(await transportOf(alice), kind);
      await bob.waitForFunction(`window.__t.channel.presence.includes("alice")`);
      const before = await closeCounts(kind);

      const closedAt = (await alice.evaluate(`(() => { window.__t.client.close(); return Date.now(); })()`)) as number;
      // The grace of an abnormal close is 5 s: a leave within 3 s can only be the normal close's (grace 0).
      await bob.waitForFunction(`window.__presence.some((p) => p.event === "leave" && p.user === "alice")`, undefined, { timeout: 10_000 });
      const leave = ((await bob.evaluate(`window.__presence`)) as Array<{ event: string; user: string; at: number }>).find((p) => p.event === "leave" && p.user === "alice");
      const afterMs = (leave?.at ?? Infinity) - closedAt;
      console.log(`# ${kind}: presence leave ${afterMs} ms after client.close()`);
      assert.ok(afterMs < 3000, `the leave came ${afterMs} ms after close(): the server did not see the client's close 1000`);

      const end = await log(alice);
      const closed = end.states.at(-1);
      assert.deepEqual([closed?.to, closed?.reason, closed?.transport], ["closed", "client_close", kind], JSON.stringify(end.states));
      assert.deepEqual(end.errors, []);
      assert.equal(end.unhandled, 0);
      // The server counted the close as 1000 on this transport, and no 1006 (the counters of /metrics).
      let after = await closeCounts(kind);
      for (let i = 0; i < 50 && after.normal === before.normal; i++) {
        await new Promise((r) => setTimeout(r, 100)); // polling a counter that has no event to await
        after = await closeCounts(kind);
      }
      assert.equal(after.normal - before.normal, 1, `close 1000 over ${kind}: ${JSON.stringify({ before, after })}`);
      assert.equal(after.abnormal - before.abnormal, 0, `no 1006 over ${kind}: ${JSON.stringify({ before, after })}`);
    });
  }

  /** The server's `ws_close_codes_distribution_total` for 1000 and 1006 over `transport` (GET /metrics). */
  const closeCounts = async (transport: string) => {
    const text = await (await fetch(`${kit.server.origin}/metrics`)).text();
    const count = (code: number) =>
      text
        .split("\n")
        .filter((l) => l.startsWith("ws_close_codes_distribution_total{") && l.includes(`code="${code}"`) && l.includes(`transport="${transport}"`))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    return { normal: count(1000), abnormal: count(1006) };
  };
});
