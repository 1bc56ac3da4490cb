import { existsSync } from "node:fs";
import { after, afterEach, before } from "node:test";
import type { Page } from "playwright-core";
import { CHROMIUM_PATH, launchChromium, type Browser } from "./chromium.js";
import { findLifelineDll, LifelineServer } from "./lifelineServer.js";
import { TcpProxy } from "./tcpProxy.js";

/**
 * What a browser suite needs from this machine: Chromium and the built `lifeline.dll`, plus whatever else the suite
 * names (redis-server, nginx). Under CI=true a missing dependency fails the suite (its `before` throws); elsewhere the
 * suite is skipped, and says why.
 */
export interface SuiteRequirements {
  /** The built lifeline.dll (undefined when missing). */
  readonly dll: string | undefined;
  /** The first missing dependency, as a sentence that says how to get it; undefined when nothing is missing. */
  readonly missing: string | undefined;
  /** The `skip` option of `describe`: the missing dependency outside CI, false otherwise. */
  readonly skip: string | false;
}

/**
 * Checks the dependencies of a browser suite.
 * @param more Further checks, in order: each returns what is missing, or undefined.
 */
export function browserRequirements(...more: Array<() => string | undefined>): SuiteRequirements {
  const dll = findLifelineDll();
  const checks = [
    () => (existsSync(CHROMIUM_PATH) ? undefined : `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium)`),
    () => (dll ? undefined : "lifeline.dll is not built (dotnet build src/Lifeline.Cli, or set LIFELINE_DLL)"),
    ...more,
  ];
  let missing: string | undefined;
  for (const check of checks) {
    missing = check();
    if (missing !== undefined) break;
  }
  return { dll, missing, skip: missing !== undefined && process.env["CI"] !== "true" ? missing : false };
}

/** How {@link useBrowserSuite} sets a suite up. */
export interface BrowserSuiteOptions {
  /** The server under test, built from the dll (default: `lifeline serve --auth dev` with the kit's heartbeat). */
  server?: (dll: string) => LifelineServer;
  /** A TCP proxy in front of the server, to cut and hold the connection (default true). */
  proxy?: boolean;
  /** Runs first in `before` (start a Redis, mint keys). */
  setUp?: () => void | Promise<void>;
  /** Runs last in `after`. */
  tearDown?: () => void | Promise<void>;
}

/** What {@link useBrowserSuite} set up: valid inside the suite's tests. */
export interface BrowserSuite {
  readonly server: LifelineServer;
  /** Only when the options asked for it (the default). */
  readonly proxy: TcpProxy;
  readonly browser: Browser;
  /** Pages closed after each test: {@link BrowserSuite.track} adds one. */
  readonly pages: Page[];
  /** Closes the page after the test. */
  track(page: Page): Page;
}

/**
 * Registers the set-up every browser suite repeats, in the `describe` that calls it: `before` checks the requirements
 * (a missing dependency throws: under CI it fails, never skips), runs `setUp`, starts the server, the proxy and
 * Chromium; `afterEach` restores the proxy and closes the test's pages; `after` closes Chromium, the proxy and the
 * server, then runs `tearDown`.
 */
export function useBrowserSuite(requirements: SuiteRequirements, options: BrowserSuiteOptions = {}): BrowserSuite {
  let server: LifelineServer | undefined;
  let proxy: TcpProxy | undefined;
  let browser: Browser | undefined;
  const pages: Page[] = [];
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the suite's ${what} is not set up (used outside a test, or options.proxy is false)`);
    return value;
  };

  before(async () => {
    if (requirements.missing !== undefined) throw new Error(`missing dependency: ${requirements.missing}`);
    await options.setUp?.();
    server = (options.server ?? ((dll) => new LifelineServer(dll)))(requirements.dll!);
    await server.start(0);
    if (options.proxy !== false) {
      const started = server;
      proxy = new TcpProxy(() => started.port);
      await proxy.listen();
    }
    browser = await launchChromium();
  });

  afterEach(async () => {
    proxy?.restore();
    await Promise.all(pages.splice(0).map((p) => p.close()));
  });

  after(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.kill();
    await options.tearDown?.();
  });

  return {
    get server() {
      return ready(server, "server");
    },
    get proxy() {
      return ready(proxy, "proxy");
    },
    get browser() {
      return ready(browser, "browser");
    },
    pages,
    track(page: Page) {
      pages.push(page);
      return page;
    },
  };
}
