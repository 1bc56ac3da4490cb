import type { Clock } from "./clock.js";
import { LifelineClosedError } from "./errors.js";
import { applyMergePatch, deepFreeze, EMPTY_STATE, isJsonObject, type JsonObject, type JsonValue } from "./json.js";
import { shareStructure } from "./mergePatch.js";
import { abortReason, runUpdate, type UpdateOptions, type UpdateRecord } from "./update.js";
import type { DeltaMessage, EventMessage, PresenceEventMessage, SnapshotMessage, SubscribedMessage } from "./protocol.js";
import type { KeptChannel } from "./persistence.js";
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
  /**
   * Makes the publish conditional (compare-and-set): the server applies it only if the channel is at exactly this
   * position, else it rejects with a `LifelineConflictError` carrying the channel's current position.
   */
  if?: { readonly epoch: string; readonly offset: number };
  /**
   * Aborting it rejects the publish with the signal's reason. A publish not sent yet is removed from the queue (and
   * its optimistic overlay); one already sent may have been applied: the client stops waiting for it but keeps
   * re-sending it with its key after a reconnect, so its effect is exactly once either way.
   */
  signal?: AbortSignal;
}

/** What a publish hands to the client. @internal */
export interface PublishRequest {
  readonly key: string | undefined;
  readonly if: { readonly epoch: string; readonly offset: number } | undefined;
  readonly signal: AbortSignal | undefined;
  /** An update's attempt: the client fills in `withdraw` (see {@link PublishHandle}). */
  readonly handle?: PublishHandle;
}

/** @internal An update's hold on its conditional publish. */
export interface PublishHandle {
  /**
   * Set by the client when the publish is made. Withdraws a conditional publish that can no longer apply (the channel
   * moved past its `if` on the connection it was sent on, before its reply): it leaves the queue and the overlay, is
   * never re-sent, its promise rejects with a `WithdrawnPublishError` and its late reply is ignored. False (nothing
   * done) when that is not certain: the reply came, or it was sent on an earlier connection too.
   */
  withdraw?: () => boolean;
}

/** How a channel stands on the current connection. @internal */
export type WireState = "none" | "subscribing" | "subscribed" | "unsubscribing";

/** What a channel needs from its client. @internal */
export interface ChannelHost {
  _interestChanged(channel: LifelineChannel<JsonObject>): void;
  _publish(channel: string, patch: JsonObject, request: PublishRequest): Promise<number>;
  _fetchPresence(channel: string, signal: AbortSignal | undefined): Promise<readonly string[]>;
  _emit(channel: string, data: JsonValue): Promise<void>;
  _reportHandlerError(where: string, error: unknown): void;
  /** The client's clock (updates time their attempts and their wait for another writer). */
  _clock(): Clock;
  /** The user the server authenticated, or null. */
  readonly user: string | null;
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

  private wire: WireState = "none";
  private awaitingSnapshot = false;
  private resyncing = false;

  /** @internal */
  get _wire(): WireState {
    return this.wire;
  }
  set _wire(value: WireState) {
    if (this.wire === value) return;
    this.wire = value;
    this.notifyWatchers();
  }

  /** @internal A `subscribed` with `recovered: false` came; deltas wait for the snapshot. */
  get _awaitingSnapshot(): boolean {
    return this.awaitingSnapshot;
  }
  set _awaitingSnapshot(value: boolean) {
    if (this.awaitingSnapshot === value) return;
    this.awaitingSnapshot = value;
    this.notifyWatchers();
  }

  /** @internal A gap was seen and a resubscribe is in flight. */
  get _resyncing(): boolean {
    return this.resyncing;
  }
  set _resyncing(value: boolean) {
    if (this.resyncing === value) return;
    this.resyncing = value;
    this.notifyWatchers();
  }

  private readonly host: ChannelHost;
  private readonly optimistic: boolean;
  /** The server's state at `position`. */
  private confirmedState: JsonObject = EMPTY_STATE;
  /** What the application sees: `confirmedState`, with the pending publishes applied when optimistic. */
  private current: JsonObject = EMPTY_STATE;
  private position: Position | undefined;
  /** Publishes of this channel whose effect is not in `confirmedState` yet, in publish order (by client sequence). */
  private readonly pendingOps = new Map<
    number,
    { readonly patch: JsonObject; readonly key: string | undefined; readonly if: PublishRequest["if"]; ackOffset?: number; ackEpoch?: string }
  >();
  /** @internal Told after anything that {@link watch} listeners hear of (the client's persistence). */
  _onChange: (() => void) | undefined;
  /** Updates in progress keep the channel subscribed. */
  private holds = 0;
  private readonly positionWaiters = new Set<{ check(): void; fail(error: Error): void }>();
  /** The last applied delta was this client's own publish (an accepted one, by its offset); false after a snapshot. */
  private lastWriteOwn = false;
  /** How many deltas of other writers were applied. */
  private foreignWrites = 0;
  /** When (clock ms) this client's last own delta was applied. */
  private lastOwnAt = 0;
  /** How long (ms) another writer took to write after this client's own delta (a decaying maximum); 0 before any. */
  private otherGap = 0;
  private members: readonly string[] = NO_MEMBERS;
  private readonly listeners = new Set<Entry<StateListener<T>>>();
  private readonly presenceListeners = new Set<Entry<PresenceListener>>();
  private readonly eventListeners = new Set<Entry<ChannelEventListener>>();
  private readonly watchers = new Set<Entry<() => void>>();

  /** @internal Use `client.channel(name)`. */
  constructor(name: string, host: ChannelHost, optimistic = false) {
    this.name = name;
    this.host = host;
    this.optimistic = optimistic;
  }

  /**
   * The current state (a frozen JSON object; `{}` until the first snapshot). With the client option `optimistic`,
   * the confirmed state with every pending publish of this channel (queued or in flight) applied in order; otherwise
   * the same as {@link confirmed}.
   */
  get state(): T {
    return this.current as unknown as T;
  }

  /** The server's state at {@link offset} (frozen), without the pending publishes. */
  get confirmed(): T {
    return this.confirmedState as unknown as T;
  }

  /** How many publishes of this channel are not in {@link confirmed} yet (queued, in flight, or accepted and their delta not yet received). */
  get pending(): number {
    return this.pendingOps.size;
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

  /**
   * Registers `listener`, called (without arguments) after any of {@link state}, {@link confirmed}, {@link pending},
   * {@link offset}, {@link epoch} or {@link synced} may have changed: for views of more than the state (the React
   * bindings' `useChannel`). Like {@link subscribe} it keeps the wire subscription. Returns the function that
   * unregisters it (idempotent). Bound.
   */
  readonly watch = (listener: () => void): (() => void) => {
    const entry: Entry<() => void> = { fn: listener, active: true };
    this.watchers.add(entry);
    this.host._interestChanged(this as unknown as LifelineChannel<JsonObject>);
    return () => {
      if (!entry.active) return;
      entry.active = false;
      this.watchers.delete(entry);
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
   * The confirmed state changes when the server's delta comes back; with the client option `optimistic`,
   * {@link state} shows the patch at once (and drops it again if the server refuses it).
   * `options.if` makes it conditional (a `LifelineConflictError` when the channel moved on); `options.signal` cancels it.
   * An `if` that is not `{epoch: string, offset: non-negative integer}` rejects with a TypeError, before anything is sent.
   */
  publish(patch: JsonObject, options: PublishOptions = {}): Promise<number> {
    if (!isJsonObject(patch)) {
      return Promise.reject(new TypeError("publish(patch): patch must be a JSON object"));
    }
    const condition: unknown = options.if;
    if (condition !== undefined) {
      const problem = checkPosition(condition);
      if (problem !== undefined) return Promise.reject(new TypeError(`publish(patch, { if }): ${problem}`));
    }
    const position = condition as PublishOptions["if"];
    return this.host._publish(this.name, patch, {
      key: options.key,
      if: position === undefined ? undefined : { epoch: position.epoch, offset: position.offset },
      signal: options.signal,
    });
  }

  /**
   * Read-modify-write without losing a concurrent write: calls `fn` with a mutable copy of the {@link confirmed}
   * state, publishes the merge patch from that state to what `fn` returns, on the condition that the channel is still
   * at the confirmed position (`if`). On a conflict it waits until the local state has caught up with the server's
   * position, then calls `fn` again: at most `retries` times (default 10), then rejects with the
   * `LifelineConflictError`. Under contention writers take turns: a delta past the attempt's position that arrives
   * before its reply proves the conflict and the next attempt is sent at once (one retry; the stale attempt is
   * withdrawn, never re-sent); an update first waits for this client's own accepted publishes to be confirmed; and
   * when this client wrote last after contention, a new update waits briefly for the other writer's delta.
   * Resolves with the offset of the publish (or the current offset when `fn` changed nothing: nothing is sent). `fn` must be synchronous; when it throws, the update rejects with that error and
   * nothing is sent. Until the first snapshot the update waits for it; the channel stays subscribed meanwhile (a refused
   * subscribe rejects the update with the `LifelineRequestError`).
   */
  update(fn: (state: T) => T, options: UpdateOptions = {}): Promise<number> {
    return runUpdate(this as unknown as LifelineChannel<JsonObject>, fn as unknown as (state: JsonObject) => JsonObject, options);
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
  fetchPresence(options: { signal?: AbortSignal } = {}): Promise<readonly string[]> {
    return this.host._fetchPresence(this.name, options.signal);
  }

  // ---- driven by the client -------------------------------------------------------------

  /** @internal Someone listens: the channel should be subscribed on the wire. */
  get _wanted(): boolean {
    return this.listeners.size > 0 || this.presenceListeners.size > 0 || this.eventListeners.size > 0 || this.watchers.size > 0 || this.holds > 0;
  }

  /** @internal Keeps the channel subscribed (an update in progress); returns the release. */
  _hold(): () => void {
    this.holds++;
    this.host._interestChanged(this as unknown as LifelineChannel<JsonObject>);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      this.host._interestChanged(this as unknown as LifelineChannel<JsonObject>);
    };
  }

  /**
   * @internal Resolves once `done(position)` holds (checked now and after each snapshot, delta or change of the pending
   * publishes), or when `timeoutMs` (if given) has passed on the client's clock.
   */
  _waitForPosition(done: (position: Position | undefined) => boolean, signal: AbortSignal | undefined, timeoutMs?: number): Promise<void> {
    if (done(this.position)) return Promise.resolve();
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    return new Promise<void>((resolve, reject) => {
      const clock = this.host._clock();
      const onAbort = () => finish(abortReason(signal));
      const waiter = {
        check: () => {
          if (done(this.position)) finish(undefined);
        },
        fail: (error: Error) => finish(error),
      };
      const timer = timeoutMs === undefined ? undefined : clock.setTimeout(() => finish(undefined), timeoutMs);
      const finish = (error: Error | undefined) => {
        if (!this.positionWaiters.delete(waiter)) return;
        if (timer !== undefined) clock.clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      this.positionWaiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * @internal Calls `listener` with the position, synchronously, after each snapshot, delta or change of the pending
   * publishes, until the returned function is called (idempotent).
   */
  _watchPosition(listener: (position: Position | undefined) => void): () => void {
    const watcher = { check: () => listener(this.position), fail: () => undefined };
    this.positionWaiters.add(watcher);
    return () => void this.positionWaiters.delete(watcher);
  }

  /** @internal The server accepted a publish of this client whose delta has not reached the confirmed state yet. */
  get _ownWriteUnconfirmed(): boolean {
    for (const op of this.pendingOps.values()) if (op.ackOffset !== undefined) return true;
    return false;
  }

  /** @internal Another user is among the channel's members (a possible other writer). */
  get _othersPresent(): boolean {
    const me = this.host.user;
    return this.members.some((u) => u !== me);
  }

  /** @internal The client's clock. */
  _clock(): Clock {
    return this.host._clock();
  }

  /** @internal Whether the last applied delta is this client's own publish (false after a snapshot). */
  get _lastWriteOwn(): boolean {
    return this.lastWriteOwn;
  }

  /** @internal How long another writer took to write after this client's own delta (a decaying maximum, ms). */
  get _otherGap(): number {
    return this.otherGap;
  }

  /** @internal How many deltas of other writers this channel applied (deltas not confirming a publish of this client). */
  get _foreignWrites(): number {
    return this.foreignWrites;
  }

  /** @internal What the last successful update of this channel left for the next one (see update.ts). */
  _lastUpdate: UpdateRecord | undefined;

  /** @internal An update's conditional publish, with the handle that can withdraw it. */
  _publishAttempt(patch: JsonObject, position: Position, signal: AbortSignal | undefined, handle: PublishHandle): Promise<number> {
    return this.host._publish(this.name, patch, { key: undefined, if: { epoch: position.epoch, offset: position.offset }, signal, handle });
  }

  /** @internal A publish of this channel was made (queued or sent). */
  _pendingAdded(seq: number, patch: JsonObject, key?: string, condition?: PublishRequest["if"]): void {
    this.pendingOps.set(seq, { patch, key, if: condition });
    this.refresh(false);
  }

  /** @internal The server accepted it at `offset`: it stays until the confirmed state has it (no flicker). */
  _pendingAcked(seq: number, offset: number): void {
    const op = this.pendingOps.get(seq);
    if (op === undefined) return;
    const position = this.position;
    // A reply comes on an open connection, where a wanted channel is subscribed or subscribing unless it was refused.
    if (!this._wanted || this._wire === "none" || (position !== undefined && position.offset >= offset)) {
      // No delta will come to confirm it (not subscribed), or it is in the confirmed state already.
      this.pendingOps.delete(seq);
      this.refresh(false);
      return;
    }
    op.ackOffset = offset;
    // Before the first snapshot the epoch is not known: the next snapshot or delta tells it.
    if (position !== undefined) op.ackEpoch = position.epoch;
  }

  /** @internal No delta will confirm the accepted publishes (unsubscribed, or the subscribe was refused): drop them. */
  _dropAccepted(): void {
    let changed = false;
    for (const [seq, op] of this.pendingOps) {
      if (op.ackOffset !== undefined) changed = this.pendingOps.delete(seq) || changed;
    }
    if (changed) this.refresh(false);
  }

  /** @internal Refused, aborted before it was sent, or the client closed: the overlay goes (a rollback). */
  _pendingDropped(seq: number): void {
    if (this.pendingOps.delete(seq)) this.refresh(false);
  }

  /** @internal The client closed: updates waiting for a position give up. */
  _onClientClosed(): void {
    for (const waiter of [...this.positionWaiters]) waiter.fail(new LifelineClosedError());
  }

  /** @internal The server refused the subscribe: no snapshot or delta will come on this connection, so updates waiting for one fail with `error`. */
  _onSubscribeRefused(error: Error): void {
    for (const waiter of [...this.positionWaiters]) waiter.fail(error);
  }

  /** @internal What persistence keeps: the confirmed state, its position, the pending publishes with their keys. */
  _keep(): KeptChannel {
    const pending = [...this.pendingOps.values()]
      .filter((op) => op.key !== undefined)
      .map((op) => ({ key: op.key!, patch: op.patch, ...(op.if === undefined ? {} : { if: op.if }) }));
    const position = this.position;
    return {
      channel: this.name,
      ...(position === undefined ? {} : { epoch: position.epoch, offset: position.offset }),
      state: this.confirmedState,
      pending,
    };
  }

  /** @internal Starts from what was kept (before the first snapshot): not synced; a subscribe resumes from it. */
  _restore(kept: KeptChannel): void {
    if (this.position !== undefined) return; // the server's word came first
    if (kept.epoch !== undefined && kept.offset !== undefined) this.position = { epoch: kept.epoch, offset: kept.offset };
    this.confirmedState = deepFreeze(kept.state);
    this.refresh(true);
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
    this.lastWriteOwn = false;
    this.setConfirmed(deepFreeze(message.state));
  }

  /** @internal Applies a delta in order; returns what was done with it. */
  _onDelta(message: DeltaMessage): DeltaVerdict {
    const verdict = this._awaitingSnapshot ? "unsynced" : deltaVerdict(this.position, message.offset);
    if (verdict === "apply" && this.position !== undefined) {
      const epoch = this.position.epoch;
      let own = false;
      for (const op of this.pendingOps.values()) {
        if (op.ackOffset === message.offset && (op.ackEpoch === undefined || op.ackEpoch === epoch)) own = true;
      }
      const now = this.host._clock().now();
      if (own) {
        this.lastOwnAt = now;
      } else {
        this.foreignWrites++;
        if (this.lastWriteOwn) {
          const gap = now - this.lastOwnAt;
          this.otherGap = gap >= this.otherGap ? gap : (3 * this.otherGap + gap) / 4;
        }
      }
      this.lastWriteOwn = own;
      this.position = { epoch, offset: message.offset };
      this.setConfirmed(applyMergePatch(this.confirmedState, message.patch) as JsonObject);
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

  /** A snapshot or delta was applied: drop the pending publishes it confirms, rebase the rest, tell the listeners. */
  private setConfirmed(next: JsonObject): void {
    this.confirmedState = next;
    const position = this.position;
    for (const [seq, op] of this.pendingOps) {
      if (op.ackOffset === undefined || position === undefined) continue;
      op.ackEpoch ??= position.epoch;
      if (position.epoch !== op.ackEpoch || position.offset >= op.ackOffset) this.pendingOps.delete(seq);
    }
    // Without optimistic state every applied snapshot or delta is announced, as before issue 15.
    this.refresh(!this.optimistic);
  }

  /** Recomputes the visible state; listeners hear of it when it changed (or `always`). */
  private refresh(always: boolean): void {
    let next = this.confirmedState;
    if (this.optimistic) {
      for (const op of this.pendingOps.values()) next = applyMergePatch(next, op.patch) as JsonObject;
      // A rebase recomputes the state: keep every unchanged branch (and the whole state) the same reference.
      next = shareStructure(this.current, next) as JsonObject;
    }
    if (next === this.current && !always) {
      this.notifyWatchers(); // pending or the position may have changed
      this.checkWaiters();
      return;
    }
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
    this.notifyWatchers();
    this.checkWaiters();
  }

  /** The position or the pending publishes may have changed: updates waiting on them look again. */
  private checkWaiters(): void {
    if (this.positionWaiters.size === 0) return;
    for (const waiter of [...this.positionWaiters]) waiter.check();
  }

  private notifyWatchers(): void {
    this._onChange?.();
    if (this.watchers.size === 0) return;
    for (const entry of [...this.watchers]) {
      if (!entry.active) continue;
      try {
        entry.fn();
      } catch (e) {
        this.host._reportHandlerError(`channel "${this.name}" watch`, e);
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

/** Why a position given as `if` is not one (undefined when it is). */
function checkPosition(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "if must be an object {epoch, offset}";
  const { epoch, offset } = value as { epoch?: unknown; offset?: unknown };
  if (typeof epoch !== "string") return "if.epoch must be a string";
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) return "if.offset must be a non-negative integer below 2^53";
  return undefined;
}
