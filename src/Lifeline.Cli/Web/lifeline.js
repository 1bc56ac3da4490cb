// src/errors.ts
var LifelineError = class extends Error {
  constructor(code, message, options) {
    super(message);
    this.name = "LifelineError";
    this.code = code;
    if (options !== void 0 && "cause" in options) {
      Object.defineProperty(this, "cause", { value: options.cause, configurable: true, writable: true });
    }
  }
};
var LifelineDisconnectedError = class extends LifelineError {
  constructor(message = "the connection dropped before the reply arrived") {
    super("disconnected", message);
    this.name = "LifelineDisconnectedError";
  }
};
var LifelineClosedError = class extends LifelineError {
  constructor(message = "the client is closed") {
    super("closed", message);
    this.name = "LifelineClosedError";
  }
};
var LifelineQueueFullError = class extends LifelineError {
  constructor(limit) {
    super("queue_full", `offline publish queue is full (offlineQueueLimit=${limit}); the publish was not queued`);
    this.name = "LifelineQueueFullError";
    this.limit = limit;
  }
};
var LifelineRequestError = class extends LifelineError {
  constructor(code, message) {
    super(code, message);
    this.name = "LifelineRequestError";
  }
};
var LifelineConflictError = class extends LifelineRequestError {
  constructor(message, position) {
    super("conflict", message);
    this.name = "LifelineConflictError";
    this.position = position === void 0 ? void 0 : Object.freeze({ epoch: position.epoch, offset: position.offset });
  }
};
var LifelineProtocolError = class extends LifelineError {
  constructor(message, raw, options) {
    super("malformed_message", message, options);
    this.name = "LifelineProtocolError";
    this.raw = raw.length > 200 ? `${raw.slice(0, 200)}...` : raw;
  }
};
var LifelineTokenError = class extends LifelineError {
  constructor(reason, message, options) {
    super("token_failed", message, options);
    this.name = "LifelineTokenError";
    this.reason = reason;
  }
};
var LifelineHandlerError = class extends LifelineError {
  constructor(where, cause) {
    super("handler_error", `a ${where} handler threw: ${describe(cause)}`, { cause });
    this.name = "LifelineHandlerError";
  }
};
function describe(value) {
  return value instanceof Error ? value.message : String(value);
}

// src/json.ts
function isJsonObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
var EMPTY_STATE = Object.freeze({});
function deepFreeze(value) {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) {
      deepFreeze(child);
    }
    Object.freeze(value);
  }
  return value;
}
function applyMergePatch(target, patch) {
  if (!isJsonObject(patch)) {
    return deepFreeze(patch);
  }
  const base = isJsonObject(target) ? target : EMPTY_STATE;
  let result = isJsonObject(target) ? void 0 : {};
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    const has = Object.prototype.hasOwnProperty.call(base, key);
    if (value === null) {
      if (has) {
        result ?? (result = copy(base));
        delete result[key];
      }
      continue;
    }
    const current = has ? base[key] : void 0;
    const merged = applyMergePatch(current, value);
    if (merged !== current || !has) {
      result ?? (result = copy(base));
      defineOwn(result, key, merged);
    }
  }
  return result === void 0 ? base : Object.freeze(result);
}
function copy(source) {
  const out = {};
  for (const key of Object.keys(source)) {
    defineOwn(out, key, source[key]);
  }
  return out;
}
function defineOwn(target, key, value) {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

// src/mergePatch.ts
function createMergePatch(from, to) {
  if (!isJsonObject(to)) return to;
  return diffObjects(isJsonObject(from) ? from : EMPTY_STATE, to);
}
function diffObjects(from, to) {
  const patch = {};
  const has = (o, key) => Object.prototype.hasOwnProperty.call(o, key);
  for (const key of Object.keys(from)) {
    if (from[key] !== null && (!has(to, key) || to[key] === null)) define(patch, key, null);
  }
  for (const key of Object.keys(to)) {
    const next = to[key];
    if (next === null) continue;
    const present = has(from, key) && from[key] !== null;
    const previous = present ? from[key] : void 0;
    if (isJsonObject(next)) {
      if (isJsonObject(previous)) {
        const inner = diffObjects(previous, next);
        if (Object.keys(inner).length > 0) define(patch, key, inner);
      } else {
        define(patch, key, diffObjects(EMPTY_STATE, next));
      }
    } else if (!present || !jsonEqual(previous, next)) {
      define(patch, key, next);
    }
  }
  return patch;
}
function define(target, key, value) {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
function jsonEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => jsonEqual(v, b[i]));
  }
  const ka = Object.keys(a);
  const ob = b;
  if (ka.length !== Object.keys(ob).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(ob, k) && jsonEqual(a[k], ob[k]));
}
function shareStructure(previous, next) {
  if (previous === next) return previous;
  if (isJsonObject(previous) && isJsonObject(next)) {
    let same = Object.keys(previous).length === Object.keys(next).length;
    const out = {};
    for (const key of Object.keys(next)) {
      const had = Object.prototype.hasOwnProperty.call(previous, key);
      const child = had ? shareStructure(previous[key], next[key]) : next[key];
      if (!had || child !== previous[key]) same = false;
      define(out, key, child);
    }
    return same ? previous : Object.freeze(out);
  }
  if (Array.isArray(previous) && Array.isArray(next)) {
    return jsonEqual(previous, next) ? previous : deepFreeze(next);
  }
  return jsonEqual(previous, next) ? previous : deepFreeze(next);
}

// src/update.ts
var DEFAULT_UPDATE_RETRIES = 10;
function abortReason(signal) {
  const reason = signal?.reason;
  if (reason instanceof Error) return reason;
  const error = new Error(reason === void 0 ? "the operation was aborted" : String(reason));
  error.name = "AbortError";
  return error;
}
var WithdrawnPublishError = class extends Error {
  constructor() {
    super("the conditional publish was withdrawn: the channel moved past its position before the reply");
    this.name = "WithdrawnPublishError";
  }
};
var YIELD_MIN_MS = 20;
var YIELD_MAX_MS = 250;
var PROBE_MIN_MS = 2;
var PROBE_MAX_MS = 50;
var CONTENTION_UPDATES = 3;
var PROBE_EVERY = 4;
var BURST_MS = 100;
function yieldMs(rtt, otherGap = 0) {
  return Math.min(YIELD_MAX_MS, Math.max(YIELD_MIN_MS, 4 * (rtt ?? 0), 2 * otherGap));
}
function probeMs(rtt, otherGap = 0) {
  return Math.min(PROBE_MAX_MS, Math.max(PROBE_MIN_MS, 2 * (rtt ?? 0), otherGap));
}
async function runUpdate(channel, fn, options) {
  const retries = options.retries ?? DEFAULT_UPDATE_RETRIES;
  if (typeof fn !== "function") throw new TypeError("update(fn): fn must be a function");
  if (!(Number.isSafeInteger(retries) && retries >= 0)) throw new TypeError(`update: retries must be a non-negative integer, got ${retries}`);
  const signal = options.signal;
  if (signal?.aborted === true) throw abortReason(signal);
  const clock = channel._clock();
  const release = channel._hold();
  try {
    if (channel._position === void 0) await channel._waitForPosition((p) => p !== void 0, signal);
    if (channel._ownWriteUnconfirmed) await channel._waitForPosition(() => !channel._ownWriteUnconfirmed, signal);
    const foreignAtStart = channel._foreignWrites;
    const startedAt = clock.now();
    const last = channel._lastUpdate;
    const burst = last !== void 0 && startedAt - last.endedAt <= BURST_MS;
    const turn = takeTurn(channel, last, burst, signal);
    if (turn !== void 0) await turn;
    let conflicted = false;
    for (let attempt = 0; ; attempt++) {
      if (channel._position === void 0) await channel._waitForPosition((p) => p !== void 0, signal);
      const position = channel._position;
      const from = channel.confirmed;
      const to = fn(JSON.parse(JSON.stringify(from)));
      if (!isJsonObject(to)) throw new TypeError("update(fn): fn must return a JSON object (the new state)");
      const patch = createMergePatch(from, JSON.parse(JSON.stringify(to)));
      if (Object.keys(patch).length === 0) return position.offset;
      const handle = {};
      const sentAt = clock.now();
      const result = channel._publishAttempt(patch, position, signal, handle);
      const unwatch = attempt < retries ? channel._watchPosition((p) => {
        if (p !== void 0 && (p.epoch !== position.epoch || p.offset > position.offset)) handle.withdraw?.();
      }) : void 0;
      try {
        const offset = await result;
        const endedAt = clock.now();
        const contended = conflicted || channel._foreignWrites > foreignAtStart;
        channel._lastUpdate = {
          foreignAtStart,
          contention: contended ? CONTENTION_UPDATES : burst ? Math.max(0, last.contention - 1) : 0,
          quiet: contended ? 0 : (burst ? last.quiet : 0) + 1,
          endedAt,
          rtt: endedAt - sentAt
        };
        return offset;
      } catch (e) {
        if (e instanceof WithdrawnPublishError) {
          conflicted = true;
          continue;
        }
        if (!(e instanceof LifelineConflictError) || attempt >= retries) throw e;
        conflicted = true;
        const server = e.position;
        await channel._waitForPosition((p) => caughtUp(p, position, server), signal);
      } finally {
        unwatch?.();
      }
    }
  } finally {
    release();
  }
}
function takeTurn(channel, last, burst, signal) {
  if (last === void 0 || !burst || !channel._lastWriteOwn) return void 0;
  const otherWrites = () => !channel._lastWriteOwn;
  if (last.contention > 0 || channel._foreignWrites > last.foreignAtStart) {
    return channel._waitForPosition(otherWrites, signal, yieldMs(last.rtt, channel._otherGap));
  }
  if (last.quiet % PROBE_EVERY === 1 && channel._othersPresent) {
    return channel._waitForPosition(otherWrites, signal, probeMs(last.rtt, channel._otherGap));
  }
  return void 0;
}
function caughtUp(current, used, server) {
  if (current === void 0) return false;
  if (server === void 0) return current.epoch !== used.epoch || current.offset > used.offset;
  if (current.epoch === server.epoch) return current.offset >= server.offset;
  return current.epoch !== used.epoch;
}

// src/recovery.ts
function deltaVerdict(position, offset) {
  if (position === void 0) {
    return "unsynced";
  }
  if (offset <= position.offset) {
    return "duplicate";
  }
  return offset === position.offset + 1 ? "apply" : "gap";
}

// src/channel.ts
var NO_MEMBERS = Object.freeze([]);
var LifelineChannel = class {
  /** @internal Use `client.channel(name)`. */
  constructor(name, host, optimistic = false) {
    this.wire = "none";
    this.awaitingSnapshot = false;
    this.resyncing = false;
    /** The server's state at `position`. */
    this.confirmedState = EMPTY_STATE;
    /** What the application sees: `confirmedState`, with the pending publishes applied when optimistic. */
    this.current = EMPTY_STATE;
    /** Publishes of this channel whose effect is not in `confirmedState` yet, in publish order (by client sequence). */
    this.pendingOps = /* @__PURE__ */ new Map();
    /** Updates in progress keep the channel subscribed. */
    this.holds = 0;
    this.positionWaiters = /* @__PURE__ */ new Set();
    /** The last applied delta was this client's own publish (an accepted one, by its offset); false after a snapshot. */
    this.lastWriteOwn = false;
    /** How many deltas of other writers were applied. */
    this.foreignWrites = 0;
    /** When (clock ms) this client's last own delta was applied. */
    this.lastOwnAt = 0;
    /** How long (ms) another writer took to write after this client's own delta (a decaying maximum); 0 before any. */
    this.otherGap = 0;
    this.members = NO_MEMBERS;
    this.listeners = /* @__PURE__ */ new Set();
    this.presenceListeners = /* @__PURE__ */ new Set();
    this.eventListeners = /* @__PURE__ */ new Set();
    this.watchers = /* @__PURE__ */ new Set();
    /**
     * Registers `listener`, called with the new state after each applied snapshot or delta.
     * Returns the function that unregisters it (idempotent). Bound: usable as
     * `useSyncExternalStore`'s first argument.
     */
    this.subscribe = (listener) => {
      const entry = { fn: listener, active: true };
      this.listeners.add(entry);
      this.host._interestChanged(this);
      return () => {
        if (!entry.active) return;
        entry.active = false;
        this.listeners.delete(entry);
        this.host._interestChanged(this);
      };
    };
    /**
     * Registers `listener`, called (without arguments) after any of {@link state}, {@link confirmed}, {@link pending},
     * {@link offset}, {@link epoch} or {@link synced} may have changed: for views of more than the state (the React
     * bindings' `useChannel`). Like {@link subscribe} it keeps the wire subscription. Returns the function that
     * unregisters it (idempotent). Bound.
     */
    this.watch = (listener) => {
      const entry = { fn: listener, active: true };
      this.watchers.add(entry);
      this.host._interestChanged(this);
      return () => {
        if (!entry.active) return;
        entry.active = false;
        this.watchers.delete(entry);
        this.host._interestChanged(this);
      };
    };
    /** The current state; the same reference until it changes. Bound, for `useSyncExternalStore`. */
    this.getSnapshot = () => this.current;
    /** Alias of {@link getSnapshot} for Zustand-style stores. */
    this.getState = () => this.current;
    /**
     * Registers a presence listener (it also keeps the wire subscription, since presence events
     * only reach subscribers). Returns the function that unregisters it. Together with
     * {@link getPresenceSnapshot} it also fits `useSyncExternalStore`.
     */
    this.onPresence = (listener) => {
      const entry = { fn: listener, active: true };
      this.presenceListeners.add(entry);
      this.host._interestChanged(this);
      return () => {
        if (!entry.active) return;
        entry.active = false;
        this.presenceListeners.delete(entry);
        this.host._interestChanged(this);
      };
    };
    /** The member list; the same (frozen) array until it changes. Bound. */
    this.getPresenceSnapshot = () => this.members;
    /**
     * Registers an event listener, called once per event emitted by another connection (never for
     * this client's own emits, never replayed after a reconnect). It keeps the wire subscription,
     * since events only reach subscribers. Returns the function that unregisters it (idempotent).
     */
    this.onEvent = (listener) => {
      const entry = { fn: listener, active: true };
      this.eventListeners.add(entry);
      this.host._interestChanged(this);
      return () => {
        if (!entry.active) return;
        entry.active = false;
        this.eventListeners.delete(entry);
        this.host._interestChanged(this);
      };
    };
    this.name = name;
    this.host = host;
    this.optimistic = optimistic;
  }
  /** @internal */
  get _wire() {
    return this.wire;
  }
  set _wire(value) {
    if (this.wire === value) return;
    this.wire = value;
    this.notifyWatchers();
  }
  /** @internal A `subscribed` with `recovered: false` came; deltas wait for the snapshot. */
  get _awaitingSnapshot() {
    return this.awaitingSnapshot;
  }
  set _awaitingSnapshot(value) {
    if (this.awaitingSnapshot === value) return;
    this.awaitingSnapshot = value;
    this.notifyWatchers();
  }
  /** @internal A gap was seen and a resubscribe is in flight. */
  get _resyncing() {
    return this.resyncing;
  }
  set _resyncing(value) {
    if (this.resyncing === value) return;
    this.resyncing = value;
    this.notifyWatchers();
  }
  /**
   * The current state (a frozen JSON object; `{}` until the first snapshot). With the client option `optimistic`,
   * the confirmed state with every pending publish of this channel (queued or in flight) applied in order; otherwise
   * the same as {@link confirmed}.
   */
  get state() {
    return this.current;
  }
  /** The server's state at {@link offset} (frozen), without the pending publishes. */
  get confirmed() {
    return this.confirmedState;
  }
  /** How many publishes of this channel are not in {@link confirmed} yet (queued, in flight, or accepted and their delta not yet received). */
  get pending() {
    return this.pendingOps.size;
  }
  /** The offset of the last applied snapshot or delta; undefined before the first. */
  get offset() {
    return this.position?.offset;
  }
  /** The epoch of the channel's history; undefined before the first snapshot. */
  get epoch() {
    return this.position?.epoch;
  }
  /** The members of the channel (user ids), loaded after each subscribe and kept up to date from presence events. */
  get presence() {
    return this.members;
  }
  /**
   * True when the local state is up to date with the server on the current connection as far
   * as the client knows: subscribed, and no snapshot or resync outstanding.
   */
  get synced() {
    return this._wire === "subscribed" && !this._awaitingSnapshot && !this._resyncing && this.position !== void 0;
  }
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
  publish(patch, options = {}) {
    if (!isJsonObject(patch)) {
      return Promise.reject(new TypeError("publish(patch): patch must be a JSON object"));
    }
    const condition = options.if;
    if (condition !== void 0) {
      const problem = checkPosition(condition);
      if (problem !== void 0) return Promise.reject(new TypeError(`publish(patch, { if }): ${problem}`));
    }
    const position = condition;
    return this.host._publish(this.name, patch, {
      key: options.key,
      if: position === void 0 ? void 0 : { epoch: position.epoch, offset: position.offset },
      signal: options.signal
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
  update(fn, options = {}) {
    return runUpdate(this, fn, options);
  }
  /**
   * Sends an ephemeral event (any JSON value) to every other connection subscribed to this
   * channel: for what must reach the others now and never later (cursors, typing). Nothing is
   * stored and nothing is queued: while not connected it rejects with
   * `LifelineDisconnectedError`. The channel must be subscribed on the wire (have a `subscribe`,
   * `onPresence` or `onEvent` listener), or the server refuses it (`not_subscribed`). Resolves
   * when the server accepted it; delivery is best-effort (a slow receiver may drop events).
   */
  emit(data) {
    if (data === void 0) {
      return Promise.reject(new TypeError("emit(data): data must be a JSON value"));
    }
    return this.host._emit(this.name, data);
  }
  /** Asks the server for the member list now (needs an open connection); also updates {@link presence}. */
  fetchPresence(options = {}) {
    return this.host._fetchPresence(this.name, options.signal);
  }
  // ---- driven by the client -------------------------------------------------------------
  /** @internal Someone listens: the channel should be subscribed on the wire. */
  get _wanted() {
    return this.listeners.size > 0 || this.presenceListeners.size > 0 || this.eventListeners.size > 0 || this.watchers.size > 0 || this.holds > 0;
  }
  /** @internal Keeps the channel subscribed (an update in progress); returns the release. */
  _hold() {
    this.holds++;
    this.host._interestChanged(this);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      this.host._interestChanged(this);
    };
  }
  /**
   * @internal Resolves once `done(position)` holds (checked now and after each snapshot, delta or change of the pending
   * publishes), or when `timeoutMs` (if given) has passed on the client's clock.
   */
  _waitForPosition(done, signal, timeoutMs) {
    if (done(this.position)) return Promise.resolve();
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    return new Promise((resolve, reject) => {
      const clock = this.host._clock();
      const onAbort = () => finish(abortReason(signal));
      const waiter = {
        check: () => {
          if (done(this.position)) finish(void 0);
        },
        fail: (error) => finish(error)
      };
      const timer = timeoutMs === void 0 ? void 0 : clock.setTimeout(() => finish(void 0), timeoutMs);
      const finish = (error) => {
        if (!this.positionWaiters.delete(waiter)) return;
        if (timer !== void 0) clock.clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (error === void 0) resolve();
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
  _watchPosition(listener) {
    const watcher = { check: () => listener(this.position), fail: () => void 0 };
    this.positionWaiters.add(watcher);
    return () => void this.positionWaiters.delete(watcher);
  }
  /** @internal The server accepted a publish of this client whose delta has not reached the confirmed state yet. */
  get _ownWriteUnconfirmed() {
    for (const op of this.pendingOps.values()) if (op.ackOffset !== void 0) return true;
    return false;
  }
  /** @internal Another user is among the channel's members (a possible other writer). */
  get _othersPresent() {
    const me = this.host.user;
    return this.members.some((u) => u !== me);
  }
  /** @internal The client's clock. */
  _clock() {
    return this.host._clock();
  }
  /** @internal Whether the last applied delta is this client's own publish (false after a snapshot). */
  get _lastWriteOwn() {
    return this.lastWriteOwn;
  }
  /** @internal How long another writer took to write after this client's own delta (a decaying maximum, ms). */
  get _otherGap() {
    return this.otherGap;
  }
  /** @internal How many deltas of other writers this channel applied (deltas not confirming a publish of this client). */
  get _foreignWrites() {
    return this.foreignWrites;
  }
  /** @internal An update's conditional publish, with the handle that can withdraw it. */
  _publishAttempt(patch, position, signal, handle) {
    return this.host._publish(this.name, patch, { key: void 0, if: { epoch: position.epoch, offset: position.offset }, signal, handle });
  }
  /** @internal A publish of this channel was made (queued or sent). */
  _pendingAdded(seq, patch, key, condition) {
    this.pendingOps.set(seq, { patch, key, if: condition });
    this.refresh(false);
  }
  /** @internal The server accepted it at `offset`: it stays until the confirmed state has it (no flicker). */
  _pendingAcked(seq, offset) {
    const op = this.pendingOps.get(seq);
    if (op === void 0) return;
    const position = this.position;
    if (!this._wanted || this._wire === "none" || position !== void 0 && position.offset >= offset) {
      this.pendingOps.delete(seq);
      this.refresh(false);
      return;
    }
    op.ackOffset = offset;
    if (position !== void 0) op.ackEpoch = position.epoch;
  }
  /** @internal No delta will confirm the accepted publishes (unsubscribed, or the subscribe was refused): drop them. */
  _dropAccepted() {
    let changed = false;
    for (const [seq, op] of this.pendingOps) {
      if (op.ackOffset !== void 0) changed = this.pendingOps.delete(seq) || changed;
    }
    if (changed) this.refresh(false);
  }
  /** @internal Refused, aborted before it was sent, or the client closed: the overlay goes (a rollback). */
  _pendingDropped(seq) {
    if (this.pendingOps.delete(seq)) this.refresh(false);
  }
  /** @internal The client closed: updates waiting for a position give up. */
  _onClientClosed() {
    for (const waiter of [...this.positionWaiters]) waiter.fail(new LifelineClosedError());
  }
  /** @internal The server refused the subscribe: no snapshot or delta will come on this connection, so updates waiting for one fail with `error`. */
  _onSubscribeRefused(error) {
    for (const waiter of [...this.positionWaiters]) waiter.fail(error);
  }
  /** @internal What persistence keeps: the confirmed state, its position, the pending publishes with their keys. */
  _keep() {
    const pending = [...this.pendingOps.values()].filter((op) => op.key !== void 0).map((op) => ({ key: op.key, patch: op.patch, ...op.if === void 0 ? {} : { if: op.if } }));
    const position = this.position;
    return {
      channel: this.name,
      ...position === void 0 ? {} : { epoch: position.epoch, offset: position.offset },
      state: this.confirmedState,
      pending
    };
  }
  /** @internal Starts from what was kept (before the first snapshot): not synced; a subscribe resumes from it. */
  _restore(kept) {
    if (this.position !== void 0) return;
    if (kept.epoch !== void 0 && kept.offset !== void 0) this.position = { epoch: kept.epoch, offset: kept.offset };
    this.confirmedState = deepFreeze(kept.state);
    this.refresh(true);
  }
  /** @internal */
  get _position() {
    return this.position;
  }
  /** @internal */
  _onSubscribed(message) {
    this._wire = "subscribed";
    this._resyncing = false;
    if (message.recovered && this.position !== void 0 && this.position.epoch === message.epoch) {
      this._awaitingSnapshot = false;
    } else {
      this._awaitingSnapshot = true;
    }
  }
  /** @internal A snapshot is authoritative: it replaces the state and position. */
  _onSnapshot(message) {
    this._awaitingSnapshot = false;
    this._resyncing = false;
    this.position = { epoch: message.epoch, offset: message.offset };
    this.lastWriteOwn = false;
    this.setConfirmed(deepFreeze(message.state));
  }
  /** @internal Applies a delta in order; returns what was done with it. */
  _onDelta(message) {
    const verdict = this._awaitingSnapshot ? "unsynced" : deltaVerdict(this.position, message.offset);
    if (verdict === "apply" && this.position !== void 0) {
      const epoch = this.position.epoch;
      let own = false;
      for (const op of this.pendingOps.values()) {
        if (op.ackOffset === message.offset && (op.ackEpoch === void 0 || op.ackEpoch === epoch)) own = true;
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
      this.setConfirmed(applyMergePatch(this.confirmedState, message.patch));
    }
    return verdict;
  }
  /** @internal */
  _onPresenceEvent(message) {
    let next = this.members;
    if (message.event === "join" && !next.includes(message.user)) {
      next = Object.freeze([...next, message.user]);
    } else if (message.event === "leave" && next.includes(message.user)) {
      next = Object.freeze(next.filter((u) => u !== message.user));
    }
    this.members = next;
    const event = {
      event: message.event,
      user: message.user,
      ...message.reason === void 0 ? {} : { reason: message.reason },
      ...message.ts === void 0 ? {} : { ts: message.ts },
      members: next
    };
    this.emitPresence(event);
  }
  /** @internal */
  _onEvent(message) {
    const event = Object.freeze({
      channel: message.channel,
      user: typeof message.user === "string" ? message.user : null,
      data: deepFreeze(message.data),
      ...message.ts === void 0 ? {} : { ts: message.ts }
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
  _onPresenceMembers(members) {
    const same = members.length === this.members.length && members.every((u, i) => u === this.members[i]);
    if (!same) {
      this.members = Object.freeze([...new Set(members)]);
    }
    this.emitPresence({ event: "sync", members: this.members });
  }
  /** @internal The connection dropped: nothing is subscribed on the wire anymore. */
  _onDisconnected() {
    this._wire = "none";
    this._awaitingSnapshot = false;
    this._resyncing = false;
  }
  /** A snapshot or delta was applied: drop the pending publishes it confirms, rebase the rest, tell the listeners. */
  setConfirmed(next) {
    this.confirmedState = next;
    const position = this.position;
    for (const [seq, op] of this.pendingOps) {
      if (op.ackOffset === void 0 || position === void 0) continue;
      op.ackEpoch ?? (op.ackEpoch = position.epoch);
      if (position.epoch !== op.ackEpoch || position.offset >= op.ackOffset) this.pendingOps.delete(seq);
    }
    this.refresh(!this.optimistic);
  }
  /** Recomputes the visible state; listeners hear of it when it changed (or `always`). */
  refresh(always) {
    let next = this.confirmedState;
    if (this.optimistic) {
      for (const op of this.pendingOps.values()) next = applyMergePatch(next, op.patch);
      next = shareStructure(this.current, next);
    }
    if (next === this.current && !always) {
      this.notifyWatchers();
      this.checkWaiters();
      return;
    }
    const previous = this.current;
    this.current = next;
    const state = next;
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
  checkWaiters() {
    if (this.positionWaiters.size === 0) return;
    for (const waiter of [...this.positionWaiters]) waiter.check();
  }
  notifyWatchers() {
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
  emitPresence(event) {
    for (const entry of [...this.presenceListeners]) {
      if (!entry.active) continue;
      try {
        entry.fn(event);
      } catch (e) {
        this.host._reportHandlerError(`channel "${this.name}" presence`, e);
      }
    }
  }
};
function checkPosition(value) {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "if must be an object {epoch, offset}";
  const { epoch, offset } = value;
  if (typeof epoch !== "string") return "if.epoch must be a string";
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) return "if.offset must be a non-negative integer below 2^53";
  return void 0;
}

// src/clock.ts
var systemClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle)
};

// src/closeCodes.ts
var TABLE = [
  { code: 1e3, name: "normal", shouldReconnect: false, reconnectImmediately: false },
  { code: 1001, name: "going_away", shouldReconnect: true, reconnectImmediately: false },
  { code: 1002, name: "protocol_error", shouldReconnect: false, reconnectImmediately: false },
  { code: 1003, name: "binary_not_supported", shouldReconnect: false, reconnectImmediately: false },
  { code: 1006, name: "connection_lost", shouldReconnect: true, reconnectImmediately: false },
  { code: 1007, name: "invalid_payload", shouldReconnect: false, reconnectImmediately: false },
  { code: 1008, name: "policy_violation", shouldReconnect: false, reconnectImmediately: false },
  { code: 1009, name: "message_too_big", shouldReconnect: false, reconnectImmediately: false },
  { code: 1011, name: "internal_error", shouldReconnect: true, reconnectImmediately: false },
  { code: 1013, name: "try_again_later", shouldReconnect: true, reconnectImmediately: false },
  { code: 4e3, name: "heartbeat_timeout", shouldReconnect: true, reconnectImmediately: false },
  { code: 4001, name: "unauthorized", shouldReconnect: false, reconnectImmediately: false },
  { code: 4002, name: "token_expired", shouldReconnect: true, reconnectImmediately: true }
];
var CloseCodes = {
  Normal: 1e3,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  InternalError: 1011,
  TryAgainLater: 1013,
  HeartbeatTimeout: 4e3,
  Unauthorized: 4001,
  TokenExpired: 4002
};
function closeCodeInfo(code) {
  for (const row of TABLE) {
    if (row.code === code) {
      return row;
    }
  }
  const retry = code >= 1011 && code <= 1014 || code >= 4e3 && code <= 4099 && code !== 4001;
  return { code, name: "unknown", shouldReconnect: retry, reconnectImmediately: false };
}
var RETRY_AFTER = /(?:^|[\s;,])retry_after_ms=(\d{1,9})(?:$|[\s;,])/;
function parseRetryAfterMs(reason) {
  const match = RETRY_AFTER.exec(reason);
  return match?.[1] === void 0 ? void 0 : Number(match[1]);
}

// src/options.ts
var DEFAULT_TRANSPORTS = Object.freeze(["websocket", "http-stream", "http-poll"]);
var DEFAULT_TRANSPORT_PROBE_INTERVAL_MS = 3e5;
var DEFAULT_PROBE_TIMEOUT_MS = 5e3;
var DEFAULT_WATCHDOG_SLACK_MS = 2e3;
var DEFAULT_CONNECT_TIMEOUT_MS = 15e3;
var DEFAULT_OFFLINE_QUEUE_LIMIT = 1e3;
var TOKEN_REFRESH_FRACTION = 0.8;
var TOKEN_REFRESH_MARGIN_MS = 3e4;
function refreshDelayMs(lifetimeMs) {
  const atFraction = lifetimeMs * TOKEN_REFRESH_FRACTION;
  return Math.max(0, Math.max(Math.min(atFraction, lifetimeMs - TOKEN_REFRESH_MARGIN_MS), Math.min(atFraction, TOKEN_REFRESH_MARGIN_MS)));
}
var CLOSE_AFTER_ERROR_MS = 1e3;
var MAX_KEY_LENGTH = 128;

// src/connection.ts
function newConnection(seq, controller, transport, now) {
  return {
    seq,
    controller,
    transport,
    socket: void 0,
    opened: false,
    welcomed: false,
    lastReceivedAt: now,
    watchdogLimitMs: 0,
    connectTimer: void 0,
    watchdogTimer: void 0,
    errorTimer: void 0,
    awaitingToken: false,
    token: void 0,
    tokenExpiresAt: void 0,
    refreshAt: void 0,
    refreshTimer: void 0,
    refreshFailures: 0,
    refreshSeq: 0,
    probeTimeoutMs: DEFAULT_PROBE_TIMEOUT_MS,
    probeN: 0,
    probeTimer: void 0
  };
}
var ABANDON_CODE = 4e3;
function releaseConnection(conn, clock, reason, code = ABANDON_CODE) {
  for (const timer of [conn.connectTimer, conn.watchdogTimer, conn.errorTimer, conn.refreshTimer, conn.probeTimer]) {
    if (timer !== void 0) clock.clearTimeout(timer);
  }
  conn.connectTimer = conn.watchdogTimer = conn.errorTimer = conn.refreshTimer = conn.probeTimer = void 0;
  conn.refreshSeq++;
  const socket = conn.socket;
  if (socket !== void 0) {
    socket.onopen = socket.onmessage = socket.onerror = null;
    socket.onclose = null;
    if (socket.readyState < 2) {
      try {
        socket.close(code, reason.slice(0, 100));
      } catch {
      }
    }
  }
  conn.controller.abort(new LifelineDisconnectedError(`the connection dropped (${reason})`));
}

// src/util.ts
function addEntry(set, fn) {
  if (typeof fn !== "function") throw new TypeError("listener must be a function");
  const entry = { fn, active: true };
  set.add(entry);
  return () => {
    entry.active = false;
    set.delete(entry);
  };
}
function makeKeyPrefix(random) {
  const bytes = new Uint8Array(9);
  const cryptoApi = globalThis.crypto;
  if (random === void 0 && cryptoApi?.getRandomValues !== void 0) {
    cryptoApi.getRandomValues(bytes);
  } else {
    const r = random ?? Math.random;
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256) & 255;
  }
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
function errorText(e) {
  return e instanceof Error ? e.message : String(e);
}
function nonNegative(name, value) {
  if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`${name} must be a non-negative number, got ${value}`);
  return value;
}
function positive(name, value) {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

// src/events.ts
var ClientEvents = class {
  constructor(clock, errorOption) {
    this.clock = clock;
    this.errorOption = errorOption;
    this.stateListeners = /* @__PURE__ */ new Set();
    this.errorListeners = /* @__PURE__ */ new Set();
    this.messageListeners = /* @__PURE__ */ new Set();
  }
  onStateChange(listener) {
    return addEntry(this.stateListeners, listener);
  }
  onError(listener) {
    return addEntry(this.errorListeners, listener);
  }
  onMessage(listener) {
    return addEntry(this.messageListeners, listener);
  }
  stateChanged(from, to, info) {
    const change = Object.freeze({
      from,
      to,
      reason: info.reason ?? to,
      ...info.code === void 0 ? {} : { code: info.code },
      ...info.initiator === void 0 ? {} : { initiator: info.initiator },
      ...info.retryInMs === void 0 ? {} : { retryInMs: info.retryInMs },
      ...info.error === void 0 ? {} : { error: info.error },
      ...info.transport === void 0 ? {} : { transport: info.transport },
      ts: this.clock.now()
    });
    this.emit(this.stateListeners, change, "state change");
  }
  userMessage(message) {
    this.emit(this.messageListeners, message, "message");
  }
  /** Calls each listener registered now (and still registered); one that throws is reported as a handler error. */
  emit(listeners, value, where) {
    for (const entry of [...listeners]) {
      if (!entry.active) continue;
      try {
        entry.fn(value);
      } catch (e) {
        this.report(new LifelineHandlerError(where, e));
      }
    }
  }
  report(error) {
    let delivered = false;
    if (this.errorOption !== void 0) {
      delivered = true;
      try {
        this.errorOption(error);
      } catch {
      }
    }
    for (const entry of [...this.errorListeners]) {
      if (!entry.active) continue;
      delivered = true;
      try {
        entry.fn(error);
      } catch {
      }
    }
    if (!delivered) {
      console.error("[lifeline]", error);
    }
  }
};

// src/liveness.ts
var Liveness = class {
  constructor(host, networkEvents, ladder, openWebSocket, probeIntervalMs, connectTimeoutMs) {
    this.host = host;
    this.networkEvents = networkEvents;
    this.ladder = ladder;
    this.openWebSocket = openWebSocket;
    this.probeIntervalMs = probeIntervalMs;
    this.connectTimeoutMs = connectTimeoutMs;
    /** The browser said `offline` and not `online` since: failed attempts say nothing about the transport. */
    this.isOffline = false;
    this.pingSeq = 0;
  }
  /** The browser said `offline` and not `online` since. */
  get offline() {
    return this.isOffline;
  }
  // ---- network awareness ----------------------------------------------------------------
  attachNetwork() {
    if (this.networkEvents === null || this.detachNetwork !== void 0) return;
    try {
      this.detachNetwork = this.networkEvents.subscribe({
        offline: () => this.onNetworkOffline(),
        online: () => this.onNetworkOnline(),
        wake: () => this.onWake()
      });
    } catch (e) {
      this.host.report(new LifelineError("internal_error", `attaching the network listeners failed: ${errorText(e)}`, { cause: e }));
    }
  }
  detachNetworkEvents() {
    const detach = this.detachNetwork;
    this.detachNetwork = void 0;
    this.isOffline = false;
    try {
      detach?.();
    } catch {
    }
  }
  /** `offline`: the socket cannot be trusted; say so at once instead of waiting for the watchdog. */
  onNetworkOffline() {
    const host = this.host;
    if (host.isClosed()) return;
    this.isOffline = true;
    const conn = host.current();
    if (conn !== void 0) host.lost(conn, { reason: "offline", initiator: "network", notTransport: true });
  }
  /** `online`: an attempt at once, whatever the backoff state; a live connection is probed (the route may have changed). */
  onNetworkOnline() {
    const host = this.host;
    if (host.isClosed()) return;
    this.isOffline = false;
    host.resetRetries();
    const conn = host.current();
    if (conn === void 0) {
      host.attemptNow();
    } else if (!conn.welcomed) {
      host.lost(conn, { reason: "online", initiator: "client", immediate: true, notTransport: true });
    } else {
      this.startLivenessProbe(conn);
    }
  }
  /** The page may have slept: probe a live connection; cut a backoff wait short. */
  onWake() {
    const host = this.host;
    if (host.isClosed()) return;
    const conn = host.current();
    if (conn === void 0) {
      if (!this.isOffline) host.attemptNow();
    } else if (conn.welcomed) {
      this.startLivenessProbe(conn);
    }
  }
  // ---- liveness probe -------------------------------------------------------------------
  /** A client `ping`: no `pong` with the same `n` within the heartbeat timeout means the connection is dead. */
  startLivenessProbe(conn) {
    const host = this.host;
    if (conn !== host.current() || conn.probeTimer !== void 0) return;
    const n = ++this.pingSeq;
    conn.probeN = n;
    if (!host.send(conn, { type: "ping", n })) return;
    conn.probeTimer = host.clock.setTimeout(() => {
      conn.probeTimer = void 0;
      if (conn !== host.current()) return;
      host.lost(conn, { reason: "probe_timeout", initiator: "client", immediate: true, notTransport: true });
    }, conn.probeTimeoutMs);
  }
  /** A `pong`: the probe with the same `n` is answered. */
  pong(conn, n) {
    if (conn.probeTimer !== void 0 && n === conn.probeN) {
      this.host.clock.clearTimeout(conn.probeTimer);
      conn.probeTimer = void 0;
    }
  }
  // ---- transport probe ------------------------------------------------------------------
  /** On an HTTP transport, tries the WebSocket again in the background every `transportProbeIntervalMs`. */
  armProbe(conn) {
    this.stopProbe();
    if (!this.ladder.probes) return;
    this.probeTimer = this.host.clock.setTimeout(() => this.probe(conn), this.probeIntervalMs);
  }
  probe(conn) {
    const host = this.host;
    this.probeTimer = void 0;
    if (conn !== host.current() || !host.isOpen()) return;
    let socket;
    try {
      socket = this.openWebSocket();
    } catch {
      this.armProbe(conn);
      return;
    }
    this.probeSocket = socket;
    const give = () => {
      if (this.probeSocket !== socket) return;
      this.stopProbe();
      this.armProbe(conn);
    };
    socket.onmessage = null;
    socket.onerror = give;
    socket.onclose = give;
    socket.onopen = () => {
      if (this.probeSocket !== socket) return;
      this.stopProbe();
      if (conn !== host.current()) return;
      this.ladder.switchTo("websocket");
      host.lost(conn, { reason: "transport_switch", initiator: "client", immediate: true });
    };
    this.probeTimer = host.clock.setTimeout(give, this.connectTimeoutMs);
  }
  stopProbe() {
    if (this.probeTimer !== void 0) {
      this.host.clock.clearTimeout(this.probeTimer);
      this.probeTimer = void 0;
    }
    const socket = this.probeSocket;
    this.probeSocket = void 0;
    if (socket !== void 0) {
      socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
      try {
        socket.close(1e3, "probe");
      } catch {
      }
    }
  }
};

// src/protocol.ts
var PROTOCOL_VERSION = 1;
function parseFrame(frame) {
  const out = [];
  for (const line of frame.split("\n")) {
    const text = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (text.trim().length === 0) {
      continue;
    }
    out.push(parseLine(text));
  }
  return out;
}
function parseLine(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `not JSON: ${e instanceof Error ? e.message : String(e)}`, raw: text };
  }
  if (!isJsonObject(value)) {
    return { ok: false, error: "a message must be a JSON object", raw: text };
  }
  const error = validate(value);
  if (error !== void 0) {
    return { ok: false, error, raw: text };
  }
  if (!KNOWN_TYPES.has(value["type"])) {
    return { ok: true, message: { type: "other", originalType: value["type"] } };
  }
  return { ok: true, message: value };
}
var KNOWN_TYPES = /* @__PURE__ */ new Set(["welcome", "ping", "pong", "subscribed", "snapshot", "delta", "presence", "event", "message", "reply", "error"]);
function validate(m) {
  const type = m["type"];
  if (typeof type !== "string") {
    return "message.type must be a string";
  }
  switch (type) {
    case "welcome":
      return str(m, "session") ?? optStr(m, "connection") ?? (m["user"] === void 0 || m["user"] === null || typeof m["user"] === "string" ? void 0 : "welcome.user must be a string or null") ?? optBool(m, "resumed") ?? heartbeat(m["heartbeat"]) ?? optDuration(m, "tokenExpiresInMs");
    case "ping":
    case "pong":
      return typeof m["n"] === "number" && Number.isFinite(m["n"]) ? void 0 : `${type}.n must be a number`;
    case "subscribed":
      return int(m, "id") ?? str(m, "channel") ?? str(m, "epoch") ?? int(m, "offset") ?? bool(m, "recovered");
    case "snapshot":
      return str(m, "channel") ?? str(m, "epoch") ?? int(m, "offset") ?? obj(m, "state");
    case "delta":
      return str(m, "channel") ?? int(m, "offset") ?? obj(m, "patch");
    case "presence":
      return str(m, "channel") ?? (m["event"] === "join" || m["event"] === "leave" ? void 0 : "presence.event must be join or leave") ?? str(m, "user") ?? optStr(m, "reason");
    case "event":
      return str(m, "channel") ?? (m["user"] === void 0 || m["user"] === null || typeof m["user"] === "string" ? void 0 : "event.user must be a string or null") ?? (m["data"] === void 0 ? "event.data is missing" : void 0) ?? optDuration(m, "ts");
    case "message":
      return (m["data"] === void 0 ? "message.data is missing" : void 0) ?? optDuration(m, "ts");
    case "reply": {
      const e = int(m, "id") ?? bool(m, "ok");
      if (e !== void 0) return e;
      if (m["offset"] !== void 0 && int(m, "offset") !== void 0) return "reply.offset must be an offset";
      const expires = optDuration(m, "tokenExpiresInMs");
      if (expires !== void 0) return expires;
      const members = m["members"];
      if (members !== void 0 && !(Array.isArray(members) && members.every((u) => typeof u === "string"))) {
        return "reply.members must be an array of strings";
      }
      if (m["ok"] === false) {
        const err = m["error"];
        if (!isJsonObject(err) || typeof err["code"] !== "string") return "reply.error.code must be a string";
      }
      return void 0;
    }
    case "error":
      return (m["id"] === void 0 ? void 0 : int(m, "id")) ?? str(m, "code") ?? optStr(m, "message");
    default:
      return void 0;
  }
}
function heartbeat(value) {
  if (!isJsonObject(value)) return "welcome.heartbeat must be an object";
  for (const key of ["intervalMs", "timeoutMs"]) {
    const v = value[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) return `welcome.heartbeat.${key} must be a non-negative number`;
  }
  return void 0;
}
function str(m, key) {
  return typeof m[key] === "string" ? void 0 : `${String(m["type"])}.${key} must be a string`;
}
function optStr(m, key) {
  return m[key] === void 0 ? void 0 : str(m, key);
}
function bool(m, key) {
  return typeof m[key] === "boolean" ? void 0 : `${String(m["type"])}.${key} must be a boolean`;
}
function optBool(m, key) {
  return m[key] === void 0 ? void 0 : bool(m, key);
}
function int(m, key) {
  const v = m[key];
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? void 0 : `${String(m["type"])}.${key} must be a non-negative integer below 2^53`;
}
function optDuration(m, key) {
  const v = m[key];
  return v === void 0 || typeof v === "number" && Number.isFinite(v) && v >= 0 ? void 0 : `${String(m["type"])}.${key} must be a non-negative number of milliseconds`;
}
function obj(m, key) {
  return isJsonObject(m[key]) ? void 0 : `${String(m["type"])}.${key} must be an object`;
}

// src/requests.ts
var Requests = class {
  constructor(host, channels, offlineQueueLimit, keyPrefix) {
    this.host = host;
    this.channels = channels;
    this.offlineQueueLimit = offlineQueueLimit;
    this.keyPrefix = keyPrefix;
    this.pending = /* @__PURE__ */ new Map();
    this.nextId = 1;
    this.outbox = /* @__PURE__ */ new Map();
    /** Subscribe requests sent per channel name (see `PublishRecord.subscribesAtSend`). */
    this.subscribeCounts = /* @__PURE__ */ new Map();
    this.publishSeq = 0;
    this.keyCounter = 0;
    this.dirty = /* @__PURE__ */ new Set();
    this.reconcileQueued = false;
  }
  /** Publishes waiting for the server's reply (queued offline or in flight). */
  get pendingPublishes() {
    return this.outbox.size;
  }
  // ---- replies --------------------------------------------------------------------------
  onReply(message) {
    const entry = this.takePending(message.id);
    if (entry === void 0) return;
    if (entry.kind === "publish" && entry.record.withdrawn) {
      if (message.ok) {
        this.host.report(new LifelineProtocolError("a withdrawn conditional publish was applied: the reply came after a later delta", JSON.stringify(message)));
      }
      return;
    }
    if (!message.ok) {
      const err = message.error;
      if (err?.code === "conflict") {
        const position = typeof err.epoch === "string" && typeof err.offset === "number" ? { epoch: err.epoch, offset: err.offset } : void 0;
        this.failRequest(entry, new LifelineConflictError(err.message ?? "conflict", position));
        return;
      }
      this.failRequest(entry, new LifelineRequestError(err?.code ?? "unknown", err?.message ?? "request refused"));
      return;
    }
    if (entry.kind === "publish") {
      this.outbox.delete(entry.record.seq);
      if (typeof message.offset === "number") {
        this.channels.get(entry.record.channel)?._pendingAcked(entry.record.seq, message.offset);
        entry.record.resolve(message.offset);
      } else {
        entry.record.reject(new LifelineProtocolError("publish reply without offset", JSON.stringify(message)));
      }
      return;
    }
    entry.onReply(message);
  }
  onSubscribed(message) {
    const entry = this.takePending(message.id);
    if (entry !== void 0 && entry.kind !== "publish") {
      entry.onReply(message);
    }
  }
  /** An `error` message: it fails its request, or is reported when it answers none. */
  onError(message) {
    const error = new LifelineRequestError(message.code, message.message);
    const entry = message.id === void 0 ? void 0 : this.takePending(message.id);
    if (entry === void 0) {
      this.host.report(error);
    } else {
      this.failRequest(entry, error);
    }
  }
  takePending(id) {
    const entry = this.pending.get(id);
    if (entry !== void 0) this.pending.delete(id);
    return entry;
  }
  failRequest(entry, error) {
    if (entry.kind === "publish") {
      this.outbox.delete(entry.record.seq);
      this.channels.get(entry.record.channel)?._pendingDropped(entry.record.seq);
      entry.record.reject(error);
    } else {
      entry.onFail(error);
    }
  }
  /** Fails the requests waiting on the connection; publishes stay in the outbox to be re-sent. */
  failPending(error) {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const entry of entries) {
      if (entry.kind !== "publish") entry.onFail(error);
    }
  }
  /** The client closed: every request fails with `error`, and so does every queued publish. */
  close(error) {
    this.failPending(error);
    const queued = [...this.outbox.values()];
    this.outbox.clear();
    for (const record of queued) {
      this.channels.get(record.channel)?._pendingDropped(record.seq);
      record.reject(error);
    }
  }
  // ---- sending --------------------------------------------------------------------------
  /**
   * PROTOCOL.md "Reconnection", after a welcome: resubscribes every channel from its position, then flushes the
   * publishes queued offline in order, with their keys. False when the connection `live` names ended meanwhile.
   */
  resume(live) {
    for (const channel of this.channels.values()) {
      if (!live()) return false;
      if (channel._wanted && channel._wire === "none") this.subscribe(channel);
    }
    for (const record of [...this.outbox.values()]) {
      if (!live()) return false;
      this.sendPublish(record);
    }
    return live();
  }
  request(entry, message) {
    const conn = this.host.current();
    if (conn === void 0) return;
    const id = this.nextId++;
    this.pending.set(id, entry);
    this.host.send(conn, { ...message, id });
  }
  /** Subscribes `channel` on the wire, from its position when it has one. */
  subscribe(channel) {
    const since = channel._position;
    channel._wire = "subscribing";
    this.subscribeCounts.set(channel.name, (this.subscribeCounts.get(channel.name) ?? 0) + 1);
    this.request(
      {
        kind: "subscribe",
        channel: channel.name,
        onReply: (message) => {
          if (message.type === "subscribed") channel._onSubscribed(message);
          else channel._wire = "subscribed";
          this.requestPresence(channel, void 0);
          this.reconcile(channel);
        },
        onFail: (error) => {
          channel._wire = "none";
          channel._resyncing = false;
          if (!(error instanceof LifelineDisconnectedError) && !(error instanceof LifelineClosedError)) {
            const refused = new LifelineRequestError(error.code, `subscribe to "${channel.name}" refused: ${error.message}`);
            channel._dropAccepted();
            channel._onSubscribeRefused(refused);
            this.host.report(refused);
          }
        }
      },
      { type: "subscribe", channel: channel.name, ...since === void 0 ? {} : { since: { epoch: since.epoch, offset: since.offset } } }
    );
  }
  unsubscribe(channel) {
    channel._wire = "unsubscribing";
    const done = () => {
      channel._wire = "none";
      channel._dropAccepted();
      this.reconcile(channel);
    };
    this.request({ kind: "unsubscribe", channel: channel.name, onReply: done, onFail: (e) => e instanceof LifelineRequestError ? done() : void 0 }, {
      type: "unsubscribe",
      channel: channel.name
    });
  }
  requestPresence(channel, callbacks) {
    this.request(
      {
        kind: "presence",
        channel: channel.name,
        onReply: (message) => {
          const members = message.type === "reply" && message.members !== void 0 ? message.members : [];
          channel._onPresenceMembers(members);
          callbacks?.resolve(channel.presence);
        },
        onFail: (error) => {
          if (callbacks !== void 0) callbacks.reject(error);
          else if (error instanceof LifelineRequestError) this.host.report(error);
        }
      },
      { type: "presence", channel: channel.name }
    );
  }
  /** Sends `refresh` with a new token; the expiry the reply names, or the failure, comes back. */
  refresh(token, onReply, onFail) {
    this.request(
      { kind: "refresh", channel: "", onReply: (message) => onReply(message.type === "reply" ? message.tokenExpiresInMs : void 0), onFail },
      { type: "refresh", token }
    );
  }
  sendPublish(record) {
    record.sent = true;
    record.sends++;
    record.sentOn = this.host.current();
    record.subscribesAtSend = this.subscribeCounts.get(record.channel) ?? 0;
    this.request(
      { kind: "publish", record },
      { type: "publish", channel: record.channel, key: record.key, patch: record.patch, ...record.if === void 0 ? {} : { if: record.if } }
    );
  }
  /** Brings a channel's wire subscription in line with its listeners. */
  reconcile(channel) {
    if (!this.host.isOpen()) return;
    if (channel._wanted && channel._wire === "none") {
      this.subscribe(channel);
    } else if (!channel._wanted && channel._wire === "subscribed") {
      this.unsubscribe(channel);
    }
  }
  // ---- what the channels ask for (ChannelHost) ------------------------------------------
  interestChanged(channel) {
    this.dirty.add(channel);
    if (this.reconcileQueued) return;
    this.reconcileQueued = true;
    queueMicrotask(() => {
      this.reconcileQueued = false;
      const channels = [...this.dirty];
      this.dirty.clear();
      for (const c of channels) this.reconcile(c);
    });
  }
  publish(channel, patch, request) {
    if (this.host.isClosed()) {
      return Promise.reject(new LifelineClosedError());
    }
    const signal = request.signal;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    const finalKey = request.key ?? this.nextKey();
    if (typeof finalKey !== "string" || finalKey.length === 0 || finalKey.length > MAX_KEY_LENGTH) {
      return Promise.reject(new TypeError(`publish key must be a string of 1 to ${MAX_KEY_LENGTH} characters`));
    }
    let copy2;
    try {
      const parsed = JSON.parse(JSON.stringify(patch));
      if (!isJsonObject(parsed)) throw new TypeError("not an object");
      copy2 = parsed;
    } catch (e) {
      return Promise.reject(new TypeError(`publish(patch): patch is not serializable JSON: ${errorText(e)}`));
    }
    if (!this.host.isOpen() && this.outbox.size >= this.offlineQueueLimit) {
      return Promise.reject(new LifelineQueueFullError(this.offlineQueueLimit));
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => this.abortPublish(record, abortReason(signal));
      const done = () => signal?.removeEventListener("abort", onAbort);
      const record = {
        seq: ++this.publishSeq,
        channel,
        patch: copy2,
        key: finalKey,
        if: request.if,
        sent: false,
        sends: 0,
        sentOn: void 0,
        withdrawn: false,
        subscribesAtSend: 0,
        resolve: (offset) => {
          done();
          resolve(offset);
        },
        reject: (error) => {
          done();
          reject(error);
        }
      };
      this.outbox.set(record.seq, record);
      if (request.handle !== void 0 && record.if !== void 0) request.handle.withdraw = () => this.withdraw(record);
      this.host.channel(channel)._pendingAdded(record.seq, copy2, record.key, record.if);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (this.host.isOpen()) this.sendPublish(record);
    });
  }
  /**
   * A publish's signal aborted: one never sent leaves the queue (and its overlay); one already sent may have been
   * applied, so it stays for the resend (its key makes that exactly-once) and only its caller stops waiting.
   */
  abortPublish(record, reason) {
    if (!this.outbox.has(record.seq)) return;
    if (!record.sent) {
      this.outbox.delete(record.seq);
      this.channels.get(record.channel)?._pendingDropped(record.seq);
    }
    record.reject(reason);
  }
  /**
   * An update saw its channel pass the `if` of this conditional publish before the reply. PROTOCOL.md: a publish's reply
   * comes before the delta it caused, on the connection it was sent on; so a later position seen on that connection
   * before the reply means it was not applied, and can no longer be (its `if` is in the past). Only then is it
   * withdrawn: never when it was sent on an earlier connection too (the gap's deltas after a resume may include its
   * own effect, while the resend's reply only follows them), nor when the channel was subscribed again since it was
   * sent (a resync after a hole: its answer comes from history).
   */
  withdraw(record) {
    if (!this.outbox.has(record.seq) || record.if === void 0) return false;
    if (record.sent && (record.sends !== 1 || record.sentOn === void 0 || record.sentOn !== this.host.current())) return false;
    if (record.sent && record.subscribesAtSend !== (this.subscribeCounts.get(record.channel) ?? 0)) return false;
    this.outbox.delete(record.seq);
    record.withdrawn = true;
    this.channels.get(record.channel)?._pendingDropped(record.seq);
    record.reject(new WithdrawnPublishError());
    return true;
  }
  fetchPresence(channel, signal) {
    if (this.host.isClosed()) return Promise.reject(new LifelineClosedError());
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    if (!this.host.isOpen()) return Promise.reject(new LifelineDisconnectedError("not connected"));
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = () => {
        if (settled) return false;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        return true;
      };
      const onAbort = () => {
        if (settle()) reject(abortReason(signal));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.requestPresence(this.host.channel(channel), {
        resolve: (members) => {
          if (settle()) resolve(members);
        },
        reject: (error) => {
          if (settle()) reject(error);
        }
      });
    });
  }
  /** Events are now or never: never queued while disconnected. */
  emit(channel, data) {
    if (this.host.isClosed()) return Promise.reject(new LifelineClosedError());
    if (!this.host.isOpen()) return Promise.reject(new LifelineDisconnectedError("not connected: events are not queued"));
    let copy2;
    try {
      copy2 = JSON.parse(JSON.stringify(data));
    } catch (e) {
      return Promise.reject(new TypeError(`emit(data): data is not serializable JSON: ${errorText(e)}`));
    }
    return new Promise((resolve, reject) => {
      this.request({ kind: "emit", channel, onReply: () => resolve(), onFail: reject }, { type: "emit", channel, data: copy2 });
    });
  }
  nextKey() {
    this.keyCounter++;
    return `${this.keyPrefix}-${this.keyCounter.toString(36)}`;
  }
};

// src/reconnect.ts
var ReconnectSchedule = class {
  constructor(policy, clock, report) {
    this.policy = policy;
    this.clock = clock;
    this.report = report;
    this.retryCount = 0;
    /** The one immediate attempt after a 4002 was made since the last welcome. */
    this.immediateUsed = false;
  }
  /** A welcome, or `connect()` after `closed`: the next loss starts a new outage. */
  reset() {
    this.retryCount = 0;
    this.lostAt = void 0;
    this.immediateUsed = false;
  }
  /** The network is back: the next wait is the first one again. */
  resetCount() {
    this.retryCount = 0;
  }
  /** The wait before the next attempt after the loss `info` tells of; null to give up (the policy stops, or throws). */
  next(info, codeInfo) {
    const now = this.clock.now();
    this.lostAt ?? (this.lostAt = now);
    let delay;
    try {
      const context = { retryCount: this.retryCount, elapsedMs: now - this.lostAt, reason: info.reason };
      delay = this.policy.nextRetryDelayMs(info.code === void 0 ? context : { ...context, code: info.code });
    } catch (e) {
      this.report(new LifelineError("retry_policy_failed", `the retry policy threw: ${errorText(e)}`, { cause: e }));
      delay = null;
    }
    if (delay === null || !Number.isFinite(delay)) return null;
    const retryAfter = info.code === 1001 ? parseRetryAfterMs(info.reason) : void 0;
    if (codeInfo?.reconnectImmediately === true && !this.immediateUsed) {
      this.immediateUsed = true;
      return 0;
    }
    this.retryCount++;
    return Math.max(0, delay) + (retryAfter ?? 0);
  }
};

// src/retry.ts
var DEFAULT_BASE_MS = 1e3;
var DEFAULT_CAP_MS = 3e4;
function backoffWindowMs(k, baseMs, capMs) {
  return Math.min(capMs, baseMs * Math.pow(2, Math.max(0, k)));
}
function exponentialBackoff(options = {}, random = Math.random) {
  const baseMs = options.baseMs ?? DEFAULT_BASE_MS;
  const capMs = options.capMs ?? DEFAULT_CAP_MS;
  const maxAttempts = options.maxAttempts;
  if (!(Number.isFinite(baseMs) && baseMs > 0)) {
    throw new RangeError(`reconnect.baseMs must be a positive number, got ${baseMs}`);
  }
  if (!(Number.isFinite(capMs) && capMs >= baseMs)) {
    throw new RangeError(`reconnect.capMs must be a number >= baseMs, got ${capMs}`);
  }
  if (maxAttempts !== void 0 && !(Number.isInteger(maxAttempts) && maxAttempts >= 0)) {
    throw new RangeError(`reconnect.maxAttempts must be a non-negative integer, got ${maxAttempts}`);
  }
  return {
    nextRetryDelayMs(context) {
      if (maxAttempts !== void 0 && context.retryCount >= maxAttempts) {
        return null;
      }
      const window = backoffWindowMs(context.retryCount, baseMs, capMs);
      const r = random();
      const unit = r >= 0 && r < 1 ? r : 0;
      return Math.floor(unit * window);
    }
  };
}

// src/httpSocket.ts
var SEND_HEADER = "Lifeline-Send";
var MAX_BATCH_BYTES = 32 * 1024;
var HTTP_CLOSE_TIMEOUT_MS = 1e3;
function utf8Length(text) {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 128) bytes += 1;
    else if (c < 2048) bytes += 2;
    else if (c >= 55296 && c <= 56319 && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
function takeBatch(outgoing, maxBytes) {
  let count = 0;
  let bytes = 0;
  while (count < outgoing.length) {
    const next = bytes + (count > 0 ? 1 : 0) + utf8Length(outgoing[count]);
    if (count > 0 && next > maxBytes) break;
    bytes = next;
    count++;
  }
  return outgoing.splice(0, count);
}
function httpBaseUrl(wsUrl) {
  const url = new URL(wsUrl);
  if (url.protocol === "ws:") url.protocol = "http:";
  else if (url.protocol === "wss:") url.protocol = "https:";
  url.hash = "";
  url.search = "";
  return url.toString().replace(/\/$/, "");
}
function defaultFetch() {
  const f = globalThis.fetch;
  if (typeof f !== "function") throw new TypeError("no global fetch: pass options.fetch to use the HTTP transport");
  return f.bind(globalThis);
}
var HttpSocket = class {
  /**
   * @param wsUrl the server's WebSocket URL; the HTTP endpoints are derived from it.
   * @param kind `http-stream` or `http-poll`.
   * @param fetchImpl the fetch to use.
   * @param clock the timers (the bound of the close request).
   */
  constructor(wsUrl, kind, fetchImpl, clock = systemClock) {
    this.readyState = 0;
    this.onopen = null;
    this.onmessage = null;
    this.onerror = null;
    this.onclose = null;
    this.abort = new AbortController();
    this.started = false;
    this.outgoing = [];
    this.sending = false;
    /** A batch was refused with 413: this server's limit is lower, messages go one per body. */
    this.oneAtATime = false;
    this.ended = false;
    this.answered = false;
    this.streamPending = false;
    this.pendingAtClose = false;
    this.pendingText = "";
    this.base = httpBaseUrl(wsUrl);
    this.poll = kind === "http-poll";
    this.fetchImpl = fetchImpl;
    this.clock = clock;
    queueMicrotask(() => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      this.onopen?.({});
    });
  }
  /**
   * True once the stream request was answered with 200, or when it was closed while its request was still waiting for
   * an answer: the HTTP endpoint took the request (a refused connection or an error status would have answered), and
   * a buffering proxy holds what came back, the response head included (nginx with gzip does).
   */
  get responded() {
    return this.answered || this.pendingAtClose;
  }
  /** The first message (the `hello`) opens the stream; the others are sent in order once the `welcome` came. */
  send(data) {
    if (this.readyState !== 1) throw new Error("the HTTP connection is not open");
    if (!this.started) {
      this.started = true;
      void this.run(data);
      return;
    }
    this.outgoing.push(data);
    this.pump();
  }
  /**
   * Stops reading and reports the close at once. When the connection exists (the `welcome` came) the server is told
   * with `{"type":"close","code":N}` (see `tellClose`): the stream is dropped only once that request is answered, so
   * that the server sees the client's close (1000: the session ends, presence leaves at once) rather than an aborted
   * stream (1006: the session is kept for a resume, presence leaves after the grace period). What is still queued is
   * not sent. The abandon of a connection believed dead (4000) goes the same way: the close request, bounded, runs
   * beside the next attempt and never delays it.
   */
  close(code = 1e3, reason = "") {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    this.pendingAtClose = this.streamPending;
    const told = this.capability === void 0 ? void 0 : this.tellClose({ type: "close", code });
    this.finish({ code, reason }, true, told);
  }
  async run(hello) {
    try {
      this.streamPending = true;
      let response;
      try {
        response = await this.fetchImpl(`${this.base}/stream${this.poll ? "?poll=1" : ""}`, this.init(hello, {}));
      } finally {
        this.streamPending = false;
      }
      while (!this.ended) {
        if (response.status !== 200) {
          await response.text().catch(() => "");
          this.fail(response.status === 404 ? "connection_gone" : `http_${response.status}`);
          return;
        }
        this.answered = true;
        await this.readEvents(response);
        if (this.ended) return;
        if (this.closeEvent !== void 0 || !this.poll) {
          this.finish(this.closeEvent ?? { code: 1006, reason: "stream_ended" }, false);
          return;
        }
        if (this.capability === void 0) {
          this.fail("no_welcome");
          return;
        }
        response = await this.fetchImpl(`${this.base}/poll`, this.init("", { [SEND_HEADER]: this.capability }));
      }
    } catch (e) {
      if (!this.ended) this.fail(e instanceof Error ? e.message : String(e));
    }
  }
  /** Reads one response as Server-Sent Events, delivering each `data:` event as one message. */
  async readEvents(response) {
    const body = response.body;
    if (body === null) {
      this.deliverChunk(await response.text(), true);
      return;
    }
    const reader = body.getReader();
    const decoder = new TextDecoder();
    try {
      for (; ; ) {
        const { done, value } = await reader.read();
        if (this.ended) return;
        if (done) break;
        this.deliverChunk(decoder.decode(value, { stream: true }), false);
      }
      this.deliverChunk(decoder.decode(), true);
    } finally {
      reader.releaseLock();
    }
  }
  deliverChunk(text, last) {
    this.pendingText += text.replace(/\r\n?/g, "\n");
    let end;
    while ((end = this.pendingText.indexOf("\n\n")) >= 0) {
      const block = this.pendingText.slice(0, end);
      this.pendingText = this.pendingText.slice(end + 2);
      this.deliverEvent(block);
    }
    if (last) {
      if (this.pendingText.trim().length > 0) this.deliverEvent(this.pendingText);
      this.pendingText = "";
    }
  }
  deliverEvent(block) {
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("data:")) data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
    }
    if (data.length === 0 || this.ended) return;
    const text = data.join("\n");
    const control = peek(text);
    if (control?.type === "welcome" && typeof control.send === "string") {
      this.capability = control.send;
      queueMicrotask(() => this.pump());
    } else if (control?.type === "close") {
      this.closeEvent = { code: typeof control.code === "number" ? control.code : 1005, reason: typeof control.reason === "string" ? control.reason : "" };
      return;
    }
    this.onmessage?.({ data: text });
  }
  /**
   * Sends what is queued, one request at a time, as NDJSON: at most {@link MAX_BATCH_BYTES} a body (after a 413 for a
   * batch, one message a body).
   */
  pump() {
    if (this.sending || this.capability === void 0 || this.outgoing.length === 0 || this.readyState !== 1) return;
    const messages = takeBatch(this.outgoing, this.oneAtATime ? 1 : MAX_BATCH_BYTES);
    this.sending = true;
    const request = this.fetchImpl(`${this.base}/send`, this.init(messages.join("\n"), { [SEND_HEADER]: this.capability }));
    this.inFlight = request.then(
      async (response) => {
        await response.text().catch(() => "");
        this.sending = false;
        if (response.status === 204 || response.status === 200) {
          this.pump();
        } else if (response.status === 413 && messages.length === 1) {
          this.tooBig();
        } else if (response.status === 413) {
          this.outgoing.unshift(...messages);
          this.oneAtATime = true;
          this.pump();
        } else if (response.status === 404) {
          this.fail("connection_gone");
        } else {
          this.fail(`send_http_${response.status}`);
        }
      },
      (e) => {
        this.sending = false;
        this.fail(e instanceof Error ? e.message : String(e));
      }
    );
  }
  /**
   * A body of one message was answered 413: that message can never be accepted (the server's limit, or a proxy's), and
   * sending it again after a reconnect would be refused again, forever. Over a WebSocket the server closes such a
   * message with 1009 (no reconnect); here the socket does the same: it reports the close 1009 `message_too_big` at
   * once, as if the server had sent it, and tells the server with `{"type":"close","code":1009,"reason":"message_too_big"}`.
   * The stream (or the poll in flight) is dropped only once that request is answered or failed (or after
   * {@link HTTP_CLOSE_TIMEOUT_MS}), so that the server tears down with 1009 rather than seeing an aborted stream first
   * (1006).
   */
  tooBig() {
    if (this.ended || this.capability === void 0) return;
    const told = this.tellClose({ type: "close", code: 1009, reason: "message_too_big" });
    this.finish({ code: 1009, reason: "message_too_big" }, true, told);
  }
  /**
   * Sends the client's close on `POST {path}/send`, after the send request in flight (one request at a time per
   * connection), on a request of its own: the end of the connection does not abort it, {@link HTTP_CLOSE_TIMEOUT_MS}
   * does. Settles (never rejects) once it is answered, failed or timed out: then the connection's requests may go.
   */
  tellClose(message) {
    const capability = this.capability;
    const body = JSON.stringify(message);
    const bound = new AbortController();
    let timer;
    const timedOut = new Promise((resolve) => {
      timer = this.clock.setTimeout(() => {
        bound.abort();
        resolve();
      }, HTTP_CLOSE_TIMEOUT_MS);
    });
    const sent = (this.inFlight ?? Promise.resolve()).then(async () => {
      if (bound.signal.aborted) return;
      const response = await this.fetchImpl(`${this.base}/send`, this.init(body, { [SEND_HEADER]: capability }, bound.signal));
      await response.text().catch(() => "");
    }).catch(() => void 0);
    return Promise.race([sent, timedOut]).finally(() => this.clock.clearTimeout(timer));
  }
  /** The options of one request; by default one that the end of the connection aborts. */
  init(body, headers, signal = this.abort.signal) {
    const init = {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body,
      cache: "no-store",
      credentials: "same-origin",
      signal
    };
    return init;
  }
  fail(reason) {
    if (this.ended) return;
    this.onerror?.({ reason });
    this.finish({ code: 1006, reason }, false);
  }
  /** Ends the socket once: reports the close; aborts the requests in flight now, or once `abortAfter` settles. */
  finish(event, clean, abortAfter) {
    if (this.ended) return;
    this.ended = true;
    this.readyState = 3;
    if (abortAfter === void 0) this.abort.abort();
    else void abortAfter.finally(() => this.abort.abort());
    const handler = this.onclose;
    queueMicrotask(() => handler?.({ code: event.code, reason: event.reason, wasClean: clean }));
  }
};
function peek(text) {
  const head = text.slice(0, 24).replace(/\s/g, "");
  if (!head.startsWith('{"type":"welcome"') && !head.startsWith('{"type":"close"')) return void 0;
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null ? value : void 0;
  } catch {
    return void 0;
  }
}

// src/transportLadder.ts
var rememberedByUrl = /* @__PURE__ */ new Map();
var TransportLadder = class {
  constructor(url, allowed) {
    /** WebSocket attempts in a row that never opened or opened without a `welcome` in time. */
    this.strikes = 0;
    if (allowed.length === 0 || allowed.some((k) => k !== "websocket" && k !== "http-stream" && k !== "http-poll")) {
      throw new TypeError('transports must be a non-empty list of "websocket", "http-stream", "http-poll"');
    }
    this.url = url;
    this.allowed = [...new Set(allowed)];
    const remembered = rememberedByUrl.get(url);
    this.kind = remembered !== void 0 && this.allowed.includes(remembered) ? remembered : this.allowed[0];
  }
  /** The transport of the next attempt. */
  get next() {
    return this.kind;
  }
  /** True when the WebSocket is allowed and the current transport is not the WebSocket: the background probe runs. */
  get probes() {
    return this.kind !== "websocket" && this.allowed.includes("websocket");
  }
  /** An attempt on `kind` got its `welcome`: remember it. */
  welcomed(kind) {
    this.kind = kind;
    this.strikes = 0;
    rememberedByUrl.set(this.url, kind);
  }
  /** The background probe reached the WebSocket: the next attempt uses it. */
  switchTo(kind) {
    if (this.allowed.includes(kind)) this.kind = kind;
  }
  /**
   * An attempt ended before its `welcome`. Returns true when the next attempt falls back to another transport and
   * should go at once (a fallback is not a retry of the same thing).
   */
  failed(outcome) {
    if (outcome.kind === "websocket") {
      if ((!outcome.opened || outcome.reason === "connect_timeout") && ++this.strikes >= 2) return this.fallFrom("websocket");
      return false;
    }
    if (outcome.kind === "http-stream" && outcome.opened && outcome.reason === "connect_timeout") {
      return this.fallFrom("http-stream");
    }
    if (rememberedByUrl.get(this.url) !== outcome.kind) {
      this.kind = this.allowed[0];
      this.strikes = 0;
    }
    return false;
  }
  fallFrom(kind) {
    const index = this.allowed.indexOf(kind);
    const next = index >= 0 ? this.allowed[index + 1] : void 0;
    if (next === void 0) return false;
    this.kind = next;
    this.strikes = 0;
    return true;
  }
  /** Forgets what every URL remembered (tests). */
  static forgetAll() {
    rememberedByUrl.clear();
  }
};

// src/socket.ts
var WS_OPEN = 1;
var defaultWebSocketFactory = (url) => {
  const ctor = globalThis.WebSocket;
  if (ctor === void 0) {
    throw new TypeError("no global WebSocket: pass options.webSocketFactory");
  }
  return new ctor(url);
};

// src/networkEvents.ts
var browserNetworkEvents = {
  subscribe(handlers) {
    const g = globalThis;
    const win = g.window;
    const doc = g.document;
    if (win === void 0 || typeof win.addEventListener !== "function") return () => void 0;
    const attached = [];
    const on = (target, type, fn) => {
      if (target === void 0 || typeof target.addEventListener !== "function") return;
      target.addEventListener(type, fn);
      attached.push([target, type, fn]);
    };
    on(win, "offline", () => handlers.offline());
    on(win, "online", () => handlers.online());
    on(win, "pageshow", (event) => {
      if (event.persisted === true) handlers.wake();
    });
    on(doc, "visibilitychange", () => {
      if (doc?.visibilityState === "visible") handlers.wake();
    });
    on(doc, "resume", () => handlers.wake());
    return () => {
      for (const [target, type, fn] of attached.splice(0)) target.removeEventListener(type, fn);
    };
  }
};

// src/token.ts
var MAX_TIMER_MS = 2147483647;
var Tokens = class {
  constructor(options, host) {
    this.host = host;
    const token = options.token;
    if (token !== void 0 && typeof token !== "string" && typeof token !== "function") {
      throw new TypeError("token must be a string or a function");
    }
    this.option = token;
    this.baseMs = options.reconnect?.baseMs ?? DEFAULT_BASE_MS;
    this.capMs = Math.max(this.baseMs, options.reconnect?.capMs ?? DEFAULT_CAP_MS);
  }
  /** The token function, when there is one: only it can make a fresh token (a refresh, or after a 4002). */
  get provider() {
    return typeof this.option === "function" ? this.option : void 0;
  }
  /** The fixed token (none when there is a token function). */
  get fixed() {
    return typeof this.option === "function" ? void 0 : this.option;
  }
  /**
   * Asks the token function; `done` and `fail` are called once, synchronously for a synchronous answer. Never throws
   * and never leaves a rejection unhandled; the errors it makes never hold the token.
   */
  obtain(provider, reason, done, fail) {
    const what = reason === "refresh" ? "a token refresh" : "a connection attempt";
    const accept = (value) => {
      if (typeof value === "string" && value.length > 0) {
        done(value);
      } else {
        fail(new LifelineTokenError(reason, `the token function returned ${value === "" ? "an empty string" : value === void 0 || value === null ? "nothing" : `a ${typeof value}, not a string`} for ${what}`));
      }
    };
    const reject = (e) => fail(new LifelineTokenError(reason, `the token function failed for ${what}: ${errorText(e)}`, { cause: e }));
    let result;
    try {
      result = provider(Object.freeze({ reason }));
    } catch (e) {
      reject(e);
      return;
    }
    if (result !== null && typeof result === "object" && typeof result.then === "function") {
      Promise.resolve(result).then(accept, reject).then(void 0, (e) => this.host.report(new LifelineError("internal_error", `handling a token failed: ${errorText(e)}`, { cause: e })));
      return;
    }
    accept(result);
  }
  /**
   * The server told when the connection's token expires (welcome, or the reply to a refresh): schedule the next
   * refresh from it (see {@link refreshDelayMs}). Only a token function can give a new token; with a fixed one the
   * server closes with 4002 at expiry.
   */
  renewed(conn, expiresInMs) {
    const clock = this.host.clock;
    if (conn.refreshTimer !== void 0) {
      clock.clearTimeout(conn.refreshTimer);
      conn.refreshTimer = void 0;
    }
    const now = clock.now();
    conn.tokenExpiresAt = now + expiresInMs;
    conn.refreshFailures = 0;
    if (typeof this.option !== "function") return;
    this.arm(conn, now + refreshDelayMs(expiresInMs));
  }
  arm(conn, at) {
    const clock = this.host.clock;
    conn.refreshAt = at;
    conn.refreshTimer = clock.setTimeout(() => this.onTimer(conn), Math.min(MAX_TIMER_MS, Math.max(0, at - clock.now())));
  }
  onTimer(conn) {
    const host = this.host;
    conn.refreshTimer = void 0;
    if (conn !== host.current() || !host.isOpen() || conn.refreshAt === void 0) return;
    if (conn.refreshAt > host.clock.now()) {
      this.arm(conn, conn.refreshAt);
      return;
    }
    const provider = this.option;
    if (typeof provider !== "function") return;
    const seq = ++conn.refreshSeq;
    const current = () => conn === host.current() && seq === conn.refreshSeq && host.isOpen();
    this.obtain(
      provider,
      "refresh",
      (token) => {
        if (!current()) return;
        host.requestRefresh(
          token,
          (expiresInMs) => {
            if (!current()) return;
            if (expiresInMs !== void 0) {
              this.renewed(conn, expiresInMs);
            } else {
              conn.tokenExpiresAt = conn.refreshAt = void 0;
              conn.refreshFailures = 0;
            }
          },
          (error) => {
            if (error instanceof LifelineDisconnectedError || error instanceof LifelineClosedError || !current()) return;
            this.failed(conn, new LifelineRequestError(error.code, `token refresh refused: ${error.message}`));
          }
        );
      },
      (error) => {
        if (current()) this.failed(conn, error);
      }
    );
  }
  /** A refresh failed: report it and retry with backoff while the token is still valid (after that the server closes with 4002). */
  failed(conn, error) {
    const host = this.host;
    host.report(error);
    const window = backoffWindowMs(conn.refreshFailures, this.baseMs, this.capMs);
    conn.refreshFailures++;
    const r = host.random();
    const delay = Math.floor(window * (0.5 + 0.5 * (r >= 0 && r < 1 ? r : 0)));
    const at = host.clock.now() + delay;
    if (conn.tokenExpiresAt !== void 0 && at >= conn.tokenExpiresAt) {
      conn.refreshAt = void 0;
      return;
    }
    this.arm(conn, at);
  }
};

// src/persistence.ts
var LifelinePersistenceError = class extends LifelineError {
  constructor(message, options) {
    super("persistence", message, options);
    this.name = "LifelinePersistenceError";
  }
};
var PERSISTENCE_VERSION = 1;
var PERSIST_INTERVAL_MS = 100;
function checksum(text) {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 16777619) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}
function encodeRecord(kept, at = Date.now()) {
  const body = JSON.stringify(kept);
  return { v: PERSISTENCE_VERSION, at, sum: checksum(`${at}
${body}`), body };
}
function decodeStored(name, value) {
  const bad = (why) => new LifelinePersistenceError(`kept record of channel "${name}" ignored: ${why}`);
  if (typeof value !== "object" || value === null) throw bad("not a record");
  const { v, at, sum, body } = value;
  if (v !== PERSISTENCE_VERSION) throw bad(`version ${String(v)}, expected ${PERSISTENCE_VERSION}`);
  if (typeof body !== "string" || typeof sum !== "string" || typeof at !== "number") throw bad("not a record");
  if (checksum(`${at}
${body}`) !== sum) throw bad("checksum mismatch (a corrupt or partly written record)");
  let kept;
  try {
    kept = JSON.parse(body);
  } catch {
    throw bad("not JSON");
  }
  const problem = checkKept(kept);
  if (problem !== void 0 || kept.channel !== name) throw bad(problem ?? "another channel's record");
  return { kept, at };
}
function checkKept(value) {
  if (!isJsonObject(value)) return "not an object";
  const { channel, epoch, offset, state, pending } = value;
  if (typeof channel !== "string" || channel.length === 0) return "no channel name";
  if (epoch === void 0 !== (offset === void 0)) return "half a position";
  if (epoch !== void 0 && typeof epoch !== "string") return "bad epoch";
  if (offset !== void 0 && (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0)) return "bad offset";
  if (!isJsonObject(state)) return "state is not an object";
  if (!Array.isArray(pending)) return "pending is not a list";
  for (const p of pending) {
    if (!isJsonObject(p)) return "a pending publish is not an object";
    const { key, patch } = p;
    if (typeof key !== "string" || key.length === 0 || !isJsonObject(patch)) return "a pending publish without key or patch";
  }
  return void 0;
}
var STORE = "channels";
function indexedDbPersistence(name, options = {}) {
  if (typeof name !== "string" || name.length === 0) throw new TypeError("indexedDbPersistence(name): name must be a non-empty string");
  let db;
  let opened;
  const open = () => db ?? (db = new Promise((resolve, reject) => {
    const factory = options.indexedDB ?? globalThis.indexedDB;
    if (factory === void 0) {
      reject(new LifelinePersistenceError("IndexedDB is not available here"));
      return;
    }
    let request;
    try {
      request = factory.open(`lifeline:${name}`, 1);
    } catch (e) {
      reject(new LifelinePersistenceError(`IndexedDB refused to open: ${String(e)}`, { cause: e }));
      return;
    }
    request.onupgradeneeded = () => {
      if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE);
    };
    request.onsuccess = () => {
      opened = request.result;
      resolve(request.result);
    };
    request.onerror = () => reject(new LifelinePersistenceError(`IndexedDB refused to open: ${String(request.error)}`, { cause: request.error }));
    request.onblocked = () => reject(new LifelinePersistenceError("IndexedDB is blocked by another tab's older version"));
  }));
  const journal = options.journal !== void 0 ? options.journal : globalThis.localStorage ?? null;
  const journalPrefix = `lifeline:${name}:`;
  const readJournal = () => {
    const entries = /* @__PURE__ */ new Map();
    if (journal === null) return entries;
    for (let i = 0; i < journal.length; i++) {
      const key = journal.key(i);
      if (key === null || !key.startsWith(journalPrefix)) continue;
      let value;
      try {
        value = JSON.parse(journal.getItem(key) ?? "null");
      } catch {
        value = null;
      }
      entries.set(key.slice(journalPrefix.length), { key, value });
    }
    return entries;
  };
  return {
    async load() {
      const database = await open();
      const stored = await new Promise((resolve, reject) => {
        const values = /* @__PURE__ */ new Map();
        const tx = database.transaction(STORE, "readonly");
        const cursor = tx.objectStore(STORE).openCursor();
        cursor.onsuccess = () => {
          const c = cursor.result;
          if (c === null) return;
          values.set(String(c.key), c.value);
          c.continue();
        };
        tx.oncomplete = () => resolve(values);
        tx.onerror = () => reject(new LifelinePersistenceError(`reading kept state failed: ${String(tx.error)}`, { cause: tx.error }));
        tx.onabort = () => reject(new LifelinePersistenceError(`reading kept state failed: ${String(tx.error)}`, { cause: tx.error }));
      });
      const problems = [];
      const decode = (channel, value) => {
        try {
          return decodeStored(channel, value);
        } catch (e) {
          problems.push(e instanceof LifelinePersistenceError ? e : new LifelinePersistenceError(String(e), { cause: e }));
          return void 0;
        }
      };
      const best = /* @__PURE__ */ new Map();
      for (const [channel, value] of stored) {
        const record = decode(channel, value);
        if (record !== void 0) best.set(channel, record);
      }
      for (const [channel, entry] of readJournal()) {
        const record = decode(channel, entry.value);
        if (record !== void 0 && record.at >= (best.get(channel)?.at ?? -Infinity)) best.set(channel, record);
      }
      return { channels: [...best.values()].map((r) => r.kept), problems };
    },
    async save(channels) {
      const database = opened ?? await open();
      const records = channels.map((kept) => ({ channel: kept.channel, record: encodeRecord(kept) }));
      await write(database, records);
      if (journal === null) return;
      const entries = readJournal();
      for (const { channel, record } of records) {
        const entry = entries.get(channel);
        const at = entry?.value?.at;
        if (entry !== void 0 && (typeof at !== "number" || at <= record.at)) journal.removeItem(entry.key);
      }
    },
    saveNow(channels) {
      const records = channels.map((kept) => ({ channel: kept.channel, record: encodeRecord(kept) }));
      if (journal !== null) {
        for (const { channel, record } of records) journal.setItem(journalPrefix + channel, JSON.stringify(record));
      }
      if (opened !== void 0) write(opened, records).catch(() => {
      });
    }
  };
  function write(database, records) {
    return new Promise((resolve, reject) => {
      const tx = database.transaction(STORE, "readwrite");
      const store = tx.objectStore(STORE);
      for (const { channel, record } of records) store.put(record, channel);
      tx.commit?.();
      tx.oncomplete = () => resolve();
      const failed = () => reject(new LifelinePersistenceError(`writing kept state failed: ${String(tx.error)}`, { cause: tx.error }));
      tx.onerror = failed;
      tx.onabort = failed;
    });
  }
}

// src/keeper.ts
var PersistenceKeeper = class {
  constructor(storage, clock, keep, report) {
    this.storage = storage;
    this.clock = clock;
    this.keep = keep;
    this.report = report;
    this.dirty = /* @__PURE__ */ new Set();
    /** The channels of the write in flight: written again on `pagehide` (the page may go before it commits). */
    this.inFlight = /* @__PURE__ */ new Set();
    this.writing = false;
    this.stopped = false;
    const target = globalThis;
    const onPageHide = () => this.flush(true);
    if (typeof target.addEventListener === "function") {
      target.addEventListener("pagehide", onPageHide);
      this.detachPageHide = () => target.removeEventListener?.("pagehide", onPageHide);
    } else {
      this.detachPageHide = () => {
      };
    }
  }
  /** Loads what was kept, starts each channel from it and queues its publishes again (same keys), then `start`s. */
  load(target) {
    let loading;
    try {
      loading = Promise.resolve(this.storage.load());
    } catch (e) {
      loading = Promise.reject(e);
    }
    loading.then(
      (kept) => {
        for (const problem of kept.problems) this.report(problem);
        if (target.isClosed()) return;
        for (const channel of kept.channels) {
          target.restore(channel);
          for (const p of channel.pending) {
            target.publish(channel.channel, p).catch((e) => {
              if (!(e instanceof LifelineClosedError)) this.report(e instanceof LifelineError ? e : new LifelinePersistenceError(String(e), { cause: e }));
            });
          }
        }
      },
      (e) => this.fail(e, "reading kept state failed")
    ).finally(() => target.start());
  }
  /** True after a failed write (or `stop`): nothing more is written. */
  get disabled() {
    return this.stopped;
  }
  /** The channel changed: it is written within PERSIST_INTERVAL_MS. */
  changed(channel) {
    if (this.stopped) return;
    this.dirty.add(channel);
    if (this.timer === void 0 && !this.writing) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = void 0;
        this.flush();
      }, PERSIST_INTERVAL_MS);
    }
  }
  /**
   * Writes what changed now; unless a write is in flight: then right after it, or also now when `now` (the page is
   * going: IndexedDB runs write transactions of one store in the order they were made, so the later one wins).
   */
  flush(now = false) {
    if (this.timer !== void 0) {
      this.clock.clearTimeout(this.timer);
      this.timer = void 0;
    }
    if (this.stopped || this.writing && !now) return;
    const names = new Set(this.dirty);
    if (now) for (const name of this.inFlight) names.add(name);
    if (names.size === 0) return;
    const records = [];
    for (const name of names) {
      const kept = this.keep(name);
      if (kept !== void 0) records.push(kept);
    }
    this.dirty.clear();
    if (now && this.storage.saveNow !== void 0) {
      try {
        this.storage.saveNow(records);
      } catch (e) {
        this.fail(e, "writing kept state on pagehide failed");
      }
      return;
    }
    this.inFlight = names;
    this.writing = true;
    let saving;
    try {
      saving = Promise.resolve(this.storage.save(records));
    } catch (e) {
      saving = Promise.reject(e);
    }
    saving.then(
      () => {
        if (this.inFlight === names) this.inFlight = /* @__PURE__ */ new Set();
        this.writing = false;
        if (this.dirty.size > 0) this.changed([...this.dirty][0]);
      },
      (e) => {
        this.writing = false;
        this.fail(e, "writing kept state failed");
      }
    );
  }
  /** Stops for good: a storage error, or the client is disposed. */
  fail(error, what) {
    if (this.stopped) return;
    this.stop();
    this.report(
      error instanceof LifelinePersistenceError ? error : new LifelinePersistenceError(`${what}: ${error instanceof Error ? error.message : String(error)}; going on without persistence`, { cause: error })
    );
  }
  stop() {
    this.stopped = true;
    this.dirty.clear();
    if (this.timer !== void 0) this.clock.clearTimeout(this.timer);
    this.timer = void 0;
    this.detachPageHide();
  }
};

// src/version.ts
var VERSION = "0.1.0";

// src/client.ts
var ALLOWED = {
  connecting: ["open", "reconnecting", "closed"],
  open: ["reconnecting", "closed"],
  reconnecting: ["open", "closed"],
  closed: ["connecting"]
};
var LifelineClient = class {
  constructor(url, options = {}) {
    this.current = "connecting";
    this.connSeq = 0;
    this.userId = null;
    this.wasResumed = false;
    /** The server closed with 4002 since the last welcome: the token function is asked with reason `expired`. */
    this.tokenExpired = false;
    this.channels = /* @__PURE__ */ new Map();
    this.url = url;
    this.clock = options.clock ?? systemClock;
    const random = options.random ?? Math.random;
    this.factory = options.webSocketFactory ?? defaultWebSocketFactory;
    const policy = options.retryPolicy ?? exponentialBackoff(options.reconnect ?? {}, random);
    this.watchdogSlackMs = nonNegative("watchdogSlackMs", options.watchdogSlackMs ?? DEFAULT_WATCHDOG_SLACK_MS);
    this.connectTimeoutMs = positive("connectTimeoutMs", options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    const offlineQueueLimit = nonNegative("offlineQueueLimit", options.offlineQueueLimit ?? DEFAULT_OFFLINE_QUEUE_LIMIT);
    this.clientName = options.clientName ?? `lifeline-js/${VERSION}`;
    this.events = new ClientEvents(this.clock, options.onError);
    const core = {
      clock: this.clock,
      random,
      isClosed: () => this.current === "closed",
      isOpen: () => this.isOpen,
      current: () => this.conn,
      send: (conn, message) => this.send(conn, message),
      lost: (conn, info) => this.connectionLost(conn, info),
      resetRetries: () => this.schedule.resetCount(),
      attemptNow: () => this.attemptNow(),
      channel: (name) => this.channel(name),
      requestRefresh: (token, onReply, onFail) => this.requests.refresh(token, onReply, onFail),
      report: (error) => this.events.report(error)
    };
    this.schedule = new ReconnectSchedule(policy, this.clock, core.report);
    this.tokens = new Tokens(options, core);
    this.ladder = new TransportLadder(url, options.transports ?? DEFAULT_TRANSPORTS);
    this.lastTransport = this.ladder.next;
    this.fetchOption = options.fetch;
    const probeIntervalMs = positive("transportProbeIntervalMs", options.transportProbeIntervalMs ?? DEFAULT_TRANSPORT_PROBE_INTERVAL_MS);
    this.requests = new Requests(core, this.channels, offlineQueueLimit, makeKeyPrefix(options.random));
    this.optimistic = options.optimistic === true;
    const networkEvents = options.networkEvents === void 0 ? browserNetworkEvents : options.networkEvents;
    this.liveness = new Liveness(core, networkEvents, this.ladder, () => this.factory(this.url), probeIntervalMs, this.connectTimeoutMs);
    this.lastSignal = new AbortController().signal;
    const persistence = options.persistence;
    if (persistence === void 0) {
      this.liveness.attachNetwork();
      this.attempt();
    } else {
      this.keeper = new PersistenceKeeper(persistence, this.clock, (name) => this.channels.get(name)?._keep(), core.report);
      this.keeper.load({
        isClosed: core.isClosed,
        restore: (kept) => this.channel(kept.channel)._restore(kept),
        publish: (channel, p) => this.requests.publish(channel, p.patch, { key: p.key, if: p.if, signal: void 0 }),
        start: () => {
          if (this.current === "closed" || this.conn !== void 0 || this.reconnectTimer !== void 0) return;
          this.liveness.attachNetwork();
          this.attempt();
        }
      });
    }
  }
  // ---- public surface -------------------------------------------------------------------
  /** The connection state. */
  get state() {
    return this.current;
  }
  /**
   * The AbortSignal of the current connection (attempt). It aborts, with a
   * `LifelineDisconnectedError` as reason, when that connection drops; a new signal comes with
   * each attempt. Pending requests are failed the same way (publishes are re-sent instead).
   */
  get signal() {
    return this.lastSignal;
  }
  /**
   * The transport of the current connection (or of the attempt in progress): `websocket`, `http-stream` (Server-Sent
   * Events) or `http-poll` (long polling). A switch shows as a state change (`reconnecting`, then `open`) whose
   * `transport` member names the new one.
   */
  get transport() {
    return this.lastTransport;
  }
  /** The session of the last `welcome` (sent as `hello.resume` on reconnect). */
  get session() {
    return this.sessionToken;
  }
  /** The user id the server authenticated, or null (anonymous / not yet welcomed). */
  get user() {
    return this.userId;
  }
  /** Whether the last `welcome` resumed the previous session. */
  get resumed() {
    return this.wasResumed;
  }
  /** Publishes waiting for the server's reply (queued offline or in flight). */
  get pendingPublishes() {
    return this.requests.pendingPublishes;
  }
  /** Returns the channel called `name`, the same object for the same name. `T` types its state (unchecked). */
  channel(name) {
    if (typeof name !== "string" || name.length === 0) {
      throw new TypeError("channel(name): name must be a non-empty string");
    }
    let channel = this.channels.get(name);
    if (channel === void 0) {
      channel = new LifelineChannel(name, this, this.optimistic);
      if (this.keeper !== void 0) {
        const keeper = this.keeper;
        channel._onChange = () => keeper.changed(name);
      }
      this.channels.set(name, channel);
    }
    return channel;
  }
  /** Registers a state-change listener; returns the function that unregisters it. */
  onStateChange(listener) {
    return this.events.onStateChange(listener);
  }
  /** Registers an error listener (see {@link LifelineClientOptions.onError}); returns the function that unregisters it. */
  onError(listener) {
    return this.events.onError(listener);
  }
  /**
   * Registers a listener for messages the application's server sends to this user
   * (`SendToUserAsync`): called once per message, only for messages sent while this client is
   * connected (they are not stored or replayed). Returns the function that unregisters it.
   */
  onMessage(listener) {
    return this.events.onMessage(listener);
  }
  /**
   * Closes the client for good: closes the socket with 1000, stops reconnecting, and rejects
   * pending requests and queued publishes with `LifelineClosedError`. Idempotent.
   */
  close() {
    if (this.current === "closed") return;
    this.shutdown({ reason: "client_close", initiator: "client" }, 1e3);
  }
  /**
   * Connects again after `close()` or after the client gave up (`maxAttempts`, a close code that is not retried): the
   * same object, with every channel, listener and position. The session resumes when the server still has it, every
   * channel is resubscribed with `since`, and publishes made from now on are queued and flushed on `open`. Resolves
   * at `open`; rejects with `LifelineClosedError` when the client closes first. While connecting, reconnecting or
   * open it starts nothing (never a second attempt in flight) and returns the same promise (resolved when open).
   */
  connect() {
    if (this.current === "open") return Promise.resolve();
    if (this.openWaiter === void 0) {
      let resolve;
      let reject;
      const promise = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.openWaiter = { promise, resolve, reject };
    }
    const waiter = this.openWaiter;
    if (this.current === "closed") {
      this.schedule.reset();
      this.tokenExpired = false;
      this.transition("connecting", { reason: "connect", initiator: "client" });
      if (this.state !== "connecting") return waiter.promise;
      this.liveness.attachNetwork();
      this.attempt();
    }
    return waiter.promise;
  }
  /** Ends a backoff wait: the next attempt starts now. */
  attemptNow() {
    if (this.conn !== void 0 || this.current === "closed") return;
    if (this.reconnectTimer !== void 0) {
      this.clock.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = void 0;
    }
    this.attempt();
  }
  // ---- connection lifecycle ------------------------------------------------------------
  /**
   * Starts one attempt; there is never more than one connection or attempt at a time. The attempt first gets its
   * token (a token function may answer later), then creates the socket; `connectTimeoutMs` covers both.
   */
  attempt() {
    if (this.current === "closed" || this.conn !== void 0) return;
    const controller = new AbortController();
    const transport = this.ladder.next;
    this.lastTransport = transport;
    const conn = newConnection(++this.connSeq, controller, transport, this.clock.now());
    this.conn = conn;
    this.lastSignal = controller.signal;
    conn.connectTimer = this.clock.setTimeout(() => this.onConnectTimeout(conn), this.connectTimeoutMs);
    const provider = this.tokens.provider;
    if (provider === void 0) {
      conn.token = this.tokens.fixed;
      this.openSocket(conn);
      return;
    }
    conn.awaitingToken = true;
    this.tokens.obtain(
      provider,
      this.tokenExpired ? "expired" : "connect",
      (token) => {
        if (conn !== this.conn) return;
        conn.awaitingToken = false;
        conn.token = token;
        this.openSocket(conn);
      },
      (error) => {
        if (conn !== this.conn) return;
        conn.awaitingToken = false;
        this.events.report(error);
        this.connectionLost(conn, { reason: "token_failed", initiator: "client", error });
      }
    );
  }
  /** Creates the socket of an attempt whose token is known. */
  openSocket(conn) {
    let socket;
    try {
      socket = conn.transport === "websocket" ? this.factory(this.url) : new HttpSocket(this.url, conn.transport, this.fetchOption ?? defaultFetch(), this.clock);
    } catch (e) {
      const error = new LifelineError("connect_failed", `could not create the WebSocket: ${errorText(e)}`, { cause: e });
      this.events.report(error);
      if (e instanceof Error && e.name === "SyntaxError") {
        this.shutdown({ reason: "invalid_url", initiator: "client", error });
      } else {
        this.connectionLost(conn, { reason: "connect_failed", initiator: "client", error });
      }
      return;
    }
    conn.socket = socket;
    socket.onopen = () => this.onSocketOpen(conn);
    socket.onmessage = (event) => this.onSocketMessage(conn, event);
    socket.onerror = () => this.onSocketError(conn);
    socket.onclose = (event) => this.onSocketClose(conn, event);
  }
  onSocketOpen(conn) {
    if (conn !== this.conn) return;
    conn.opened = true;
    this.send(conn, { type: "hello", v: PROTOCOL_VERSION, token: conn.token, resume: this.sessionToken, client: this.clientName });
  }
  onSocketError(conn) {
    if (conn !== this.conn || conn.errorTimer !== void 0) return;
    conn.errorTimer = this.clock.setTimeout(() => {
      conn.errorTimer = void 0;
      this.connectionLost(conn, { reason: "error", code: 1006, initiator: "network" });
    }, CLOSE_AFTER_ERROR_MS);
  }
  onSocketClose(conn, event) {
    if (conn !== this.conn) return;
    const code = typeof event.code === "number" ? event.code : 1006;
    const reason = typeof event.reason === "string" && event.reason.length > 0 ? event.reason : closeCodeInfo(code).name;
    this.connectionLost(conn, { reason, code, initiator: code === 1006 ? "network" : "server" });
  }
  onConnectTimeout(conn) {
    conn.connectTimer = void 0;
    if (conn !== this.conn || conn.welcomed) return;
    if (conn.awaitingToken) {
      const error = new LifelineTokenError(this.tokenExpired ? "expired" : "connect", `the token function did not answer within connectTimeoutMs (${this.connectTimeoutMs} ms)`);
      this.events.report(error);
      this.connectionLost(conn, { reason: "token_timeout", initiator: "client", error });
      return;
    }
    this.connectionLost(conn, { reason: "connect_timeout", initiator: "client" });
  }
  checkWatchdog(conn) {
    conn.watchdogTimer = void 0;
    if (conn !== this.conn) return;
    const silentMs = this.clock.now() - conn.lastReceivedAt;
    if (silentMs >= conn.watchdogLimitMs) {
      this.connectionLost(conn, { reason: "watchdog", initiator: "client" });
    } else {
      conn.watchdogTimer = this.clock.setTimeout(() => this.checkWatchdog(conn), conn.watchdogLimitMs - silentMs);
    }
  }
  /**
   * Every way a connection ends comes here, once per connection: tear it down, fail or
   * re-queue what was waiting on it, then reconnect or close depending on the close code
   * and the retry policy.
   */
  connectionLost(conn, info) {
    if (conn !== this.conn) return;
    this.conn = void 0;
    this.teardown(conn, info.reason);
    this.requests.failPending(new LifelineDisconnectedError(`the connection dropped (${info.reason})`));
    if (this.current === "closed") return;
    const codeInfo = info.code === void 0 ? void 0 : closeCodeInfo(info.code);
    if (codeInfo !== void 0 && !codeInfo.shouldReconnect) {
      this.shutdown(info);
      return;
    }
    if (!conn.welcomed && !info.immediate && !info.notTransport && !this.liveness.offline && conn.socket !== void 0) {
      const opened = conn.socket instanceof HttpSocket ? conn.socket.responded : conn.opened;
      if (this.ladder.failed({ kind: conn.transport, opened, reason: info.reason })) {
        info = { ...info, immediate: true };
      }
    }
    if (info.immediate) {
      this.reconnectIn(0, info, conn.transport);
      return;
    }
    if (info.code === 4002) {
      if (this.tokens.provider === void 0) {
        this.shutdown(info);
        return;
      }
      this.tokenExpired = true;
    }
    const retryInMs = this.schedule.next(info, codeInfo);
    if (retryInMs === null) {
      this.shutdown({ ...info, reason: "retries_exhausted" });
      return;
    }
    this.reconnectIn(retryInMs, info, conn.transport);
  }
  /** Schedules the next attempt and says so (`reconnecting`). */
  reconnectIn(retryInMs, info, transport) {
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = void 0;
      this.attempt();
    }, retryInMs);
    this.transition("reconnecting", { ...info, retryInMs, transport });
  }
  /** Releases one connection (and the transport probe); its channels learn they are disconnected. */
  teardown(conn, reason, code) {
    this.liveness.stopProbe();
    releaseConnection(conn, this.clock, reason, code);
    for (const channel of this.channels.values()) channel._onDisconnected();
  }
  /** Moves to `closed` for good. */
  shutdown(info, socketCode) {
    if (this.reconnectTimer !== void 0) {
      this.clock.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = void 0;
    }
    const conn = this.conn;
    this.conn = void 0;
    if (conn !== void 0) this.teardown(conn, info.reason, socketCode);
    const error = new LifelineClosedError(`the client is closed (${info.reason})`);
    this.requests.close(error);
    this.liveness.detachNetworkEvents();
    const waiter = this.openWaiter;
    this.openWaiter = void 0;
    waiter?.reject(error);
    for (const channel of this.channels.values()) channel._onClientClosed();
    this.transition("closed", { ...info, transport: info.transport ?? this.lastTransport });
  }
  transition(to, info) {
    const from = this.current;
    if (from === to) return;
    if (!ALLOWED[from].includes(to)) {
      this.events.report(new LifelineError("internal_error", `impossible state change ${from} -> ${to}`));
      return;
    }
    this.current = to;
    this.events.stateChanged(from, to, info);
  }
  // ---- receiving ------------------------------------------------------------------------
  onSocketMessage(conn, event) {
    if (conn !== this.conn) return;
    conn.lastReceivedAt = this.clock.now();
    const data = event.data;
    if (typeof data !== "string") {
      this.events.report(new LifelineProtocolError("binary frame received; Lifeline uses text frames only", "<binary>"));
      return;
    }
    for (const line of parseFrame(data)) {
      if (conn !== this.conn) return;
      if (!line.ok) {
        this.events.report(new LifelineProtocolError(`malformed message dropped: ${line.error}`, line.raw));
        continue;
      }
      try {
        this.handleMessage(conn, line.message);
      } catch (e) {
        this.events.report(new LifelineError("internal_error", `handling a ${line.message.type} message failed: ${errorText(e)}`, { cause: e }));
      }
    }
  }
  handleMessage(conn, message) {
    switch (message.type) {
      case "welcome":
        this.onWelcome(conn, message);
        return;
      case "ping":
        this.send(conn, { type: "pong", n: message.n });
        return;
      case "pong":
        this.liveness.pong(conn, message.n);
        return;
      case "other":
        return;
      case "subscribed":
        this.requests.onSubscribed(message);
        return;
      case "snapshot":
        this.channels.get(message.channel)?._onSnapshot(message);
        return;
      case "delta": {
        const channel = this.channels.get(message.channel);
        if (channel !== void 0 && channel._onDelta(message) === "gap" && channel._wire === "subscribed" && this.isOpen) {
          channel._resyncing = true;
          this.requests.subscribe(channel);
        }
        return;
      }
      case "presence":
        this.channels.get(message.channel)?._onPresenceEvent(message);
        return;
      case "event":
        this.channels.get(message.channel)?._onEvent(message);
        return;
      case "message":
        this.events.userMessage(Object.freeze({ data: deepFreeze(message.data), ...message.ts === void 0 ? {} : { ts: message.ts } }));
        return;
      case "reply":
        this.requests.onReply(message);
        return;
      case "error":
        this.requests.onError(message);
        return;
    }
  }
  onWelcome(conn, message) {
    if (conn.welcomed) {
      this.events.report(new LifelineProtocolError("second welcome on one connection ignored", JSON.stringify(message)));
      return;
    }
    conn.welcomed = true;
    if (conn.connectTimer !== void 0) {
      this.clock.clearTimeout(conn.connectTimer);
      conn.connectTimer = void 0;
    }
    this.sessionToken = message.session;
    this.userId = typeof message.user === "string" ? message.user : null;
    this.wasResumed = message.resumed === true;
    this.schedule.reset();
    this.tokenExpired = false;
    if (message.tokenExpiresInMs !== void 0) this.tokens.renewed(conn, message.tokenExpiresInMs);
    const { intervalMs, timeoutMs } = message.heartbeat;
    if (timeoutMs > 0) conn.probeTimeoutMs = timeoutMs;
    if (intervalMs > 0) {
      conn.watchdogLimitMs = intervalMs + timeoutMs + this.watchdogSlackMs;
      conn.watchdogTimer = this.clock.setTimeout(() => this.checkWatchdog(conn), conn.watchdogLimitMs);
    }
    const from = this.current;
    this.current = "open";
    if (!this.requests.resume(() => conn === this.conn)) return;
    this.ladder.welcomed(conn.transport);
    this.liveness.armProbe(conn);
    this.events.stateChanged(from, "open", { reason: this.wasResumed ? "resumed" : "welcome", transport: conn.transport });
    const waiter = this.openWaiter;
    if (waiter !== void 0 && this.current === "open") {
      this.openWaiter = void 0;
      waiter.resolve();
    }
  }
  // ---- sending --------------------------------------------------------------------------
  get isOpen() {
    return this.current === "open" && this.conn !== void 0 && this.conn.welcomed;
  }
  /** Sends one message on `conn`; a failing send ends the connection. */
  send(conn, message) {
    const socket = conn.socket;
    if (conn !== this.conn || socket === void 0 || socket.readyState !== WS_OPEN) return false;
    try {
      socket.send(JSON.stringify(message));
      return true;
    } catch (e) {
      this.events.report(new LifelineError("send_failed", `send failed: ${errorText(e)}`, { cause: e }));
      this.connectionLost(conn, { reason: "send_failed", code: 1006, initiator: "network" });
      return false;
    }
  }
  // ---- ChannelHost ----------------------------------------------------------------------
  /** @internal */
  _interestChanged(channel) {
    this.requests.interestChanged(channel);
  }
  /** @internal */
  _publish(channel, patch, request) {
    return this.requests.publish(channel, patch, request);
  }
  /** @internal */
  _fetchPresence(channel, signal) {
    return this.requests.fetchPresence(channel, signal);
  }
  /** @internal Events are now or never: never queued while disconnected. */
  _emit(channel, data) {
    return this.requests.emit(channel, data);
  }
  /** @internal */
  _reportHandlerError(where, error) {
    this.events.report(new LifelineHandlerError(where, error));
  }
  /** @internal */
  _clock() {
    return this.clock;
  }
};
export {
  CLOSE_AFTER_ERROR_MS,
  CloseCodes,
  DEFAULT_BASE_MS,
  DEFAULT_CAP_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_OFFLINE_QUEUE_LIMIT,
  DEFAULT_PROBE_TIMEOUT_MS,
  DEFAULT_TRANSPORTS,
  DEFAULT_TRANSPORT_PROBE_INTERVAL_MS,
  DEFAULT_UPDATE_RETRIES,
  DEFAULT_WATCHDOG_SLACK_MS,
  LifelineChannel,
  LifelineClient,
  LifelineClosedError,
  LifelineConflictError,
  LifelineDisconnectedError,
  LifelineError,
  LifelineHandlerError,
  LifelinePersistenceError,
  LifelineProtocolError,
  LifelineQueueFullError,
  LifelineRequestError,
  LifelineTokenError,
  MAX_KEY_LENGTH,
  PERSISTENCE_VERSION,
  PERSIST_INTERVAL_MS,
  SEND_HEADER,
  TOKEN_REFRESH_FRACTION,
  TOKEN_REFRESH_MARGIN_MS,
  VERSION,
  applyMergePatch,
  backoffWindowMs,
  browserNetworkEvents,
  closeCodeInfo,
  createMergePatch,
  exponentialBackoff,
  httpBaseUrl,
  indexedDbPersistence,
  parseRetryAfterMs,
  refreshDelayMs,
  systemClock
};
//# sourceMappingURL=lifeline.js.map
