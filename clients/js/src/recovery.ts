/*
 * Client-side recovery: the position of a channel and what to do with a delta, given it.
 * The server sends a channel's deltas in offset order with no gap and no duplicate (PROTOCOL.md
 * "subscribe"), but a resubscribe after a reconnect or a gap may replay offsets the client
 * already has, and a lost message shows up as a gap.
 */

/** Where a channel's local state stands: the last applied offset within an epoch. */
export interface Position {
  readonly epoch: string;
  readonly offset: number;
}

/**
 * - `apply`: the next offset; apply it.
 * - `duplicate`: at or below the position; drop it silently.
 * - `gap`: offsets are missing in between; resubscribe with `since` = position.
 * - `unsynced`: no position yet (no snapshot received); drop it, the snapshot covers it.
 */
export type DeltaVerdict = "apply" | "duplicate" | "gap" | "unsynced";

export function deltaVerdict(position: Position | undefined, offset: number): DeltaVerdict {
  if (position === undefined) {
    return "unsynced";
  }
  if (offset <= position.offset) {
    return "duplicate";
  }
  return offset === position.offset + 1 ? "apply" : "gap";
}
