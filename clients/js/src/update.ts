import type { LifelineChannel, PublishHandle } from "./channel.js";
import { LifelineConflictError } from "./errors.js";
import { isJsonObject, type JsonObject } from "./json.js";
import { createMergePatch } from "./mergePatch.js";
import type { Position } from "./recovery.js";

/** Options of {@link LifelineChannel.update}. */
export interface UpdateOptions {
  /**
   * How many times a conflict is retried (each time from a local state that caught up; an attempt withdrawn because a
   * newer delta proved its conflict counts as one). The default is {@link DEFAULT_UPDATE_RETRIES}.
   */
  retries?: number;
  /** Aborting it rejects the update with the signal's reason (see `PublishOptions.signal` for a publish already sent). */
  signal?: AbortSignal;
}

/** The default `retries` of `channel.update`: 10. */
export const DEFAULT_UPDATE_RETRIES = 10;

/** The reason an aborted signal rejects with: its own `reason`, or an `AbortError`. */
export function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  const error = new Error(reason === undefined ? "the operation was aborted" : String(reason));
  error.name = "AbortError";
  return error;
}

/** @internal An update withdrew this attempt's publish: the channel moved past its `if` (see `PublishHandle`). */
export class WithdrawnPublishError extends Error {
  constructor() {
    super("the conditional publish was withdrawn: the channel moved past its position before the reply");
    this.name = "WithdrawnPublishError";
  }
}

/** A contended wait for another writer's delta: see {@link yieldMs}; within these (ms). */
export const YIELD_MIN_MS = 20;
export const YIELD_MAX_MS = 250;
/** A probing wait (no contention seen yet): see {@link probeMs}; within these (ms). */
export const PROBE_MIN_MS = 2;
export const PROBE_MAX_MS = 50;
/** Contention seen by an update makes this many following updates yield (unless they see it again). */
export const CONTENTION_UPDATES = 3;
/** In a burst without contention, every this many updates probes (the 2nd, 6th, 10th, ...). */
export const PROBE_EVERY = 4;
/** Updates are a burst when each starts within this long (ms) of the previous one's end. */
export const BURST_MS = 100;

/**
 * How long an update yields after contention: 4 x the last accepted attempt's reply time, or twice the time the other
 * writer took to write after this client's delta, whichever is longer, within the bounds.
 */
export function yieldMs(rtt: number | undefined, otherGap = 0): number {
  return Math.min(YIELD_MAX_MS, Math.max(YIELD_MIN_MS, 4 * (rtt ?? 0), 2 * otherGap));
}

/** How long an update probes for another writer: 2 x the last reply time, or the other writer's time, within the bounds. */
export function probeMs(rtt: number | undefined, otherGap = 0): number {
  return Math.min(PROBE_MAX_MS, Math.max(PROBE_MIN_MS, 2 * (rtt ?? 0), otherGap));
}

/** What a channel keeps of its last successful update, for the next one's turn-taking. @internal */
export interface UpdateRecord {
  /** The channel's count of other writers' deltas when the update started. */
  readonly foreignAtStart: number;
  /** How many more updates yield because of contention seen (see {@link CONTENTION_UPDATES}). */
  readonly contention: number;
  /** Updates of this burst since contention was last seen (or since the burst began). */
  readonly quiet: number;
  /** When it resolved (clock ms). */
  readonly endedAt: number;
  /** Send-to-reply time of its accepted attempt (ms). */
  readonly rtt: number;
}

/**
 * `channel.update`: read the confirmed state, compute, publish the merge patch between the two on condition that the
 * channel is still where it was read (`if`), and on a conflict try again from the newer state. Contention is handled
 * so that writers take turns instead of one losing every race (see README "update"):
 * - read your own writes: the read waits until this client's accepted publishes of the channel are confirmed (the
 *   delta follows the reply at once), so that a sequence of updates never conflicts with itself;
 * - yield: when this client wrote the channel's last delta, a new update waits for another writer's delta before its
 *   first attempt: up to {@link yieldMs} when one of its {@link CONTENTION_UPDATES} previous updates saw contention
 *   (another writer's delta since it started, or a lost race); else, when another user is among the channel's members,
 *   as a probe, up to {@link probeMs} every {@link PROBE_EVERY} updates of a burst (so that a writer that keeps winning
 *   lets in a loser it cannot see). A writer alone on its channel, or whose updates are apart, never waits;
 * - early retry: a delta past the attempt's `if` that arrives before its reply (on the connection it was sent on)
 *   proves the conflict; the attempt is withdrawn and the next one sent at once, without waiting for the reply.
 */
export async function runUpdate(
  channel: LifelineChannel<JsonObject>,
  fn: (state: JsonObject) => JsonObject,
  options: UpdateOptions,
): Promise<number> {
  const retries = options.retries ?? DEFAULT_UPDATE_RETRIES;
  if (typeof fn !== "function") throw new TypeError("update(fn): fn must be a function");
  if (!(Number.isSafeInteger(retries) && retries >= 0)) throw new TypeError(`update: retries must be a non-negative integer, got ${retries}`);
  const signal = options.signal;
  if (signal?.aborted === true) throw abortReason(signal);
  const clock = channel._clock();
  const release = channel._hold();
  try {
    // Until the first snapshot there is nothing to read.
    if (channel._position === undefined) await channel._waitForPosition((p) => p !== undefined, signal);
    if (channel._ownWriteUnconfirmed) await channel._waitForPosition(() => !channel._ownWriteUnconfirmed, signal);
    const foreignAtStart = channel._foreignWrites;
    const startedAt = clock.now();
    const last = channel._lastUpdate;
    const burst = last !== undefined && startedAt - last.endedAt <= BURST_MS;
    // No await when there is no turn to wait for: the update is then sent synchronously.
    const turn = takeTurn(channel, last, burst, signal);
    if (turn !== undefined) await turn;
    let conflicted = false;
    for (let attempt = 0; ; attempt++) {
      // No await between the read and the publish: an update is sent (and, when optimistic, shown) synchronously.
      if (channel._position === undefined) await channel._waitForPosition((p) => p !== undefined, signal);
      const position = channel._position as Position;
      const from = channel.confirmed;
      // A private, mutable copy: fn may change it in place and return it, or return a new object.
      const to: unknown = fn(JSON.parse(JSON.stringify(from)) as JsonObject);
      if (!isJsonObject(to)) throw new TypeError("update(fn): fn must return a JSON object (the new state)");
      const patch = createMergePatch(from, JSON.parse(JSON.stringify(to)) as JsonObject) as JsonObject;
      if (Object.keys(patch).length === 0) return position.offset;
      const handle: PublishHandle = {};
      const sentAt = clock.now();
      const result = channel._publishAttempt(patch, position, signal, handle);
      // The last attempt waits for its reply, so that giving up rejects with the server's conflict.
      const unwatch =
        attempt < retries
          ? channel._watchPosition((p) => {
              if (p !== undefined && (p.epoch !== position.epoch || p.offset > position.offset)) handle.withdraw?.();
            })
          : undefined;
      try {
        const offset = await result;
        const endedAt = clock.now();
        const contended = conflicted || channel._foreignWrites > foreignAtStart;
        channel._lastUpdate = {
          foreignAtStart,
          contention: contended ? CONTENTION_UPDATES : burst ? Math.max(0, last.contention - 1) : 0,
          quiet: contended ? 0 : (burst ? last.quiet : 0) + 1,
          endedAt,
          rtt: endedAt - sentAt,
        };
        return offset;
      } catch (e) {
        if (e instanceof WithdrawnPublishError) {
          conflicted = true;
          continue; // the early retry: counted as one
        }
        if (!(e instanceof LifelineConflictError) || attempt >= retries) throw e;
        conflicted = true;
        const server = e.position;
        await channel._waitForPosition((p) => caughtUp(p, position, server), signal);
      } finally {
        unwatch?.();
      }
    }
  } finally {
    release();
  }
}

/**
 * The wait before a new update's first attempt (see {@link runUpdate}), or undefined when there is none. Only when this
 * client wrote the channel's last delta: otherwise another writer just had its turn.
 */
function takeTurn(
  channel: LifelineChannel<JsonObject>,
  last: UpdateRecord | undefined,
  burst: boolean,
  signal: AbortSignal | undefined,
): Promise<void> | undefined {
  if (last === undefined || !burst || !channel._lastWriteOwn) return undefined;
  const otherWrites = () => !channel._lastWriteOwn;
  if (last.contention > 0 || channel._foreignWrites > last.foreignAtStart) {
    return channel._waitForPosition(otherWrites, signal, yieldMs(last.rtt, channel._otherGap));
  }
  if (last.quiet % PROBE_EVERY === 1 && channel._othersPresent) {
    return channel._waitForPosition(otherWrites, signal, probeMs(last.rtt, channel._otherGap));
  }
  return undefined;
}

/** Whether the local position has reached the server's (from a conflict), or moved past the one that conflicted. */
function caughtUp(current: Position | undefined, used: Position, server: Position | undefined): boolean {
  if (current === undefined) return false;
  if (server === undefined) return current.epoch !== used.epoch || current.offset > used.offset;
  if (current.epoch === server.epoch) return current.offset >= server.offset;
  return current.epoch !== used.epoch;
}
