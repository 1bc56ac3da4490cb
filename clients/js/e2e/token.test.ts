import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Page } from "playwright-core";
import { JwtIssuer } from "./support/jwt.js";
import { HEARTBEAT_INTERVAL_MS, LifelineServer } from "./support/lifelineServer.js";
import { log, openClient, publishAll, waitOffset, waitOpen, waitState } from "./support/pageClient.js";
import { findRedisServer, RedisServer } from "./support/redisServer.js";
import { browserRequirements, useBrowserSuite } from "./support/suite.js";

/*
 * Tokens that outlive outages (issue 14), in Chromium against `lifeline serve --auth jwt --jwt-key-file <EC public key>`:
 * the test signs ES256 tokens of 3 s with the private key and hands them to the page's async token function
 * (`page.exposeFunction`). The last test stops the server itself (SIGTERM) for 10 s and starts it again on the same
 * port: that needs `--redis` (a throw-away redis-server per run), since the in-memory engine loses the sessions with
 * the process. Without Chromium, the built tool or redis-server the tests are skipped with a message; under CI=true
 * they fail.
 */

const TOKEN_LIFETIME_S = 3;

const redisServer = findRedisServer();
const requirements = browserRequirements();
const redisRequirements = browserRequirements(() =>
  redisServer ? undefined : "no redis-server on the PATH (apt-get install redis-server, or set REDIS_SERVER)",
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The issuer both suites use (the e2e kit's JwtIssuer: an EC P-256 key pair, its public half in a PEM file for
 * `--jwt-key-file`), minting ES256 tokens valid for `TOKEN_LIFETIME_S` to `TOKEN_LIFETIME_S + 1` seconds from now
 * (`exp` is whole seconds, rounded up), and recording when each user's tokens were minted.
 */
class TokenIssuer extends JwtIssuer {
  /** When each token was minted, per user (ms). */
  readonly minted = new Map<string, number[]>();

  /** A token for `user`, its minting recorded. */
  override token(user: string): string {
    const list = this.minted.get(user) ?? [];
    list.push(Date.now());
    this.minted.set(user, list);
    return super.token(user, {}, TOKEN_LIFETIME_S + 1);
  }

  /** When `user`'s last token minted at or before `at` was minted (ms). */
  lastMintedBy(user: string, at: number): number {
    return Math.max(...(this.minted.get(user) ?? []).filter((t) => t <= at));
  }
}

describe("tokens that outlive outages (lifeline serve --auth jwt)", { skip: requirements.skip, timeout: 600_000 }, () => {
  let issuer: TokenIssuer | undefined;
  const kit = useBrowserSuite(requirements, {
    server: (dll) => {
      issuer = new TokenIssuer();
      return new LifelineServer(dll, {}, ["--auth", "jwt", "--jwt-key-file", issuer.keyFile]);
    },
    tearDown: () => issuer?.dispose(),
  });

  const open = async (user: string, channel: string, via: "proxy" | "direct") => {
    const page = await openClient(kit.browser.context, kit.server.origin, via === "proxy" ? kit.proxy.wsUrl : kit.server.wsUrl, {
      token: "unused",
      tokenMode: "async",
      channel,
      mintToken: () => issuer!.token(user),
    });
    kit.track(page);
    return page;
  };

  it("3-second tokens: refreshed on the live connection, no reconnect for 10 s", { timeout: 60_000 }, async () => {
    const alice = await open("alice", "refresh", "direct");
    const start = (await log(alice)).states.length;
    await new Promise((r) => setTimeout(r, 10_000)); // the time under test, not a synchronisation
    const after = await log(alice);
    const refreshes = after.tokenAsks.filter((r) => r === "refresh").length;
    assert.ok(refreshes >= 3, `refreshed ${refreshes} times in 10 s with ${TOKEN_LIFETIME_S} s tokens: ${JSON.stringify(after.tokenAsks)}`);
    assert.deepEqual(after.states.slice(start), [], "no state change: the connection stayed open");
    assert.deepEqual(after.errors, []);
    assert.deepEqual(await publishAll(alice, [1]), [1], "the connection still works");
  });

  it("a network outage (proxy cut, half-open) longer than the token lifetime ends resumed, caught up from its offset", { timeout: 90_000 }, async () => {
    const alice = await open("alice", "outage", "proxy");
    const bob = await open("bob", "outage", "direct");
    await publishAll(bob, [1, 2]);
    await waitOffset(alice, 2);
    const session = await alice.evaluate(`window.__t.client.session`);
    const before = await log(alice);

    kit.proxy.cut();
    await waitState(alice, "reconnecting");
    for (let n = 3; n <= 6; n++) {
      await publishAll(bob, [n]);
      await new Promise((r) => setTimeout(r, 2_500)); // 10 s offline in all: alice's last token expired long ago
    }
    kit.proxy.restore();
    await waitOpen(alice);
    await waitOffset(alice, 6);

    const after = await log(alice);
    assert.equal(await alice.evaluate(`window.__t.client.session`), session);
    assert.equal(await alice.evaluate(`window.__t.client.resumed`), true, "the session was resumed");
    assert.deepEqual(after.values.slice(before.values.length), [3, 4, 5, 6], "every delta of the gap, once, in order");
    assert.deepEqual(await alice.evaluate(`window.__t.channel.state`), { n: 6 });
    assert.equal(after.states.filter((s) => s.code === 4001).length, 0, "never refused");
    assert.equal(after.unhandled, 0);
    assert.deepEqual(await publishAll(alice, [7]), [7]);
    await waitOffset(bob, 7);
  });

  it("a token function that stops answering: closed with 4002 at expiry, back at once when it works again", { timeout: 60_000 }, async () => {
    const alice = await open("alice", "expiry", "direct");
    await publishAll(alice, [1]);
    const seen = (await log(alice)).states.length;
    await alice.evaluate(`window.__tokenFails = 1e9`);
    const stoppedAt = Date.now();
    await waitState(alice, "reconnecting", 15_000);
    const lost = (await log(alice)).states.slice(seen).find((s) => s.to === "reconnecting");
    assert.equal(lost?.code, 4002, JSON.stringify(lost));
    assert.equal(lost?.reason, "token_expired");
    // The last token minted before the stop expires at most TOKEN_LIFETIME_S + 1 s after it; the sweep runs every heartbeat interval.
    const lastMint = issuer!.lastMintedBy("alice", stoppedAt);
    const bound = lastMint + (TOKEN_LIFETIME_S + 1) * 1000 + HEARTBEAT_INTERVAL_MS + 1000;
    assert.ok(lost.ts <= bound, `4002 ${lost.ts - lastMint} ms after the last token, bound ${bound - lastMint} ms`);

    await alice.evaluate(`window.__tokenFails = 0`);
    await waitOpen(alice);
    const after = await log(alice);
    assert.ok(after.tokenAsks.includes("expired"), `asked with reason expired: ${JSON.stringify(after.tokenAsks)}`);
    assert.equal(await alice.evaluate(`window.__t.client.resumed`), true);
    assert.equal(after.unhandled, 0);
    assert.deepEqual(await publishAll(alice, [2]), [2]);
  });
});

describe("a server stop longer than the token lifetime (lifeline serve --auth jwt --redis)", { skip: redisRequirements.skip, timeout: 600_000 }, () => {
  let redis: RedisServer | undefined;
  let issuer: TokenIssuer | undefined;
  const kit = useBrowserSuite(redisRequirements, {
    setUp: async () => {
      issuer = new TokenIssuer();
      redis = await RedisServer.start(redisServer!);
    },
    // A short retry spread, so that the clients' first attempt after the 1001 is soon (it fails: the server is down).
    server: (dll) =>
      new LifelineServer(dll, { Lifeline__ShutdownRetrySpread: "200ms" }, ["--auth", "jwt", "--jwt-key-file", issuer!.keyFile], ["--redis", redis!.address]),
    tearDown: async () => {
      await redis?.stop();
      issuer?.dispose();
    },
  });

  const open = async (user: string, channel: string, via: "proxy" | "direct") => {
    const page = await openClient(kit.browser.context, kit.server.origin, via === "proxy" ? kit.proxy.wsUrl : kit.server.wsUrl, {
      token: "unused",
      tokenMode: "async",
      channel,
      mintToken: () => issuer!.token(user),
    });
    kit.track(page);
    return page;
  };

  it("server stopped 10 s with 3 s tokens: resumed on the restarted server, every channel caught up from its offset, once", { timeout: 120_000 }, async () => {
    // alice goes through the proxy only so that the test can keep her away a moment after the restart, until the
    // deltas she must recover exist; bob talks to the server directly and publishes.
    const alice = await open("alice", "stop:a", "proxy");
    const bob = await open("bob", "stop:a", "direct");
    // A second channel on alice's client, recorded like the first.
    await alice.evaluate(`(() => {
      const b = window.__t.client.channel("stop:b");
      window.__b = { channel: b, values: [], offsets: [] };
      b.subscribe((state) => { window.__b.values.push(typeof state.m === "number" ? state.m : null); window.__b.offsets.push(b.offset ?? null); });
    })()`);
    await alice.waitForFunction(`window.__b.channel.synced`);
    const publishB = (ms: number[]) =>
      bob.evaluate(`Promise.all(${JSON.stringify(ms)}.map((m) => window.__t.client.channel("stop:b").publish({ m })))`) as Promise<number[]>;
    const waitB = (offset: number) => alice.waitForFunction(`window.__b.channel.offset >= ${offset} && window.__b.channel.synced`);

    assert.deepEqual(await publishAll(bob, [1, 2, 3]), [1, 2, 3]);
    assert.deepEqual(await publishB([1, 2]), [1, 2]);
    await waitOffset(alice, 3);
    await waitB(2);
    const session = await alice.evaluate(`window.__t.client.session`);
    assert.ok(session, "alice has a session");
    const before = await log(alice);

    // The outage: the server process stops (SIGTERM, graceful: 1001) and stays down 10 s, more than three token lifetimes.
    const port = kit.server.port;
    const stoppedAt = Date.now();
    const exit = await kit.server.terminate();
    assert.equal(exit, 0, `lifeline serve exited with ${exit} on SIGTERM\n${kit.server.log()}`);
    await waitState(alice, "reconnecting");
    const lost = (await log(alice)).states.slice(before.states.length).find((s) => s.to === "reconnecting");
    assert.equal(lost?.code, 1001, `alice lost the connection with 1001 (going away): ${JSON.stringify(lost)}`);
    await sleep(Math.max(0, stoppedAt + 10_000 - Date.now())); // the outage under test, not a synchronisation
    const lastTokenBeforeStop = issuer!.lastMintedBy("alice", stoppedAt);
    assert.ok(Date.now() > lastTokenBeforeStop + (TOKEN_LIFETIME_S + 1) * 1000, "alice's last token has expired before the restart");

    kit.proxy.cut(); // alice stays away until bob has published on the restarted server
    assert.equal(await kit.server.start(port), port, "restarted on the same port");
    await waitOpen(bob);
    assert.equal(await bob.evaluate(`window.__t.client.resumed`), true, "bob resumed too");
    assert.deepEqual(await publishAll(bob, [4, 5, 6]), [4, 5, 6], "the restarted server continues the offsets it kept in Redis");
    assert.deepEqual(await publishB([3]), [3]);
    kit.proxy.restore();
    await waitOpen(alice);
    await waitOffset(alice, 6);
    await waitB(3);
    const reopened = await log(alice);
    assert.equal(await alice.evaluate(`window.__t.client.session`), session, "the same session");
    assert.equal(await alice.evaluate(`window.__t.client.resumed`), true, "welcome.resumed");
    const opens = reopened.states.slice(before.states.length).filter((s) => s.to === "open");
    assert.deepEqual(opens.map((s) => s.reason), ["resumed"], `one open after the outage, resumed: ${JSON.stringify(reopened.states.slice(before.states.length))}`);

    // Live again: the deltas published now arrive as they happen.
    assert.deepEqual(await publishAll(bob, [7, 8]), [7, 8]);
    assert.deepEqual(await publishB([4]), [4]);
    await waitOffset(alice, 8);
    await waitB(4);

    const after = await log(alice);
    // Every listener call: the subscribe snapshot of the empty channel (offset 0), then each delta once, in order, no gap.
    assert.deepEqual(after.offsets, [0, 1, 2, 3, 4, 5, 6, 7, 8], "channel stop:a: consecutive offsets, each once");
    assert.deepEqual(after.values, [null, 1, 2, 3, 4, 5, 6, 7, 8]);
    const b = (await alice.evaluate(`({ offsets: window.__b.offsets, values: window.__b.values })`)) as { offsets: number[]; values: number[] };
    assert.deepEqual(b.offsets, [0, 1, 2, 3, 4], "channel stop:b: consecutive offsets, each once");
    assert.deepEqual(b.values, [null, 1, 2, 3, 4]);
    assert.ok(after.tokenAsks.length > before.tokenAsks.length, "the token function was asked again after the stop");
    assert.equal(after.states.filter((s) => s.code === 4001 || s.code === 4002).length, 0, `never refused: ${JSON.stringify(after.states)}`);
    assert.equal(after.unhandled, 0);

    // The server's state: what a new client gets on subscribe, equal to alice's (state, epoch and offset).
    const carol = await open("carol", "stop:a", "direct");
    await waitOffset(carol, 8);
    const view = (page: Page, name: string) =>
      page.evaluate(`(() => { const c = window.__t.client.channel(${JSON.stringify(name)}); return { state: c.state, epoch: c.epoch, offset: c.offset }; })()`);
    await carol.evaluate(`window.__t.client.channel("stop:b").subscribe(() => {})`);
    await carol.waitForFunction(`window.__t.client.channel("stop:b").synced`);
    assert.deepEqual(await view(alice, "stop:a"), await view(carol, "stop:a"));
    assert.deepEqual(await view(alice, "stop:b"), await view(carol, "stop:b"));
    assert.deepEqual(await alice.evaluate(`window.__t.channel.state`), { n: 8 });
    assert.deepEqual(await alice.evaluate(`window.__b.channel.state`), { m: 4 });
  });
});
