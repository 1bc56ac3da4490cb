import type { Clock } from "./clock.js";
import { parseRetryAfterMs, type CloseCodeInfo } from "./closeCodes.js";
import type { LostInfo } from "./connection.js";
import { LifelineError } from "./errors.js";
import type { RetryPolicy } from "./retry.js";
import { errorText } from "./util.js";

/**
 * How long a client waits before its next attempt after a loss: the retry policy, told the retries made and the time
 * since the first loss of the outage; a 1001 close's `Retry-After` as a floor; one attempt at once after a 4002. A
 * welcome starts a new outage.
 * @internal
 */
export class ReconnectSchedule {
  private retryCount = 0;
  private lostAt: number | undefined;
  /** The one immediate attempt after a 4002 was made since the last welcome. */
  private immediateUsed = false;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly clock: Clock,
    private readonly report: (error: LifelineError) => void,
  ) {}

  /** A welcome, or `connect()` after `closed`: the next loss starts a new outage. */
  reset(): void {
    this.retryCount = 0;
    this.lostAt = undefined;
    this.immediateUsed = false;
  }

  /** The network is back: the next wait is the first one again. */
  resetCount(): void {
    this.retryCount = 0;
  }

  /** The wait before the next attempt after the loss `info` tells of; null to give up (the policy stops, or throws). */
  next(info: LostInfo, codeInfo: CloseCodeInfo | undefined): number | null {
    const now = this.clock.now();
    this.lostAt ??= now;
    let delay: number | null;
    try {
      const context = { retryCount: this.retryCount, elapsedMs: now - this.lostAt, reason: info.reason };
      delay = this.policy.nextRetryDelayMs(info.code === undefined ? context : { ...context, code: info.code });
    } catch (e) {
      this.report(new LifelineError("retry_policy_failed", `the retry policy threw: ${errorText(e)}`, { cause: e }));
      delay = null;
    }
    if (delay === null || !Number.isFinite(delay)) return null;
    const retryAfter = info.code === 1001 ? parseRetryAfterMs(info.reason) : undefined;
    // 4002: one attempt at once (with a fresh token), then the usual backoff from its start.
    if (codeInfo?.reconnectImmediately === true && !this.immediateUsed) {
      this.immediateUsed = true;
      return 0;
    }
    this.retryCount++;
    // The server's hint is a floor; the policy's jitter still spreads the crowd above it.
    return Math.max(0, delay) + (retryAfter ?? 0);
  }
}
