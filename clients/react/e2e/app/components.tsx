import { useEffect } from "react";
import { useStore } from "zustand";
import type { StoreApi } from "zustand/vanilla";
import { useChannel, useConnectionState, usePresence } from "../../src/index.js";

/** What the page records: each committed value of each component (an effect per new view: once per commit). */
export interface Commits {
  [id: string]: Array<number | null>;
}

export const commits: Commits = {};

interface Counted {
  n?: number;
  title?: string;
}

/** A component on a channel: shows `n` and records each state it committed. */
export function Counter(props: { id: string; channel: string }) {
  const view = useChannel<Counted>(props.channel);
  useEffect(() => {
    (commits[props.id] ??= []).push(typeof view.state.n === "number" ? view.state.n : null);
  }, [view.state, props.id]);
  return <span id={props.id}>{JSON.stringify(view.state)}</span>;
}

/** A Zustand component: `useStore` over `createChannelStore(channel)`. */
export function ZustandCounter(props: { store: StoreApi<Counted> }) {
  const n = useStore(props.store, (s) => s.n);
  return <b id="zustand">{String(n)}</b>;
}

/** What the server renders and the browser hydrates. */
export function Doc(props: { channel: string; initialState: Counted }) {
  const view = useChannel<Counted>(props.channel, { initialState: props.initialState });
  const members = usePresence(props.channel);
  const connection = useConnectionState();
  return (
    <section>
      <h1 id="title">{view.state.title ?? "(none)"}</h1>
      <p id="meta">
        synced={String(view.synced)} members={members.length} connection={connection}
      </p>
    </section>
  );
}

/** State, synced and pending of a channel, as text. */
export function Status(props: { channel: string }) {
  const view = useChannel<Counted>(props.channel);
  return <pre id="status">{`${JSON.stringify(view.state)} synced=${String(view.synced)} pending=${view.pending}`}</pre>;
}
