import type { LifelineChannel, PublishRequest } from "./channel.js";
import type { Connection } from "./connection.js";
import {
  LifelineClosedError,
  LifelineConflictError,
  LifelineDisconnectedError,
  LifelineError,
  LifelineProtocolError,
  LifelineQueueFullError,
  LifelineRequestError,
} from "./errors.js";
import { isJsonObject, type JsonObject, type JsonValue } from "./json.js";
import { MAX_KEY_LENGTH } from "./options.js";
import type { ErrorMessage, ReplyMessage, SubscribedMessage } from "./protocol.js";
import { abortReason, WithdrawnPublishError } from "./update.js";
import { errorText } from "./util.js";

interface PublishRecord {
  readonly seq: number;
  readonly channel: string;
  readonly patch: JsonObject;
  readonly key: string;
  readonly if: PublishRequest["if"];
  /** Sent at least once: it may have been applied, so aborting it keeps it for the resend. */
  sent: boolean;
  /** How many times it was sent (once per connection), and the connection of the last send. */
  sends: number;
  sentOn: Connection | undefined;
  /** Withdrawn by its update (it can no longer apply): out of the queue, its late reply ignored. */
  withdrawn: boolean;
  /** The channel's subscribe count at the last send (a subscribe after it may deliver its delta before its reply). */
  subscribesAtSend: number;
  readonly resolve: (offset: number) => void;
  readonly reject: (error: Error) => void;
}

type PendingRequest =
  | { readonly kind: "publish"; readonly record: PublishRecord }
  | {
      readonly kind: "subscribe" | "unsubscribe" | "presence" | "refresh" | "emit";
      readonly channel: string;
      readonly onReply: (message: ReplyMessage | SubscribedMessage) => void;
      readonly onFail: (error: LifelineError) => void;
    };

/** What the requests need from the client. */
export interface RequestHost {
  /** The client is closed. */
  isClosed(): boolean;
  /** The state is open on a welcomed connection. */
  isOpen(): boolean;
  /** The connection or attempt in progress, if any. */
  current(): Connection | undefined;
  /** Sends one message on `conn` (a failing send ends the connection). */
  send(conn: Connection, message: Record<string, unknown>): boolean;
  /** The channel called `name`, made when there is none yet. */
  channel(name: string): LifelineChannel<JsonObject>;
  report(error: LifelineError): void;
}

/**
 * The requests of a client and their replies: the publish outbox (queued while offline, re-sent with the same keys
 * after each reconnect, in order), the wire subscriptions that follow each channel's listeners, presence, events and
 * the token refresh.
 * @internal
 */
export class Requests {
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;
  private readonly outbox = new Map<number, PublishRecord>();
  /** Subscribe requests sent per channel name (see `PublishRecord.subscribesAtSend`). */
  private readonly subscribeCounts = new Map<string, number>();
  private publishSeq = 0;
  private keyCounter = 0;
  private readonly dirty = new Set<LifelineChannel<JsonObject>>();
  private reconcileQueued = false;

  constructor(
    private readonly host: RequestHost,
    private readonly channels: ReadonlyMap<string, LifelineChannel<JsonObject>>,
    private readonly offlineQueueLimit: number,
    private readonly keyPrefix: string,
  ) {}

  /** Publishes waiting for the server's reply (queued offline or in flight). */
  get pendingPublishes(): number {
    return this.outbox.size;
  }

  // ---- replies --------------------------------------------------------------------------

  onReply(message: ReplyMessage): void {
    const entry = this.takePending(message.id);
    if (entry === undefined) return;
    if (entry.kind === "publish" && entry.record.withdrawn) {
      // Its update moved on: the channel passed its `if` before this reply, so it can only be a conflict.
      if (message.ok) {
        this.host.report(new LifelineProtocolError("a withdrawn conditional publish was applied: the reply came after a later delta", JSON.stringify(message)));
      }
      return;
    }
    if (!message.ok) {
      const err = message.error;
      if (err?.code === "conflict") {
        const position = typeof err.epoch === "string" && typeof err.offset === "number" ? { epoch: err.epoch, offset: err.offset } : undefined;
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

  onSubscribed(message: SubscribedMessage): void {
    const entry = this.takePending(message.id);
    if (entry !== undefined && entry.kind !== "publish") {
      entry.onReply(message);
    }
  }

  /** An `error` message: it fails its request, or is reported when it answers none. */
  onError(message: ErrorMessage): void {
    const error = new LifelineRequestError(message.code, message.message);
    const entry = message.id === undefined ? undefined : this.takePending(message.id);
    if (entry === undefined) {
      this.host.report(error);
    } else {
      this.failRequest(entry, error);
    }
  }

  private takePending(id: number): PendingRequest | undefined {
    const entry = this.pending.get(id);
    if (entry !== undefined) this.pending.delete(id);
    return entry;
  }

  private failRequest(entry: PendingRequest, error: LifelineError): void {
    if (entry.kind === "publish") {
      this.outbox.delete(entry.record.seq);
      this.channels.get(entry.record.channel)?._pendingDropped(entry.record.seq);
      entry.record.reject(error);
    } else {
      entry.onFail(error);
    }
  }

  /** Fails the requests waiting on the connection; publishes stay in the outbox to be re-sent. */
  failPending(error: LifelineError): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const entry of entries) {
      if (entry.kind !== "publish") entry.onFail(error);
    }
  }

  /** The client closed: every request fails with `error`, and so does every queued publish. */
  close(error: LifelineError): void {
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
  resume(live: () => boolean): boolean {
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

  private request(entry: PendingRequest, message: Record<string, unknown>): void {
    const conn = this.host.current();
    if (conn === undefined) return;
    const id = this.nextId++;
    this.pending.set(id, entry);
    this.host.send(conn, { ...message, id });
  }

  /** Subscribes `channel` on the wire, from its position when it has one. */
  subscribe(channel: LifelineChannel<JsonObject>): void {
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
          this.requestPresence(channel, undefined);
          this.reconcile(channel);
        },
        onFail: (error) => {
          channel._wire = "none";
          channel._resyncing = false;
          if (!(error instanceof LifelineDisconnectedError) && !(error instanceof LifelineClosedError)) {
            const refused = new LifelineRequestError(error.code, `subscribe to "${channel.name}" refused: ${error.message}`);
            channel._dropAccepted(); // no delta will come to confirm them
            channel._onSubscribeRefused(refused); // nor the position an update waits for
            this.host.report(refused);
          }
        },
      },
      { type: "subscribe", channel: channel.name, ...(since === undefined ? {} : { since: { epoch: since.epoch, offset: since.offset } }) },
    );
  }

  private unsubscribe(channel: LifelineChannel<JsonObject>): void {
    channel._wire = "unsubscribing";
    const done = () => {
      channel._wire = "none";
      channel._dropAccepted(); // no delta will come to confirm them
      this.reconcile(channel);
    };
    this.request({ kind: "unsubscribe", channel: channel.name, onReply: done, onFail: (e) => (e instanceof LifelineRequestError ? done() : undefined) }, {
      type: "unsubscribe",
      channel: channel.name,
    });
  }

  private requestPresence(
    channel: LifelineChannel<JsonObject>,
    callbacks: { resolve: (members: readonly string[]) => void; reject: (error: Error) => void } | undefined,
  ): void {
    this.request(
      {
        kind: "presence",
        channel: channel.name,
        onReply: (message) => {
          const members = message.type === "reply" && message.members !== undefined ? message.members : [];
          channel._onPresenceMembers(members);
          callbacks?.resolve(channel.presence);
        },
        onFail: (error) => {
          if (callbacks !== undefined) callbacks.reject(error);
          else if (error instanceof LifelineRequestError) this.host.report(error);
        },
      },
      { type: "presence", channel: channel.name },
    );
  }

  /** Sends `refresh` with a new token; the expiry the reply names, or the failure, comes back. */
  refresh(token: string, onReply: (expiresInMs: number | undefined) => void, onFail: (error: LifelineError) => void): void {
    this.request(
      { kind: "refresh", channel: "", onReply: (message) => onReply(message.type === "reply" ? message.tokenExpiresInMs : undefined), onFail },
      { type: "refresh", token },
    );
  }

  private sendPublish(record: PublishRecord): void {
    record.sent = true;
    record.sends++;
    record.sentOn = this.host.current();
    record.subscribesAtSend = this.subscribeCounts.get(record.channel) ?? 0;
    this.request(
      { kind: "publish", record },
      { type: "publish", channel: record.channel, key: record.key, patch: record.patch, ...(record.if === undefined ? {} : { if: record.if }) },
    );
  }

  /** Brings a channel's wire subscription in line with its listeners. */
  private reconcile(channel: LifelineChannel<JsonObject>): void {
    if (!this.host.isOpen()) return;
    if (channel._wanted && channel._wire === "none") {
      this.subscribe(channel);
    } else if (!channel._wanted && channel._wire === "subscribed") {
      this.unsubscribe(channel);
    }
    // "subscribing"/"unsubscribing": the reply calls reconcile again.
  }

  // ---- what the channels ask for (ChannelHost) ------------------------------------------

  interestChanged(channel: LifelineChannel<JsonObject>): void {
    this.dirty.add(channel);
    if (this.reconcileQueued) return;
    this.reconcileQueued = true;
    // Coalesce listener churn of one tick (React StrictMode mounts, unmounts and remounts).
    queueMicrotask(() => {
      this.reconcileQueued = false;
      const channels = [...this.dirty];
      this.dirty.clear();
      for (const c of channels) this.reconcile(c);
    });
  }

  publish(channel: string, patch: JsonObject, request: PublishRequest): Promise<number> {
    if (this.host.isClosed()) {
      return Promise.reject(new LifelineClosedError());
    }
    const signal = request.signal;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    const finalKey = request.key ?? this.nextKey();
    if (typeof finalKey !== "string" || finalKey.length === 0 || finalKey.length > MAX_KEY_LENGTH) {
      return Promise.reject(new TypeError(`publish key must be a string of 1 to ${MAX_KEY_LENGTH} characters`));
    }
    let copy: JsonObject;
    try {
      // A private copy: the application may change its object while the publish waits offline.
      const parsed: unknown = JSON.parse(JSON.stringify(patch));
      if (!isJsonObject(parsed)) throw new TypeError("not an object");
      copy = parsed;
    } catch (e) {
      return Promise.reject(new TypeError(`publish(patch): patch is not serializable JSON: ${errorText(e)}`));
    }
    if (!this.host.isOpen() && this.outbox.size >= this.offlineQueueLimit) {
      return Promise.reject(new LifelineQueueFullError(this.offlineQueueLimit));
    }
    return new Promise<number>((resolve, reject) => {
      const onAbort = (): void => this.abortPublish(record, abortReason(signal));
      const done = (): void => signal?.removeEventListener("abort", onAbort);
      const record: PublishRecord = {
        seq: ++this.publishSeq,
        channel,
        patch: copy,
        key: finalKey,
        if: request.if,
        sent: false,
        sends: 0,
        sentOn: undefined,
        withdrawn: false,
        subscribesAtSend: 0,
        resolve: (offset) => {
          done();
          resolve(offset);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      this.outbox.set(record.seq, record);
      if (request.handle !== undefined && record.if !== undefined) request.handle.withdraw = () => this.withdraw(record);
      this.host.channel(channel)._pendingAdded(record.seq, copy, record.key, record.if);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (this.host.isOpen()) this.sendPublish(record);
    });
  }

  /**
   * A publish's signal aborted: one never sent leaves the queue (and its overlay); one already sent may have been
   * applied, so it stays for the resend (its key makes that exactly-once) and only its caller stops waiting.
   */
  private abortPublish(record: PublishRecord, reason: Error): void {
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
  private withdraw(record: PublishRecord): boolean {
    if (!this.outbox.has(record.seq) || record.if === undefined) return false;
    if (record.sent && (record.sends !== 1 || record.sentOn === undefined || record.sentOn !== this.host.current())) return false;
    // A (re)subscribe after the send is answered from history, which may hold its effect before its reply comes.
    if (record.sent && record.subscribesAtSend !== (this.subscribeCounts.get(record.channel) ?? 0)) return false;
    this.outbox.delete(record.seq);
    record.withdrawn = true;
    this.channels.get(record.channel)?._pendingDropped(record.seq);
    record.reject(new WithdrawnPublishError());
    return true;
  }

  fetchPresence(channel: string, signal: AbortSignal | undefined): Promise<readonly string[]> {
    if (this.host.isClosed()) return Promise.reject(new LifelineClosedError());
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    if (!this.host.isOpen()) return Promise.reject(new LifelineDisconnectedError("not connected"));
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        return true;
      };
      const onAbort = (): void => {
        if (settle()) reject(abortReason(signal));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.requestPresence(this.host.channel(channel), {
        resolve: (members) => {
          if (settle()) resolve(members);
        },
        reject: (error) => {
          if (settle()) reject(error);
        },
      });
    });
  }

  /** Events are now or never: never queued while disconnected. */
  emit(channel: string, data: JsonValue): Promise<void> {
    if (this.host.isClosed()) return Promise.reject(new LifelineClosedError());
    if (!this.host.isOpen()) return Promise.reject(new LifelineDisconnectedError("not connected: events are not queued"));
    let copy: JsonValue;
    try {
      copy = JSON.parse(JSON.stringify(data)) as JsonValue;
    } catch (e) {
      return Promise.reject(new TypeError(`emit(data): data is not serializable JSON: ${errorText(e)}`));
    }
    return new Promise<void>((resolve, reject) => {
      this.request({ kind: "emit", channel, onReply: () => resolve(), onFail: reject }, { type: "emit", channel, data: copy });
    });
  }

  private nextKey(): string {
    this.keyCounter++;
    return `${this.keyPrefix}-${this.keyCounter.toString(36)}`;
  }
}
