/** What a {@link RetryPolicy} is told before each reconnect attempt. */
export interface RetryContext {
  /** Reconnect attempts already made since the connection was last open (0 before the first). */
  readonly retryCount: number;
  /** Milliseconds since the client lost its connection (or since the first attempt failed). */
  readonly elapsedMs: number;
  /** Why the previous connection or attempt ended (close reason name, `watchdog`, ...). */
  readonly reason: string;
  /** The close code of the previous connection or attempt, when there was one. */
  readonly code?: number;
}

/**
 * Decides how long to wait before the next connection attempt, like SignalR's `IRetryPolicy`:
 * a number of milliseconds, or `null` to stop reconnecting (the client moves to `closed`).
 * A policy that throws also stops the client; the error is reported.
 */
export interface RetryPolicy {
  nextRetryDelayMs(context: RetryContext): number | null;
}

/** Options of {@link exponentialBackoff}; the defaults follow PROTOCOL.md "Reconnection". */
export interface BackoffOptions {
  /** Window of the first attempt, in ms. The default is {@link DEFAULT_BASE_MS}. */
  baseMs?: number;
  /** Largest window, in ms. The default is {@link DEFAULT_CAP_MS}. */
  capMs?: number;
  /** Attempts after which the client gives up; unlimited when absent. */
  maxAttempts?: number;
}

/** The default `reconnect.baseMs`: 1000 ms. */
export const DEFAULT_BASE_MS = 1000;
/** The default `reconnect.capMs`: 30000 ms. */
export const DEFAULT_CAP_MS = 30000;

/** The window (upper bound of the jittered delay) before attempt `k`: `min(capMs, baseMs * 2^k)`. */
export function backoffWindowMs(k: number, baseMs: number, capMs: number): number {
  // 2^k overflows to Infinity for large k; min() then returns the cap, which is what we want.
  return Math.min(capMs, baseMs * Math.pow(2, Math.max(0, k)));
}

/**
 * Capped exponential backoff with full jitter: the delay before attempt k is uniform in
 * `[0, min(capMs, baseMs * 2^k))`, so a crowd of clients spreads over the whole window.
 */
export function exponentialBackoff(options: BackoffOptions = {}, random: () => number = Math.random): RetryPolicy {
  const baseMs = options.baseMs ?? DEFAULT_BASE_MS;
  const capMs = options.capMs ?? DEFAULT_CAP_MS;
  const maxAttempts = options.maxAttempts;
  if (!(Number.isFinite(baseMs) && baseMs > 0)) {
    throw new RangeError(`reconnect.baseMs must be a positive number, got ${baseMs}`);
  }
  if (!(Number.isFinite(capMs) && capMs >= baseMs)) {
    throw new RangeError(`reconnect.capMs must be a number >= baseMs, got ${capMs}`);
  }
  if (maxAttempts !== undefined && !(Number.isInteger(maxAttempts) && maxAttempts >= 0)) {
    throw new RangeError(`reconnect.maxAttempts must be a non-negative integer, got ${maxAttempts}`);
  }
  return {
    nextRetryDelayMs(context) {
      if (maxAttempts !== undefined && context.retryCount >= maxAttempts) {
        return null;
      }
      const window = backoffWindowMs(context.retryCount, baseMs, capMs);
      const r = random();
      const unit = r >= 0 && r < 1 ? r : 0;
      return Math.floor(unit * window);
    },
  };
}
