import type { LifelineChannel } from "./channel.js";
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

/**
 * `channel.update`: read the confirmed state, compute, publish the merge patch between the two on condition that the
 * channel is still where it was read (`if`), and on a conflict wait for the local state to catch up, then try again.
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
  const release = channel._hold();
  try {
    for (let attempt = 0; ; attempt++) {
      // Until the first snapshot there is nothing to read. Otherwise no await before the publish: an update with a
      // known state is sent (and, when optimistic, shown) synchronously, as a publish is.
      if (channel._position === undefined) await channel._waitForPosition((p) => p !== undefined, signal);
      const position = channel._position as Position;
      const from = channel.confirmed;
      // A private, mutable copy: fn may change it in place and return it, or return a new object.
      const to: unknown = fn(JSON.parse(JSON.stringify(from)) as JsonObject);
      if (!isJsonObject(to)) throw new TypeError("update(fn): fn must return a JSON object (the new state)");
      const patch = createMergePatch(from, JSON.parse(JSON.stringify(to)) as JsonObject) as JsonObject;
      if (Object.keys(patch).length === 0) return position.offset;
      try {
        return await channel.publish(patch, { if: position, ...(signal === undefined ? {} : { signal }) });
      } catch (e) {
        if (!(e instanceof LifelineConflictError) || attempt >= retries) throw e;
        const server = e.position;
        await channel._waitForPosition((p) => caughtUp(p, position, server), signal);
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
