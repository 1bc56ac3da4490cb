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

/** A contended wait for another writer's delta lasts 4 x the last accepted attempt's reply time, within these (ms). */
export const YIELD_MIN_MS = 20;
export const YIELD_MAX_MS = 200;
/** A probing wait (no contention seen yet) lasts 2 x the last reply time, within these (ms). */
export const PROBE_MIN_MS = 5;
export const PROBE_MAX_MS = 20;
/** At most this many probing waits per burst of updates (updates each started within {@link BURST_MS} of the last one's end). */
export const PROBES_PER_BURST = 3;
export const BURST_MS = 100;

/** How long an update yields after contention: 4 x the last accepted attempt's reply time, within the bounds. */
export function yieldMs(rtt: number | undefined): number {
  return Math.min(YIELD_MAX_MS, Math.max(YIELD_MIN_MS, 4 * (rtt ?? 0)));
}

/** How long an update probes for another writer: 2 x the last accepted attempt's reply time, within the bounds. */
export function probeMs(rtt: number | undefined): number {
  return Math.min(PROBE_MAX_MS, Math.max(PROBE_MIN_MS, 2 * (rtt ?? 0)));
}

/** What a channel keeps of its last successful update, for the next one's turn-taking. @internal */
export interface UpdateRecord {
  /** The channel's count of other writers' deltas when the update started. */
  readonly foreignAtStart: number;
  /** It lost at least one race (a conflict, or an attempt withdrawn). */
  readonly conflicted: boolean;
  /** When it resolved (clock ms). */
  readonly endedAt: number;
  /** Send-to-reply time of its accepted attempt (ms). */
  readonly rtt: number;
  /** Probing waits so far in this burst of updates. */
  readonly probes: number;
}

/**
 * `channel.update`: read the confirmed state, compute, publish the merge patch between the two on condition that the
 * channel is still where it was read (`if`), and on a conflict try again from the newer state. Contention is handled
 * so that writers take turns instead of one losing every race (see README "update"):
 * - read your own writes: the read waits until this client's accepted publishes of the channel are confirmed (the
 *   delta follows the reply at once), so that a sequence of updates never conflicts with itself;
 * - yield: when this client wrote the channel's last delta, a new update waits for another writer's delta before its
 *   first attempt: up to {@link yieldMs} when its previous update saw contention (another writer's delta since it
 *   started, or a lost race); else, when another user is among the channel's members, as a probe, up to
 *   {@link probeMs} for at most {@link PROBES_PER_BURST} updates of a burst (so that a writer that keeps winning lets a
 *   loser it cannot see in). A writer alone on its channel never waits;
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
    // No await when there is no turn to wait for: the update is then sent synchronously.
    const turn = takeTurn(channel, clock.now(), signal);
    const probes = typeof turn === "number" ? turn : await turn;
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
        channel._lastUpdate = { foreignAtStart, conflicted, endedAt, rtt: endedAt - sentAt, probes };
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
 * The yield before a new update's first attempt (see {@link runUpdate}); returns the probes of the burst so far. Only
 * when this client wrote the channel's last delta: otherwise another writer just had its turn.
 */
function takeTurn(channel: LifelineChannel<JsonObject>, now: number, signal: AbortSignal | undefined): number | Promise<number> {
  const last = channel._lastUpdate;
  if (last === undefined) return 0;
  const burst = now - last.endedAt <= BURST_MS;
  const probes = burst ? last.probes : 0;
  if (!channel._lastWriteOwn) return probes;
  const otherWrites = () => !channel._lastWriteOwn;
  if (last.conflicted || channel._foreignWrites > last.foreignAtStart) {
    return channel._waitForPosition(otherWrites, signal, yieldMs(last.rtt)).then(() => probes);
  }
  if (!burst || probes >= PROBES_PER_BURST || !channel._othersPresent) return probes;
  return channel._waitForPosition(otherWrites, signal, probeMs(last.rtt)).then(() => probes + 1);
}

/** Whether the local position has reached the server's (from a conflict), or moved past the one that conflicted. */
function caughtUp(current: Position | undefined, used: Position, server: Position | undefined): boolean {
  if (current === undefined) return false;
  if (server === undefined) return current.epoch !== used.epoch || current.offset > used.offset;
  if (current.epoch === server.epoch) return current.offset >= server.offset;
  return current.epoch !== used.epoch;
}
