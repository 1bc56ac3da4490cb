import type { JsonObject } from "@lifeline/client";
import { useMemo, useSyncExternalStore } from "react";
import { initialView, viewSource, type ChannelView } from "./channelView.js";
import { useLifelineClient } from "./context.js";

/** Options of {@link useChannel}. */
export interface UseChannelOptions<T> {
  /**
   * The state rendered on the server and during hydration (`getServerSnapshot`); default `{}`. Read once per channel.
   * Give the server and the browser the same value (for example the state the page was rendered with), so hydration
   * matches; right after hydration the component renders the channel's own state (kept, or live).
   */
  readonly initialState?: T;
}

const EMPTY: JsonObject = Object.freeze({});

/**
 * The channel `name` of the provider's client, as `{ state, synced, pending, offset, epoch, publish, update }`.
 * Built on `useSyncExternalStore`: a component renders once per change of the view. Any number of components on one
 * channel share one wire subscription (kept while at least one is mounted; StrictMode's extra mount costs nothing).
 */
export function useChannel<T = JsonObject>(name: string, options: UseChannelOptions<T> = {}): ChannelView<T> {
  const client = useLifelineClient();
  const channel = client.channel<T>(name);
  const source = viewSource(channel);
  // initialState is read once per channel, by design (an inline object literal must not make a new server snapshot).
  const server = useMemo(() => initialView(source, options.initialState ?? (EMPTY as T)), [source]);
  return useSyncExternalStore(channel.watch, source.get, () => server);
}
