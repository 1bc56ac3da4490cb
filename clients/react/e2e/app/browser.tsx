import { indexedDbPersistence, LifelineClient, type JsonObject } from "@lifeline/client";
import { StrictMode } from "react";
import { createRoot, hydrateRoot, type Root } from "react-dom/client";
import { createChannelStore, LifelineProvider } from "../../src/index.js";
import { commits, Counter, Doc, Status, ZustandCounter } from "./components.js";

/*
 * The page side of the React proofs: built by the test with esbuild (React's development build, so StrictMode
 * double-invokes effects) and loaded into a page of the server's origin as window.__app.
 */

const errors: string[] = [];
const consoleError = console.error.bind(console);
console.error = (...args: unknown[]) => {
  errors.push(args.map(String).join(" "));
  consoleError(...args);
};
window.addEventListener("error", (e) => errors.push(`error event: ${e.message}`));

function newClient(wsUrl: string): LifelineClient {
  return new LifelineClient(wsUrl, { token: "alice", optimistic: true, onError: (e) => errors.push(`client: ${String(e)}`) });
}

let root: Root | undefined;
let client: LifelineClient | undefined;

const app = {
  commits,
  errors,
  recoverable: [] as string[],
  client: () => client,

  /** StrictMode, three components on one channel. */
  mountCounters(wsUrl: string, channel: string): void {
    client = newClient(wsUrl);
    const container = document.createElement("div");
    document.body.append(container);
    root = createRoot(container);
    root.render(
      <StrictMode>
        <LifelineProvider client={client}>
          <Counter id="a" channel={channel} />
          <Counter id="b" channel={channel} />
          <Counter id="c" channel={channel} />
        </LifelineProvider>
      </StrictMode>,
    );
  },

  /** How many listeners of each kind the channel has (private fields, read for the proof). */
  listeners(channel: string): { watchers: number; state: number; presence: number } {
    const c = client!.channel(channel) as unknown as { watchers: Set<unknown>; listeners: Set<unknown>; presenceListeners: Set<unknown> };
    return { watchers: c.watchers.size, state: c.listeners.size, presence: c.presenceListeners.size };
  },

  unmount(): void {
    root?.unmount();
    root = undefined;
  },

  /** A Zustand component under StrictMode. */
  mountZustand(wsUrl: string, channel: string): void {
    client = newClient(wsUrl);
    const store = createChannelStore<{ n?: number }>(client.channel(channel));
    (app as { store?: unknown }).store = store;
    const container = document.createElement("div");
    document.body.append(container);
    root = createRoot(container);
    root.render(
      <StrictMode>
        <ZustandCounter store={store} />
      </StrictMode>,
    );
  },

  /** Hydrates the server's HTML (already in #root) with the same initial state. */
  hydrate(wsUrl: string, channel: string, initialState: JsonObject): void {
    client = newClient(wsUrl);
    const container = document.getElementById("root")!;
    root = hydrateRoot(
      container,
      <StrictMode>
        <LifelineProvider client={client}>
          <Doc channel={channel} initialState={initialState} />
        </LifelineProvider>
      </StrictMode>,
      { onRecoverableError: (error) => app.recoverable.push(String(error)) },
    );
  },

  /** A client with IndexedDB persistence and a Status component under StrictMode. */
  mountPersistent(wsUrl: string, channel: string, db: string): void {
    client = new LifelineClient(wsUrl, {
      token: "alice",
      optimistic: true,
      reconnect: { baseMs: 50, capMs: 200 },
      persistence: indexedDbPersistence(db),
      onError: (e) => errors.push(`client: ${String(e)}`),
    });
    const container = document.createElement("div");
    document.body.append(container);
    root = createRoot(container);
    root.render(
      <StrictMode>
        <LifelineProvider client={client}>
          <Status channel={channel} />
        </LifelineProvider>
      </StrictMode>,
    );
  },

  /** Another user (a second connection), for publishing. */
  other(wsUrl: string): LifelineClient {
    return new LifelineClient(wsUrl, { token: "bob" });
  },
};

(window as unknown as { __app: typeof app }).__app = app;
