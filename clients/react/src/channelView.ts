import type { JsonObject, LifelineChannel, PublishOptions, UpdateOptions } from "@lifeline/client";

/** What `useChannel` returns: a frozen view of a channel, a new object only when one of its fields changed. */
export interface ChannelView<T> {
  /** The channel's state (with the pending publishes applied when the client is `optimistic`). */
  readonly state: T;
  /** Up to date with the server on the current connection (false before the first snapshot, while offline, during a resync). */
  readonly synced: boolean;
  /** Publishes not yet in the confirmed state. */
  readonly pending: number;
  /** The offset of the last applied snapshot or delta; undefined before the first. */
  readonly offset: number | undefined;
  /** The epoch of the channel's history; undefined before the first snapshot. */
  readonly epoch: string | undefined;
  /** `channel.publish`, bound (the same function for the life of the channel). */
  readonly publish: (patch: JsonObject, options?: PublishOptions) => Promise<number>;
  /** `channel.update`, bound (the same function for the life of the channel). */
  readonly update: (fn: (state: T) => T, options?: UpdateOptions) => Promise<number>;
  /** The channel itself. */
  readonly channel: LifelineChannel<T>;
}

interface ViewSource<T> {
  readonly get: () => ChannelView<T>;
  readonly actions: Pick<ChannelView<T>, "publish" | "update" | "channel">;
}

/** One source per channel: every component on a channel gets the same view object for the same moment. */
const sources = new WeakMap<object, ViewSource<unknown>>();

/** The (cached) snapshot function of `channel` for `useSyncExternalStore`. */
export function viewSource<T>(channel: LifelineChannel<T>): ViewSource<T> {
  const known = sources.get(channel) as ViewSource<T> | undefined;
  if (known !== undefined) return known;
  const actions = {
    publish: (patch: JsonObject, options?: PublishOptions) => channel.publish(patch, options),
    update: (fn: (state: T) => T, options?: UpdateOptions) => channel.update(fn, options),
    channel,
  };
  let last: ChannelView<T> | undefined;
  const get = (): ChannelView<T> => {
    const { state, synced, pending, offset, epoch } = channel;
    if (last !== undefined && last.state === state && last.synced === synced && last.pending === pending && last.offset === offset && last.epoch === epoch) {
      return last;
    }
    last = Object.freeze({ state, synced, pending, offset, epoch, ...actions });
    return last;
  };
  const source: ViewSource<T> = { get, actions };
  sources.set(channel, source as ViewSource<unknown>);
  return source;
}

/** The view used for server rendering and hydration: `initialState`, not synced, nothing pending, no position. */
export function initialView<T>(source: ViewSource<T>, initialState: T): ChannelView<T> {
  return Object.freeze({ state: initialState, synced: false, pending: 0, offset: undefined, epoch: undefined, ...source.actions });
}
