import type { LifelineChannel, PublishHandle } from "./channel.js";
import { LifelineConflictError } from "./errors.js";
import { isJsonObject, type JsonObject } from "./json.js";
import { createMergePatch } from "./mergePatch.js";
import type { Position } from "./recovery.js";

/** Options of {@link LifelineChannel.update}. */
export interface UpdateOptions {
  /** How many times a conflict is retried (each time after the local state caught up). The default is {@link DEFAULT_UPDATE_RETRIES}. */
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

/** Another writer counts as active when its last delta was applied at most this long ago (ms). */
export const CONTENTION_WINDOW_MS = 1000;
/** The shortest and longest wait (ms) of an update that yields its turn to another writer. */
export const YIELD_MIN_MS = 5;
export const YIELD_MAX_MS = 100;

/** How long an update yields: twice the last accepted attempt's send-to-reply time, within the bounds above. */
export function yieldMs(rtt: number | undefined): number {
  return Math.min(YIELD_MAX_MS, Math.max(YIELD_MIN_MS, 2 * (rtt ?? 0)));
}

/**
 * `channel.update`: read the confirmed state, compute, publish the merge patch between the two on condition that the
 * channel is still where it was read (`if`), and on a conflict try again from the newer state. Contention is handled
 * so that writers take turns instead of one losing every race (see README "update"):
 * - read your own writes: the read waits until this client's accepted publishes of the channel are confirmed (the
 *   delta follows the reply at once), so that a sequence of updates never conflicts with itself;
 * - yield: a new update whose channel saw another writer within {@link CONTENTION_WINDOW_MS} while this client wrote
 *   last waits (at most {@link yieldMs}) for the other writer's delta before its first attempt;
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
    if (channel._contended(clock.now(), CONTENTION_WINDOW_MS)) {
      await channel._waitForPosition(() => !channel._lastWriteOwn, signal, yieldMs(channel._updateRtt));
    }
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
        channel._updateRtt = clock.now() - sentAt;
        return offset;
      } catch (e) {
        if (e instanceof WithdrawnPublishError) continue; // the early retry: counted as one
        if (!(e instanceof LifelineConflictError) || attempt >= retries) throw e;
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
/** Whether the local position has reached the server's (from a conflict), or moved past the one that conflicted. */
function caughtUp(current: Position | undefined, used: Position, server: Position | undefined): boolean {
  if (current === undefined) return false;
  if (server === undefined) return current.epoch !== used.epoch || current.offset > used.offset;
  if (current.epoch === server.epoch) return current.offset >= server.offset;
  return current.epoch !== used.epoch;
}
