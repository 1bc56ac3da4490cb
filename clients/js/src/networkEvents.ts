/*
 * The browser's own signals about the network and the page (issue 15): the client reacts at once instead of waiting
 * for its backoff timer or its watchdog.
 */

/** What the client does with the environment's signals. */
export interface NetworkEventHandlers {
  /** The browser lost the network (`offline`). */
  offline(): void;
  /** The browser has a network again (`online`). */
  online(): void;
  /**
   * The page may have slept: it became visible (`visibilitychange`), came back from the back/forward cache
   * (`pageshow` with `persisted`) or was resumed after a freeze (`resume`). A live connection may be dead.
   */
  wake(): void;
}

/**
 * A source of network and page-lifecycle signals. The client attaches its handlers when it starts connecting (the
 * constructor, `connect()`) and detaches them when it closes. Inject one in tests; the default listens on `window`
 * and `document` when they exist (nowhere else: in Node or a worker nothing is attached).
 */
export interface NetworkEvents {
  /** Starts delivering signals to `handlers`; returns the function that stops it. */
  subscribe(handlers: NetworkEventHandlers): () => void;
}

interface EventTargetLike {
  addEventListener(type: string, listener: (event: unknown) => void): void;
  removeEventListener(type: string, listener: (event: unknown) => void): void;
}

/** The default {@link NetworkEvents}: `window` (`online`, `offline`, `pageshow`) and `document` (`visibilitychange`, `resume`). */
export const browserNetworkEvents: NetworkEvents = {
  subscribe(handlers) {
    const g = globalThis as { window?: EventTargetLike; document?: EventTargetLike & { visibilityState?: string } };
    const win = g.window;
    const doc = g.document;
    if (win === undefined || typeof win.addEventListener !== "function") return () => undefined;
    const attached: Array<[EventTargetLike, string, (event: unknown) => void]> = [];
    const on = (target: EventTargetLike | undefined, type: string, fn: (event: unknown) => void) => {
      if (target === undefined || typeof target.addEventListener !== "function") return;
      target.addEventListener(type, fn);
      attached.push([target, type, fn]);
    };
    on(win, "offline", () => handlers.offline());
    on(win, "online", () => handlers.online());
    on(win, "pageshow", (event) => {
      if ((event as { persisted?: boolean }).persisted === true) handlers.wake();
    });
    on(doc, "visibilitychange", () => {
      if (doc?.visibilityState === "visible") handlers.wake();
    });
    on(doc, "resume", () => handlers.wake());
    return () => {
      for (const [target, type, fn] of attached.splice(0)) target.removeEventListener(type, fn);
    };
  },
};
