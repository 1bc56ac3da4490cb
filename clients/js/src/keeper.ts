import type { Clock, TimerHandle } from "./clock.js";
import { LifelineClosedError, LifelineError } from "./errors.js";
import { PERSIST_INTERVAL_MS, LifelinePersistenceError, type KeptChannel, type KeptLoad, type KeptPublish, type LifelinePersistence } from "./persistence.js";

/** What loading the kept state needs from the client. */
export interface KeptTarget {
  /** The client is closed. */
  isClosed(): boolean;
  /** Starts the channel from what was kept of it. */
  restore(kept: KeptChannel): void;
  /** Queues a kept publish again, with its key. */
  publish(channel: string, kept: KeptPublish): Promise<number>;
  /** Loading is over, done or failed: connect. */
  start(): void;
}

/**
 * Writes the changed channels of a client to its persistence: batched (at most every PERSIST_INTERVAL_MS), one write
 * at a time, and at once on `pagehide`. After a failed write it stops (reported once): the client goes on without it.
 * @internal
 */
export class PersistenceKeeper {
  private readonly dirty = new Set<string>();
  /** The channels of the write in flight: written again on `pagehide` (the page may go before it commits). */
  private inFlight = new Set<string>();
  private timer: TimerHandle | undefined;
  private writing = false;
  private stopped = false;
  private readonly detachPageHide: () => void;

  constructor(
    private readonly storage: LifelinePersistence,
    private readonly clock: Clock,
    private readonly keep: (channel: string) => KeptChannel | undefined,
    private readonly report: (error: LifelineError) => void,
  ) {
    const target = globalThis as { addEventListener?: (type: string, fn: () => void) => void; removeEventListener?: (type: string, fn: () => void) => void };
    const onPageHide = () => this.flush(true);
    if (typeof target.addEventListener === "function") {
      target.addEventListener("pagehide", onPageHide);
      this.detachPageHide = () => target.removeEventListener?.("pagehide", onPageHide);
    } else {
      this.detachPageHide = () => {};
    }
  }

  /** Loads what was kept, starts each channel from it and queues its publishes again (same keys), then `start`s. */
  load(target: KeptTarget): void {
    let loading: Promise<KeptLoad>;
    try {
      loading = Promise.resolve(this.storage.load());
    } catch (e) {
      loading = Promise.reject(e);
    }
    loading
      .then(
        (kept) => {
          for (const problem of kept.problems) this.report(problem);
          if (target.isClosed()) return;
          for (const channel of kept.channels) {
            target.restore(channel);
            for (const p of channel.pending) {
              target.publish(channel.channel, p).catch((e: unknown) => {
                if (!(e instanceof LifelineClosedError)) this.report(e instanceof LifelineError ? e : new LifelinePersistenceError(String(e), { cause: e }));
              });
            }
          }
        },
        (e: unknown) => this.fail(e, "reading kept state failed"),
      )
      .finally(() => target.start());
  }

  /** True after a failed write (or `stop`): nothing more is written. */
  get disabled(): boolean {
    return this.stopped;
  }

  /** The channel changed: it is written within PERSIST_INTERVAL_MS. */
  changed(channel: string): void {
    if (this.stopped) return;
    this.dirty.add(channel);
    if (this.timer === undefined && !this.writing) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, PERSIST_INTERVAL_MS);
    }
  }

  /**
   * Writes what changed now; unless a write is in flight: then right after it, or also now when `now` (the page is
   * going: IndexedDB runs write transactions of one store in the order they were made, so the later one wins).
   */
  flush(now = false): void {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.stopped || (this.writing && !now)) return;
    const names = new Set(this.dirty);
    if (now) for (const name of this.inFlight) names.add(name);
    if (names.size === 0) return;
    const records: KeptChannel[] = [];
    for (const name of names) {
      const kept = this.keep(name);
      if (kept !== undefined) records.push(kept);
    }
    this.dirty.clear();
    if (now && this.storage.saveNow !== undefined) {
      // The page is going: keep them synchronously (the storage's own way), as an asynchronous write may not finish.
      try {
        this.storage.saveNow(records);
      } catch (e) {
        this.fail(e, "writing kept state on pagehide failed");
      }
      return;
    }
    this.inFlight = names;
    this.writing = true;
    let saving: Promise<void>;
    try {
      saving = Promise.resolve(this.storage.save(records));
    } catch (e) {
      saving = Promise.reject(e);
    }
    saving.then(
      () => {
        if (this.inFlight === names) this.inFlight = new Set();
        this.writing = false;
        if (this.dirty.size > 0) this.changed([...this.dirty][0]!);
      },
      (e: unknown) => {
        this.writing = false;
        this.fail(e, "writing kept state failed");
      },
    );
  }

  /** Stops for good: a storage error, or the client is disposed. */
  fail(error: unknown, what: string): void {
    if (this.stopped) return;
    this.stop();
    this.report(
      error instanceof LifelinePersistenceError
        ? error
        : new LifelinePersistenceError(`${what}: ${error instanceof Error ? error.message : String(error)}; going on without persistence`, { cause: error }),
    );
  }

  stop(): void {
    this.stopped = true;
    this.dirty.clear();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.detachPageHide();
  }
}
