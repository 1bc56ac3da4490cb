import { LifelineError } from "./errors.js";
import { isJsonObject, type JsonObject } from "./json.js";

/** A publish that was not confirmed yet when it was kept: re-sent after a reload with the same key (exactly once). */
export interface KeptPublish {
  readonly key: string;
  readonly patch: JsonObject;
  readonly if?: { readonly epoch: string; readonly offset: number };
}

/** What is kept of one channel: its confirmed state, its position and its pending publishes in order. */
export interface KeptChannel {
  readonly channel: string;
  /** The position of `state`; absent before the first snapshot. */
  readonly epoch?: string;
  readonly offset?: number;
  readonly state: JsonObject;
  readonly pending: readonly KeptPublish[];
}

/** What `load` found: the channels that were read back whole, and one error per record that was not. */
export interface KeptLoad {
  readonly channels: readonly KeptChannel[];
  readonly problems: readonly LifelinePersistenceError[];
}

/**
 * Where a client keeps its channels across page reloads (client option `persistence`). `indexedDbPersistence` is the
 * browser's; another storage implements the same two calls. `load` is called once, before the first connection
 * attempt; `save` with the channels that changed (a whole record each), never two at a time.
 */
export interface LifelinePersistence {
  load(): Promise<KeptLoad>;
  save(channels: readonly KeptChannel[]): Promise<void>;
  /**
   * Optional: keeps `channels` synchronously (called on `pagehide`, when an asynchronous write may not finish before
   * the page goes); throws when it cannot. Without it, `save` is called.
   */
  saveNow?(channels: readonly KeptChannel[]): void;
}

/** Kept state could not be read or written (code `persistence`): the client goes on without it. */
export class LifelinePersistenceError extends LifelineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("persistence", message, options);
    this.name = "LifelinePersistenceError";
  }
}

/** The version of the record format; a record of another version is reported and ignored. */
export const PERSISTENCE_VERSION = 1;

/** Changes are written at most this often (and at once on `pagehide`). */
export const PERSIST_INTERVAL_MS = 100;

/** A record as stored: the channel as JSON text, with the format version, when it was made, and a checksum of both. */
export interface StoredRecord {
  readonly v: number;
  /** Unix ms when the record was made: of two copies of a channel (IndexedDB, the pagehide journal) the later wins. */
  readonly at: number;
  readonly sum: string;
  readonly body: string;
}

/** FNV-1a (32 bits) of the UTF-16 code units, as 8 hex digits: detects a torn or altered record. */
export function checksum(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

export function encodeRecord(kept: KeptChannel, at: number = Date.now()): StoredRecord {
  const body = JSON.stringify(kept);
  return { v: PERSISTENCE_VERSION, at, sum: checksum(`${at}\n${body}`), body };
}

/** The channel of a stored record; throws a LifelinePersistenceError saying what is wrong with it. */
export function decodeRecord(name: string, value: unknown): KeptChannel {
  return decodeStored(name, value).kept;
}

function decodeStored(name: string, value: unknown): { kept: KeptChannel; at: number } {
  const bad = (why: string) => new LifelinePersistenceError(`kept record of channel "${name}" ignored: ${why}`);
  if (typeof value !== "object" || value === null) throw bad("not a record");
  const { v, at, sum, body } = value as Partial<StoredRecord>;
  if (v !== PERSISTENCE_VERSION) throw bad(`version ${String(v)}, expected ${PERSISTENCE_VERSION}`);
  if (typeof body !== "string" || typeof sum !== "string" || typeof at !== "number") throw bad("not a record");
  if (checksum(`${at}\n${body}`) !== sum) throw bad("checksum mismatch (a corrupt or partly written record)");
  let kept: unknown;
  try {
    kept = JSON.parse(body);
  } catch {
    throw bad("not JSON");
  }
  const problem = checkKept(kept);
  if (problem !== undefined || (kept as KeptChannel).channel !== name) throw bad(problem ?? "another channel's record");
  return { kept: kept as KeptChannel, at };
}

function checkKept(value: unknown): string | undefined {
  if (!isJsonObject(value)) return "not an object";
  const { channel, epoch, offset, state, pending } = value as Record<string, unknown>;
  if (typeof channel !== "string" || channel.length === 0) return "no channel name";
  if ((epoch === undefined) !== (offset === undefined)) return "half a position";
  if (epoch !== undefined && typeof epoch !== "string") return "bad epoch";
  if (offset !== undefined && (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0)) return "bad offset";
  if (!isJsonObject(state)) return "state is not an object";
  if (!Array.isArray(pending)) return "pending is not a list";
  for (const p of pending as unknown[]) {
    if (!isJsonObject(p)) return "a pending publish is not an object";
    const { key, patch } = p as Record<string, unknown>;
    if (typeof key !== "string" || key.length === 0 || !isJsonObject(patch)) return "a pending publish without key or patch";
  }
  return undefined;
}

/** Options of {@link indexedDbPersistence}. */
export interface IndexedDbPersistenceOptions {
  /** The IndexedDB factory; default `globalThis.indexedDB`. */
  readonly indexedDB?: IDBFactory;
  /**
   * Where `pagehide` writes synchronously (an IndexedDB write started then may be lost when the page goes); default
   * `globalThis.localStorage`, `null` for none. Its entries (`lifeline:<name>:<channel>`) are removed once IndexedDB
   * holds the same or a later record.
   */
  readonly journal?: Storage | null;
}

const STORE = "channels";

/**
 * Keeps the client's channels in IndexedDB, in the database `lifeline:<name>` (one record per channel, with a
 * version and a checksum). Use a name per application (and per user, when users share a browser).
 */
export function indexedDbPersistence(name: string, options: IndexedDbPersistenceOptions = {}): LifelinePersistence {
  if (typeof name !== "string" || name.length === 0) throw new TypeError("indexedDbPersistence(name): name must be a non-empty string");
  let db: Promise<IDBDatabase> | undefined;
  let opened: IDBDatabase | undefined;
  const open = (): Promise<IDBDatabase> =>
    (db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
      if (factory === undefined) {
        reject(new LifelinePersistenceError("IndexedDB is not available here"));
        return;
      }
      let request: IDBOpenDBRequest;
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

  const journal: Storage | null =
    options.journal !== undefined ? options.journal : ((globalThis as { localStorage?: Storage }).localStorage ?? null);
  const journalPrefix = `lifeline:${name}:`;

  /** The pagehide journal: channel -> its record (and its key), read as stored. */
  const readJournal = (): Map<string, { key: string; value: unknown }> => {
    const entries = new Map<string, { key: string; value: unknown }>();
    if (journal === null) return entries;
    for (let i = 0; i < journal.length; i++) {
      const key = journal.key(i);
      if (key === null || !key.startsWith(journalPrefix)) continue;
      let value: unknown;
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
    async load(): Promise<KeptLoad> {
      const database = await open();
      const stored = await new Promise<Map<string, unknown>>((resolve, reject) => {
        const values = new Map<string, unknown>();
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
      const problems: LifelinePersistenceError[] = [];
      const decode = (channel: string, value: unknown) => {
        try {
          return decodeStored(channel, value);
        } catch (e) {
          problems.push(e instanceof LifelinePersistenceError ? e : new LifelinePersistenceError(String(e), { cause: e }));
          return undefined;
        }
      };
      const best = new Map<string, { kept: KeptChannel; at: number }>();
      for (const [channel, value] of stored) {
        const record = decode(channel, value);
        if (record !== undefined) best.set(channel, record);
      }
      // A journal entry written on pagehide is newer than what IndexedDB has unless IndexedDB caught up.
      for (const [channel, entry] of readJournal()) {
        const record = decode(channel, entry.value);
        if (record !== undefined && record.at >= (best.get(channel)?.at ?? -Infinity)) best.set(channel, record);
      }
      return { channels: [...best.values()].map((r) => r.kept), problems };
    },

    async save(channels: readonly KeptChannel[]): Promise<void> {
      // Once the database is open the transaction starts synchronously.
      const database = opened ?? (await open());
      const records = channels.map((kept) => ({ channel: kept.channel, record: encodeRecord(kept) }));
      await write(database, records);
      // IndexedDB has these records now: journal entries as old or older are not needed any more.
      if (journal === null) return;
      const entries = readJournal();
      for (const { channel, record } of records) {
        const entry = entries.get(channel);
        const at = (entry?.value as { at?: unknown } | null)?.at;
        if (entry !== undefined && (typeof at !== "number" || at <= record.at)) journal.removeItem(entry.key);
      }
    },

    saveNow(channels: readonly KeptChannel[]): void {
      const records = channels.map((kept) => ({ channel: kept.channel, record: encodeRecord(kept) }));
      if (journal !== null) {
        // Synchronous: done before the page goes. A quota error throws (reported; the client goes on without).
        for (const { channel, record } of records) journal.setItem(journalPrefix + channel, JSON.stringify(record));
      }
      // And IndexedDB, when it makes it in time.
      if (opened !== undefined) write(opened, records).catch(() => {});
    },
  };

  function write(database: IDBDatabase, records: ReadonlyArray<{ channel: string; record: StoredRecord }>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const tx = database.transaction(STORE, "readwrite");
      const store = tx.objectStore(STORE);
      for (const { channel, record } of records) store.put(record, channel);
      // Commit now rather than when the event loop comes back.
      (tx as { commit?: () => void }).commit?.();
      tx.oncomplete = () => resolve();
      // A quota error aborts the transaction: nothing of it is written (never half a record).
      const failed = () => reject(new LifelinePersistenceError(`writing kept state failed: ${String(tx.error)}`, { cause: tx.error }));
      tx.onerror = failed;
      tx.onabort = failed;
    });
  }
}
