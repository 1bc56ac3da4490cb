import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { it } from "node:test";
import { fileURLToPath } from "node:url";
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_OFFLINE_QUEUE_LIMIT, DEFAULT_WATCHDOG_SLACK_MS } from "../src/options.js";
import * as api from "../src/index.js";
import { DEFAULT_BASE_MS, DEFAULT_CAP_MS } from "../src/retry.js";

// build-test/test/defaults.test.js -> clients/js/README.md
const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "README.md"), "utf8");

function documented(option: string): string {
  const row = readme.split("\n").find((line) => line.startsWith(`| \`${option}`));
  const match = row === undefined ? null : /\[([^\]]+)\]\s*\|?\s*$/.exec(row);
  if (match?.[1] === undefined) throw new Error(`README has no default for ${option}`);
  return match[1];
}

it("the defaults in README.md are the constants in the code", () => {
  assert.equal(documented("reconnect"), `${DEFAULT_BASE_MS}, ${DEFAULT_CAP_MS}, unlimited`);
  assert.equal(documented("watchdogSlackMs"), String(DEFAULT_WATCHDOG_SLACK_MS));
  assert.equal(documented("connectTimeoutMs"), String(DEFAULT_CONNECT_TIMEOUT_MS));
  assert.equal(documented("offlineQueueLimit"), String(DEFAULT_OFFLINE_QUEUE_LIMIT));
});

it("the public API exports the contract names", () => {
  for (const name of ["LifelineClient", "LifelineChannel", "LifelineError", "LifelineQueueFullError", "exponentialBackoff", "applyMergePatch"]) {
    assert.equal(typeof (api as Record<string, unknown>)[name], "function", name);
  }
});
