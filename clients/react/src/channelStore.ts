import { createMergePatch, type JsonObject, type LifelineChannel } from "@lifeline/client";

/**
 * The shape of Zustand's `StoreApi<T>` (zustand/vanilla), declared here so that this package does not need Zustand:
 * a value of this type is accepted wherever Zustand asks for a `StoreApi<T>` (its `useStore` among them).
 */
export interface ChannelStoreApi<T> {
  setState: {
    (partial: T | Partial<T> | ((state: T) => T | Partial<T>), replace?: false): void;
    (state: T | ((state: T) => T), replace: true): void;
  };
  getState: () => T;
  getInitialState: () => T;
  subscribe: (listener: (state: T, prevState: T) => void) => () => void;
}

/** Options of {@link createChannelStore}. */
export interface ChannelStoreOptions<T> {
  /** What `getInitialState` returns (Zustand's `useStore` renders it on the server and during hydration); default: the channel's state now. */
  readonly initialState?: T;
  /** Called when a publish made by `setState` fails (refused, the queue full, the client closed); default `console.error`. */
  readonly onError?: (error: unknown) => void;
}

/**
 * A Zustand store over a channel. `getState` is the channel's state; `subscribe` is the channel's (it keeps the wire
 * subscription while someone listens); `setState(partial)` publishes the merge patch from the current state to
 * Zustand's shallow merge of `partial` into it (`setState(state, true)`: to `state`), so it reaches every client. The
 * store changes when the channel does: at once with the client option `optimistic`, else when the server's delta
 * comes back. `setState` with nothing to change publishes nothing.
 */
export function createChannelStore<T extends object = JsonObject>(channel: LifelineChannel<T>, options: ChannelStoreOptions<T> = {}): ChannelStoreApi<T> {
  const initial = options.initialState ?? channel.state;
  const onError = options.onError ?? ((error: unknown) => console.error("@lifeline/react: setState publish failed", error));
  const setState = (partial: T | Partial<T> | ((state: T) => T | Partial<T>), replace?: boolean): void => {
    const current = channel.state;
    const part = typeof partial === "function" ? (partial as (state: T) => T | Partial<T>)(current) : partial;
    if (Object.is(part, current)) return;
    const next = replace === true ? part : { ...current, ...part };
    const patch = createMergePatch(current as unknown as JsonObject, next as unknown as JsonObject);
    if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
      throw new TypeError("createChannelStore: the state must stay a JSON object");
    }
    if (Object.keys(patch).length === 0) return;
    channel.publish(patch as JsonObject).catch(onError);
  };
  return {
    getState: () => channel.state,
    getInitialState: () => initial,
    setState: setState as ChannelStoreApi<T>["setState"],
    subscribe: (listener) => channel.subscribe(listener),
  };
}
