import { applyMergePatch, deepFreeze, EMPTY_STATE, isJsonObject, type JsonObject, type JsonValue } from "./json.js";
import type { DeltaMessage, EventMessage, PresenceEventMessage, SnapshotMessage, SubscribedMessage } from "./protocol.js";
import { deltaVerdict, type DeltaVerdict, type Position } from "./recovery.js";

/** Called with the new state (and the previous one) after each applied snapshot or delta. */
export type StateListener<T> = (state: T, previous: T) => void;

/** A change of a channel's member list. */
export interface PresenceEvent {
  /** `join`/`leave` from the server, or `sync` when the full member list was (re)loaded. */
  readonly event: "join" | "leave" | "sync";
  /** The user who joined or left (absent for `sync`). */
  readonly user?: string;
  /** Why the user left (for example `disconnect`). */
  readonly reason?: string;
  /** Server time of the event, Unix ms. */
  readonly ts?: number;
  /** The member list after the event (frozen). */
  readonly members: readonly string[];
}

export type PresenceListener = (event: PresenceEvent) => void;

/** An ephemeral event of a channel (a cursor, "typing"): sent by another connection, never stored or replayed. */
export interface ChannelEvent {
  /** The channel name. */
  readonly channel: string;
  /** The user who emitted it; null when the application's server emitted it. */
  readonly user: string | null;
  /** What was emitted (any JSON value, frozen). */
  readonly data: JsonValue;
  /** Server time of the event, Unix ms. */
  readonly ts?: number;
}

export type ChannelEventListener = (event: ChannelEvent) => void;

/** Options of {@link LifelineChannel.publish}. */
export interface PublishOptions {
  /** Idempotency key (at most 128 characters); generated when absent. */
  key?: string;
}

/** How a channel stands on the current connection. @internal */
export type WireState = "none" | "subscribing" | "subscribed" | "unsubscribing";

/** What a channel needs from its client. @internal */
export interface ChannelHost {
  _interestChanged(channel: LifelineChannel<JsonObject>): void;
  _publish(channel: string, patch: JsonObject, key: string | undefined): Promise<number>;
  _fetchPresence(channel: string): Promise<readonly string[]>;
  _emit(channel: string, data: JsonValue): Promise<void>;
  _reportHandlerError(where: string, error: unknown): void;
}

interface Entry<F> {
  readonly fn: F;
  active: boolean;
}

const NO_MEMBERS: readonly string[] = Object.freeze([]);

/**
 * One channel of a {@link LifelineClient}: its local state (kept in sync from snapshots and
 * deltas), its position `{epoch, offset}`, its presence, and publishing to it. Obtain it with
 * `client.channel(name)`, which returns the same object for the same name.
 *
 * Wire subscription follows interest: the first `subscribe` or `onPresence` listener makes
 * the client subscribe on the wire (now, or as soon as it is connected, and again after each
 * reconnect, with `since` = the last position); when the last one unsubscribes, the client
 * unsubscribes on the wire. Changes made in the same tick are coalesced, so React StrictMode's
 * mount/unmount/mount costs nothing. The state and position are kept after unsubscribing,
 * so a later subscribe resumes from them.
 *
 * `subscribe` and `getSnapshot` are bound: pass them straight to React's
 * `useSyncExternalStore(channel.subscribe, channel.getSnapshot)`. The state object is frozen
 * and keeps its identity until a snapshot or delta changes it.
 */
export class LifelineChannel<T = JsonObject> {
  /** The channel name. */
  readonly name: string;

  /** @internal */ _wire: WireState = "none";
  /** @internal A `subscribed` with `recovered: false` came; deltas wait for the snapshot. */ _awaitingSnapshot = false;
  /** @internal A gap was seen and a resubscribe is in flight. */ _resyncing = false;

  private readonly host: ChannelHost;
  private current: JsonObject = EMPTY_STATE;
  private position: Position | undefined;
  private members: readonly string[] = NO_MEMBERS;
  private readonly listeners = new Set<Entry<StateListener<T>>>();
  private readonly presenceListeners = new Set<Entry<PresenceListener>>();
  private readonly eventListeners = new Set<Entry<ChannelEventListener>>();

  /** @internal Use `client.channel(name)`. */
  constructor(name: string, host: ChannelHost) {
    this.name = name;
    this.host = host;
  }

  /** The current state (a frozen JSON object; `{}` until the first snapshot). */
  get state(): T {
    return this.current as unknown as T;
  }

  /** The offset of the last applied snapshot or delta; undefined before the first. */
  get offset(): number | undefined {
    return this.position?.offset;
  }

  /** The epoch of the channel's history; undefined before the first snapshot. */
  get epoch(): string | undefined {
    return this.position?.epoch;
  }

  /** The members of the channel (user ids), loaded after each subscribe and kept up to date from presence events. */
  get presence(): readonly string[] {
    return this.members;
  }

  /**
   * True when the local state is up to date with the server on the current connection as far
   * as the client knows: subscribed, and no snapshot or resync outstanding.
   */
  get synced(): boolean {
    return this._wire === "subscribed" && !this._awaitingSnapshot && !this._resyncing && this.position !== undefined;
  }

  /**
   * Registers `listener`, called with the new state after each applied snapshot or delta.
   * Returns the function that unregisters it (idempotent). Bound: usable as
   * `useSyncExternalStore`'s first argument.
   */
  readonly subscribe = (listener: StateListener<T>): (() => void) => {
    const entry: Entry<StateListener<T>> = { fn: listener, active: true };
    this.listeners.add(entry);
    this.host._interestChanged(this as unknown as LifelineChannel<JsonObject>);
    return () => {
      if (!entry.active) return;
      entry.active = false;
      this.listeners.delete(entry);
      this.host._interestChanged(this as unknown as LifelineChannel<JsonObject>);
    };
  };

  /** The current state; the same reference until it changes. Bound, for `useSyncExternalStore`. */
  readonly getSnapshot = (): T => this.current as unknown as T;

  /** Alias of {@link getSnapshot} for Zustand-style stores. */
  readonly getState = (): T => this.current as unknown as T;

  /**
   * Registers a presence listener (it also keeps the wire subscription, since presence events
   * only reach subscribers). Returns the function that unregisters it. Together with
   * {@link getPresenceSnapshot} it also fits `useSyncExternalStore`.
   */
  readonly onPresence = (listener: PresenceListener): (() => void) => {
    const entry: Entry<PresenceListener> = { fn: listener, active: true };
    this.presenceListeners.add(entry);
    this.host._interestChanged(this as unknown as LifelineChannel<JsonObject>);
    return () => {
      if (!entry.active) return;
      entry.active = false;
      this.presenceListeners.delete(entry);
      this.host._interestChanged(this as unknown as LifelineChannel<JsonObject>);
    };
  };

  /** The member list; the same (frozen) array until it changes. Bound. */
  readonly getPresenceSnapshot = (): readonly string[] => this.members;

  /**
   * Publishes a JSON Merge Patch (RFC 7396; `null` deletes a member). Resolves with the offset
   * the server assigned. While disconnected the publish waits in the offline queue and is sent
   * on reconnect with the same idempotency key, so it takes effect exactly once. Rejects with
   * `LifelineQueueFullError` when the queue is full, `LifelineRequestError` when the server
   * refuses it, `LifelineClosedError` when the client closes first.
   *
   * The local state changes when the server's delta comes back, not before.
   */
  publish(patch: JsonObject, options: PublishOptions = {}): Promise<number> {
    if (!isJsonObject(patch)) {
      return Promise.reject(new TypeError("publish(patch): patch must be a JSON object"));
    }
    return this.host._publish(this.name, patch, options.key);
  }

  /**
   * Sends an ephemeral event (any JSON value) to every other connection subscribed to this
   * channel: for what must reach the others now and never later (cursors, typing). Nothing is
   * stored and nothing is queued: while not connected it rejects with
   * `LifelineDisconnectedError`. The channel must be subscribed on the wire (have a `subscribe`,
   * `onPresence` or `onEvent` listener), or the server refuses it (`not_subscribed`). Resolves
   * when the server accepted it; delivery is best-effort (a slow receiver may drop events).
   */
  emit(data: JsonValue): Promise<void> {
    if (data === undefined) {
      return Promise.reject(new TypeError("emit(data): data must be a JSON value"));
    }
    return this.host._emit(this.name, data);
  }

  /**
   * Registers an event listener, called once per event emitted by another connection (never for
   * this client's own emits, never replayed after a reconnect). It keeps the wire subscription,
   * since events only reach subscribers. Returns the function that unregisters it (idempotent).
   */
  readonly onEvent = (listener: ChannelEventListener): (() => void) => {
    const entry: Entry<ChannelEventListener> = { fn: listener, active: true };
    this.eventListeners.add(entry);
    this.host._interestChanged(this as unknown as LifelineChannel<JsonObject>);
    return () => {
      if (!entry.active) return;
      entry.active = false;
      this.eventListeners.delete(entry);
      this.host._interestChanged(this as unknown as LifelineChannel<JsonObject>);
    };
  };

  /** Asks the server for the member list now (needs an open connection); also updates {@link presence}. */
  fetchPresence(): Promise<readonly string[]> {
    return this.host._fetchPresence(this.name);
  }

  // ---- driven by the client -------------------------------------------------------------

  /** @internal Someone listens: the channel should be subscribed on the wire. */
  get _wanted(): boolean {
    return this.listeners.size > 0 || this.presenceListeners.size > 0 || this.eventListeners.size > 0;
  }

  /** @internal */
  get _position(): Position | undefined {
    return this.position;
  }

  /** @internal */
  _onSubscribed(message: SubscribedMessage): void {
    this._wire = "subscribed";
    this._resyncing = false;
    if (message.recovered && this.position !== undefined && this.position.epoch === message.epoch) {
      // Deltas after our offset follow; nothing else to do.
      this._awaitingSnapshot = false;
    } else {
      this._awaitingSnapshot = true;
    }
  }

  /** @internal A snapshot is authoritative: it replaces the state and position. */
  _onSnapshot(message: SnapshotMessage): void {
    this._awaitingSnapshot = false;
    this._resyncing = false;
    this.position = { epoch: message.epoch, offset: message.offset };
    this.setState(deepFreeze(message.state));
  }

  /** @internal Applies a delta in order; returns what was done with it. */
  _onDelta(message: DeltaMessage): DeltaVerdict {
    const verdict = this._awaitingSnapshot ? "unsynced" : deltaVerdict(this.position, message.offset);
    if (verdict === "apply" && this.position !== undefined) {
      this.position = { epoch: this.position.epoch, offset: message.offset };
      this.setState(applyMergePatch(this.current, message.patch) as JsonObject);
    }
    return verdict;
  }

  /** @internal */
  _onPresenceEvent(message: PresenceEventMessage): void {
    let next = this.members;
    if (message.event === "join" && !next.includes(message.user)) {
      next = Object.freeze([...next, message.user]);
    } else if (message.event === "leave" && next.includes(message.user)) {
      next = Object.freeze(next.filter((u) => u !== message.user));
    }
    this.members = next;
    const event: PresenceEvent = {
      event: message.event,
      user: message.user,
      ...(message.reason === undefined ? {} : { reason: message.reason }),
      ...(message.ts === undefined ? {} : { ts: message.ts }),
      members: next,
    };
    this.emitPresence(event);
  }

  /** @internal */
  _onEvent(message: EventMessage): void {
    const event: ChannelEvent = Object.freeze({
      channel: message.channel,
      user: typeof message.user === "string" ? message.user : null,
      data: deepFreeze(message.data),
      ...(message.ts === undefined ? {} : { ts: message.ts }),
    });
    for (const entry of [...this.eventListeners]) {
      if (!entry.active) continue;
      try {
        entry.fn(event);
      } catch (e) {
        this.host._reportHandlerError(`channel "${this.name}" event`, e);
      }
    }
  }

  /** @internal The full member list arrived (reply to a presence request). */
  _onPresenceMembers(members: readonly string[]): void {
    const same = members.length === this.members.length && members.every((u, i) => u === this.members[i]);
    if (!same) {
      this.members = Object.freeze([...new Set(members)]);
    }
    this.emitPresence({ event: "sync", members: this.members });
  }

  /** @internal The connection dropped: nothing is subscribed on the wire anymore. */
  _onDisconnected(): void {
    this._wire = "none";
    this._awaitingSnapshot = false;
    this._resyncing = false;
  }

  private setState(next: JsonObject): void {
    const previous = this.current as unknown as T;
    this.current = next;
    const state = next as unknown as T;
    for (const entry of [...this.listeners]) {
      if (!entry.active) continue;
      try {
        entry.fn(state, previous);
      } catch (e) {
        this.host._reportHandlerError(`channel "${this.name}" state`, e);
      }
    }
  }

  private emitPresence(event: PresenceEvent): void {
    for (const entry of [...this.presenceListeners]) {
      if (!entry.active) continue;
      try {
        entry.fn(event);
      } catch (e) {
        this.host._reportHandlerError(`channel "${this.name}" presence`, e);
      }
    }
  }
}
