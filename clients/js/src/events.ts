import type { Clock } from "./clock.js";
import type { LostInfo } from "./connection.js";
import { LifelineHandlerError, type LifelineError } from "./errors.js";
import type { JsonValue } from "./json.js";
import type { ConnectionState, StateChange } from "./options.js";
import { addEntry, type Entry } from "./util.js";

/** A message from the application's server to this user (`SendToUserAsync`): not stored, not replayed. */
export interface UserMessage {
  /** What the server sent (any JSON value, frozen). */
  readonly data: JsonValue;
  /** Server time, Unix ms. */
  readonly ts?: number;
}

/** What a state change says beyond `from` and `to`. */
export type StateChangeInfo = Partial<LostInfo> & { retryInMs?: number };

/**
 * The listeners of a client (state changes, errors, user messages) and the `onError` option: each listener is called
 * in a try/catch, so one that throws never stops the others or the client.
 * @internal
 */
export class ClientEvents {
  private readonly stateListeners = new Set<Entry<(change: StateChange) => void>>();
  private readonly errorListeners = new Set<Entry<(error: LifelineError) => void>>();
  private readonly messageListeners = new Set<Entry<(message: UserMessage) => void>>();

  constructor(
    private readonly clock: Clock,
    private readonly errorOption: ((error: LifelineError) => void) | undefined,
  ) {}

  onStateChange(listener: (change: StateChange) => void): () => void {
    return addEntry(this.stateListeners, listener);
  }

  onError(listener: (error: LifelineError) => void): () => void {
    return addEntry(this.errorListeners, listener);
  }

  onMessage(listener: (message: UserMessage) => void): () => void {
    return addEntry(this.messageListeners, listener);
  }

  stateChanged(from: ConnectionState, to: ConnectionState, info: StateChangeInfo): void {
    const change: StateChange = Object.freeze({
      from,
      to,
      reason: info.reason ?? to,
      ...(info.code === undefined ? {} : { code: info.code }),
      ...(info.initiator === undefined ? {} : { initiator: info.initiator }),
      ...(info.retryInMs === undefined ? {} : { retryInMs: info.retryInMs }),
      ...(info.error === undefined ? {} : { error: info.error }),
      ...(info.transport === undefined ? {} : { transport: info.transport }),
      ts: this.clock.now(),
    });
    this.emit(this.stateListeners, change, "state change");
  }

  userMessage(message: UserMessage): void {
    this.emit(this.messageListeners, message, "message");
  }

  /** Calls each listener registered now (and still registered); one that throws is reported as a handler error. */
  private emit<T>(listeners: Set<Entry<(value: T) => void>>, value: T, where: string): void {
    for (const entry of [...listeners]) {
      if (!entry.active) continue;
      try {
        entry.fn(value);
      } catch (e) {
        this.report(new LifelineHandlerError(where, e));
      }
    }
  }

  report(error: LifelineError): void {
    let delivered = false;
    if (this.errorOption !== undefined) {
      delivered = true;
      try {
        this.errorOption(error);
      } catch {
        // An error reporter that throws has nowhere left to report to.
      }
    }
    for (const entry of [...this.errorListeners]) {
      if (!entry.active) continue;
      delivered = true;
      try {
        entry.fn(error);
      } catch {
        // Same as above.
      }
    }
    if (!delivered) {
      console.error("[lifeline]", error);
    }
  }
}
