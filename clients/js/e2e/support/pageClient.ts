import type { BrowserContext, Page } from "playwright-core";

/*
 * A LifelineClient inside a real page: the page is a document of the server's origin, the module is the served
 * /lifeline.js, and window.__t = { client, channel, log } records every state change and every listener call.
 */

export interface StateEntry {
  to: string;
  reason: string;
  code?: number;
  /** The transport of the connection that opened or ended. */
  transport?: string;
  ts: number;
}

export interface ClientLog {
  states: StateEntry[];
  /** `state.n` after each listener call (the value each test publishes), null when absent. */
  values: Array<number | null>;
  /** The channel's offset after each listener call (a snapshot's or a delta's). */
  offsets: Array<number | null>;
  calls: number;
  errors: string[];
  /** The `reason` of each call of the token function (token mode `async`). */
  tokenAsks: string[];
  /** `unhandledrejection` events of the page: must stay 0. */
  unhandled: number;
  /** Each delay the retry policy chose: the retry count and the delay (with `recordRetries`). */
  retries: Array<{ k: number; delayMs: number | null; ts: number }>;
}

export interface ClientOptions {
  /** The token for `hello` (token mode `string`), or what the async token function answers when no `mintToken` is given. */
  token: string;
  /**
   * `string` (default): a fixed token. `async`: an async token function, which throws while `window.__tokenFails > 0`
   * (counting down) and otherwise answers `mintToken(reason)` (exposed to the page from Node) or `token`.
   */
  tokenMode?: "string" | "async";
  mintToken?: (reason: string) => string | Promise<string>;
  channel: string;
  baseMs?: number;
  capMs?: number;
  watchdogSlackMs?: number;
  /** The client option `optimistic`. */
  optimistic?: boolean;
  /** Wrap the default backoff to record each delay in `log.retries`. */
  recordRetries?: boolean;
  /** More client options, passed as they are (JSON values: `connectTimeoutMs`, `transports`, `transportProbeIntervalMs`). */
  clientOptions?: Record<string, unknown>;
}

export async function openClient(context: BrowserContext, origin: string, wsUrl: string, options: ClientOptions): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  if (options.mintToken !== undefined) {
    await page.exposeFunction("__lifelineMintToken", options.mintToken);
  }
  await page.goto(`${origin}/healthz`);
  const config = JSON.stringify({
    wsUrl,
    token: options.token,
    tokenMode: options.tokenMode ?? "string",
    channel: options.channel,
    reconnect: { baseMs: options.baseMs ?? 50, capMs: options.capMs ?? 200 },
    watchdogSlackMs: options.watchdogSlackMs ?? 300,
    optimistic: options.optimistic === true,
    recordRetries: options.recordRetries === true,
    clientOptions: options.clientOptions ?? {},
  });
  await page.evaluate(`(async () => {
    const config = ${config};
    const { LifelineClient, exponentialBackoff } = await import("/lifeline.js");
    const log = { states: [], values: [], offsets: [], calls: 0, errors: [], tokenAsks: [], unhandled: 0, retries: [] };
    window.addEventListener("unhandledrejection", () => log.unhandled++);
    window.__tokenFails = 0;
    const token = config.tokenMode === "async"
      ? async ({ reason }) => {
          log.tokenAsks.push(reason);
          await new Promise((r) => setTimeout(r, 5));
          if (window.__tokenFails > 0) {
            window.__tokenFails--;
            throw new Error("token service down");
          }
          return typeof window.__lifelineMintToken === "function" ? await window.__lifelineMintToken(reason) : config.token;
        }
      : config.token;
    const backoff = exponentialBackoff(config.reconnect);
    const retryPolicy = config.recordRetries
      ? { nextRetryDelayMs(ctx) { const delayMs = backoff.nextRetryDelayMs(ctx); log.retries.push({ k: ctx.retryCount, delayMs, ts: Date.now() }); return delayMs; } }
      : undefined;
    const client = new LifelineClient(config.wsUrl, {
      token, reconnect: config.reconnect, watchdogSlackMs: config.watchdogSlackMs, optimistic: config.optimistic, ...(retryPolicy ? { retryPolicy } : {}), ...config.clientOptions,
    });
    client.onStateChange((c) => log.states.push({ to: c.to, reason: c.reason, code: c.code, transport: c.transport, ts: Date.now() }));
    client.onError((e) => log.errors.push(String(e)));
    const channel = client.channel(config.channel);
    channel.subscribe((state) => { log.calls++; log.values.push(typeof state.n === "number" ? state.n : null); log.offsets.push(channel.offset ?? null); });
    window.__t = { client, channel, log };
  })()`);
  await waitOpen(page);
  return page;
}

export const log = (page: Page) => page.evaluate(`window.__t.log`) as Promise<ClientLog>;

export const stateOf = (page: Page) => page.evaluate(`window.__t.client.state`) as Promise<string>;

/** Open, and the channel in sync with the server (subscribed, caught up). */
export const waitOpen = (page: Page, timeout = 20_000) =>
  page.waitForFunction(`window.__t.client.state === "open" && window.__t.channel.synced`, undefined, { timeout });

export const waitState = (page: Page, state: string, timeout = 20_000) =>
  page.waitForFunction(`window.__t.client.state === ${JSON.stringify(state)}`, undefined, { timeout });

export const waitOffset = (page: Page, offset: number, timeout = 20_000) =>
  page.waitForFunction(`window.__t.channel.offset >= ${offset} && window.__t.channel.synced`, undefined, { timeout });

/** Publishes `{ n }` for each n and waits for every reply; returns the offsets. */
export const publishAll = (page: Page, ns: number[]) =>
  page.evaluate(`Promise.all(${JSON.stringify(ns)}.map((n) => window.__t.channel.publish({ n })))`) as Promise<number[]>;

/** Starts publishes without waiting: their promises are kept in window.__pending. */
export const publishLater = (page: Page, ns: number[]) =>
  page.evaluate(`void (window.__pending = Promise.all(${JSON.stringify(ns)}.map((n) => window.__t.channel.publish({ n }))))`);

export const pendingOffsets = (page: Page) => page.evaluate(`window.__pending`) as Promise<number[]>;
