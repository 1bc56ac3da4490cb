import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffWindowMs, DEFAULT_BASE_MS, DEFAULT_CAP_MS, exponentialBackoff } from "../src/retry.js";

const ctx = (retryCount: number) => ({ retryCount, elapsedMs: 0, reason: "connection_lost" });

describe("backoff", () => {
  it("window is min(capMs, baseMs * 2^k) with the PROTOCOL.md defaults", () => {
    assert.equal(DEFAULT_BASE_MS, 1000);
    assert.equal(DEFAULT_CAP_MS, 30000);
    const windows = [0, 1, 2, 3, 4, 5, 6, 7, 100, 5000].map((k) => backoffWindowMs(k, 1000, 30000));
    assert.deepEqual(windows, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000]);
  });

  it("full jitter: delay is random * window", () => {
    const policy = exponentialBackoff({ baseMs: 1000, capMs: 30000 }, () => 0.5);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((k) => policy.nextRetryDelayMs(ctx(k))), [500, 1000, 2000, 4000, 8000, 15000, 15000]);
  });

  it("jitter bounds: every delay lies in [0, window) and the crowd spreads over the window", () => {
    let seed = 42;
    const lcg = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const policy = exponentialBackoff({ baseMs: 1000, capMs: 30000 }, lcg);
    for (let k = 0; k < 12; k++) {
      const window = backoffWindowMs(k, 1000, 30000);
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < 2000; i++) {
        const d = policy.nextRetryDelayMs(ctx(k));
        assert.ok(d !== null && d >= 0 && d < window, `k=${k}: ${String(d)} outside [0, ${window})`);
        min = Math.min(min, d);
        max = Math.max(max, d);
      }
      assert.ok(min < window * 0.05 && max > window * 0.95, `k=${k}: spread ${min}..${max} of ${window}`);
    }
  });

  it("extreme random values stay in bounds", () => {
    assert.equal(exponentialBackoff({}, () => 0).nextRetryDelayMs(ctx(3)), 0);
    assert.equal(exponentialBackoff({}, () => 0.9999999999).nextRetryDelayMs(ctx(0)), 999);
    assert.equal(exponentialBackoff({}, () => 1).nextRetryDelayMs(ctx(0)), 0, "out-of-range random is clamped");
    assert.equal(exponentialBackoff({}, () => Number.NaN).nextRetryDelayMs(ctx(0)), 0);
  });

  it("maxAttempts stops with null", () => {
    const policy = exponentialBackoff({ maxAttempts: 2 }, () => 0.5);
    assert.equal(policy.nextRetryDelayMs(ctx(0)), 500);
    assert.equal(policy.nextRetryDelayMs(ctx(1)), 1000);
    assert.equal(policy.nextRetryDelayMs(ctx(2)), null);
  });

  it("rejects impossible options", () => {
    assert.throws(() => exponentialBackoff({ baseMs: 0 }), RangeError);
    assert.throws(() => exponentialBackoff({ baseMs: -5 }), RangeError);
    assert.throws(() => exponentialBackoff({ baseMs: 1000, capMs: 500 }), RangeError);
    assert.throws(() => exponentialBackoff({ maxAttempts: 1.5 }), RangeError);
  });
});
