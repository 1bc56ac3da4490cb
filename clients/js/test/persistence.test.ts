import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JsonObject } from "../src/json.js";
import {
  checksum,
  indexedDbPersistence,
  decodeRecord,
  encodeRecord,
  LifelinePersistenceError,
  PERSIST_INTERVAL_MS,
  type KeptChannel,
  type KeptLoad,
  type LifelinePersistence,
} from "../src/persistence.js";
import { flush } from "./support/fakeClock.js";
import { createHarness } from "./support/harness.js";

/** An in-memory storage that records each save (a copy of what was written). */
class MemoryStorage implements LifelinePersistence {
  readonly saves: KeptChannel[][] = [];
  failSave: Error | undefined;
  constructor(
    private readonly kept: KeptChannel[] = [],
    private readonly problems: LifelinePersistenceError[] = [],
    private readonly failLoad?: Error,
  ) {}
  load(): Promise<KeptLoad> {
    return this.failLoad !== undefined ? Promise.reject(this.failLoad) : Promise.resolve({ channels: this.kept, problems: this.problems });
  }
  save(channels: readonly KeptChannel[]): Promise<void> {
    if (this.failSave !== undefined) return Promise.reject(this.failSave);
    this.saves.push(JSON.parse(JSON.stringify(channels)) as KeptChannel[]);
    return Promise.resolve();
  }
}

const KEPT: KeptChannel = {
  channel: "doc",
  epoch: "e1",
  offset: 4,
  state: { title: "kept" },
  pending: [
    { key: "k-1", patch: { a: 1 } },
    { key: "k-2", patch: { b: 2 } },
  ],
};

describe("persistence: starting from what was kept", () => {
  it("the channel starts from the kept state (listeners see it, not synced, optimistic overlay), then connects, resumes with since and re-sends the kept publishes once, in order, with their keys", async () => {
    const storage = new MemoryStorage([KEPT]);
    const h = createHarness({ persistence: storage, optimistic: true });
    assert.equal(h.sockets.length, 0, "no attempt before the kept state is loaded");
    const channel = h.client.channel("doc");
    const seen: JsonObject[] = [];
    channel.subscribe((s) => seen.push(s));
    await flush();
    assert.deepEqual(channel.confirmed, { title: "kept" });
    assert.deepEqual(channel.state, { title: "kept", a: 1, b: 2 });
    assert.equal(channel.offset, 4);
    assert.equal(channel.synced, false);
    assert.equal(channel.pending, 2);
    assert.deepEqual(seen.at(-1), { title: "kept", a: 1, b: 2 });
    assert.equal(h.sockets.length, 1, "connects once loaded");

    h.socket().welcome();
    await flush();
    assert.deepEqual(h.socket().last("subscribe")["since"], { epoch: "e1", offset: 4 });
    const publishes = h.socket().ofType("publish");
    assert.deepEqual(
      publishes.map((p) => [p["key"], p["patch"]]),
      [
        ["k-1", { a: 1 }],
        ["k-2", { b: 2 }],
      ],
    );
    // The server: recovered from 4, the two publishes applied at 5 and 6.
    const sub = h.socket().last("subscribe");
    h.socket().receive({ type: "subscribed", id: sub["id"] as number, channel: "doc", epoch: "e1", offset: 6, recovered: true });
    h.socket().receive({ type: "reply", id: publishes[0]!["id"] as number, ok: true, offset: 5 }, { type: "reply", id: publishes[1]!["id"] as number, ok: true, offset: 6 });
    h.socket().receive({ type: "delta", channel: "doc", offset: 5, patch: { a: 1 }, ts: 1 }, { type: "delta", channel: "doc", offset: 6, patch: { b: 2 }, ts: 1 });
    assert.equal(channel.synced, true);
    assert.equal(channel.pending, 0);
    assert.deepEqual(channel.confirmed, { title: "kept", a: 1, b: 2 });
    assert.equal(h.socket().ofType("publish").length, 2, "each kept publish sent once");

    // What is written afterwards: the confirmed state at 6, nothing pending.
    h.clock.advance(PERSIST_INTERVAL_MS);
    await flush();
    assert.deepEqual(storage.saves.at(-1), [{ channel: "doc", epoch: "e1", offset: 6, state: { title: "kept", a: 1, b: 2 }, pending: [] }]);
    assert.deepEqual(h.errors, []);
  });

  it("changes are written batched, at most every 100 ms, with the pending publishes and their keys", async () => {
    const storage = new MemoryStorage();
    const h = createHarness({ persistence: storage });
    await flush();
    const channel = h.client.channel("doc");
    channel.subscribe(() => {});
    void channel.publish({ x: 1 }, { key: "mine-1" }).catch(() => {});
    void channel.publish({ y: 2 }, { key: "mine-2", if: { epoch: "e1", offset: 0 } }).catch(() => {});
    h.clock.advance(PERSIST_INTERVAL_MS - 1);
    await flush();
    assert.equal(storage.saves.length, 0, "not before 100 ms");
    h.clock.advance(1);
    await flush();
    assert.equal(storage.saves.length, 1, "one write for both changes");
    assert.deepEqual(storage.saves[0], [
      { channel: "doc", state: {}, pending: [{ key: "mine-1", patch: { x: 1 } }, { key: "mine-2", patch: { y: 2 }, if: { epoch: "e1", offset: 0 } }] },
    ]);
    h.clock.advance(10 * PERSIST_INTERVAL_MS);
    await flush();
    assert.equal(storage.saves.length, 1, "nothing changed: nothing written");
    h.client.close();
  });

  it("a failed write is reported once (LifelinePersistenceError) and the client goes on without persistence", async () => {
    const storage = new MemoryStorage();
    const h = createHarness({ persistence: storage });
    await flush();
    h.socket().welcome();
    storage.failSave = new Error("QuotaExceededError");
    const channel = h.client.channel("doc");
    void channel.publish({ x: 1 }).catch(() => {});
    h.clock.advance(PERSIST_INTERVAL_MS);
    await flush();
    assert.equal(h.errors.length, 1);
    assert.ok(h.errors[0] instanceof LifelinePersistenceError);
    assert.equal(h.errors[0]!.code, "persistence");
    assert.match(h.errors[0]!.message, /QuotaExceededError/);
    storage.failSave = undefined;
    void channel.publish({ x: 2 }).catch(() => {});
    h.clock.advance(10 * PERSIST_INTERVAL_MS);
    await flush();
    assert.equal(storage.saves.length, 0, "persistence is off");
    assert.equal(h.socket().ofType("publish").length, 2, "the client goes on");
    assert.equal(h.errors.length, 1);
    h.client.close();
  });

  it("a failed load is reported and the client connects without kept state", async () => {
    const h = createHarness({ persistence: new MemoryStorage([], [], new Error("private mode")) });
    await flush();
    assert.equal(h.sockets.length, 1);
    assert.equal(h.errors.length, 1);
    assert.match(h.errors[0]!.message, /private mode/);
    assert.deepEqual(h.client.channel("doc").state, {});
    h.client.close();
  });

  it("a corrupt record is reported and ignored; the others are restored", async () => {
    const problem = new LifelinePersistenceError('kept record of channel "bad" ignored: checksum mismatch');
    const h = createHarness({ persistence: new MemoryStorage([KEPT], [problem]) });
    await flush();
    assert.deepEqual(h.errors, [problem]);
    assert.deepEqual(h.client.channel("doc").state, { title: "kept" });
    h.client.close();
  });

  it("close() while loading: no attempt afterwards", async () => {
    const h = createHarness({ persistence: new MemoryStorage([KEPT]) });
    h.client.close();
    await flush();
    assert.equal(h.sockets.length, 0);
    assert.equal(h.client.state, "closed");
  });
});

describe("persistence: IndexedDB unavailable", () => {
  it("no IndexedDB here (Node), or one that refuses to open (private mode): reported once, the client connects without persistence", async () => {
    const refusing = { open: () => { throw new Error("InvalidStateError: private mode"); } } as unknown as IDBFactory;
    for (const [persistence, message] of [
      [indexedDbPersistence("app", { journal: null }), /IndexedDB is not available here/],
      [indexedDbPersistence("app", { indexedDB: refusing, journal: null }), /IndexedDB refused to open: Error: InvalidStateError: private mode/],
    ] as const) {
      const h = createHarness({ persistence });
      await flush();
      assert.equal(h.sockets.length, 1, "connects anyway");
      assert.equal(h.errors.length, 1);
      assert.equal(h.errors[0]!.code, "persistence");
      assert.match(h.errors[0]!.message, message);
      h.socket().welcome();
      void h.client.channel("doc").publish({ x: 1 }).catch(() => {});
      h.clock.advance(10 * PERSIST_INTERVAL_MS);
      await flush();
      assert.equal(h.errors.length, 1, "nothing more: persistence is off");
      assert.equal(h.socket().ofType("publish").length, 1);
      h.client.close();
    }
  });

  it("indexedDbPersistence needs a name", () => {
    assert.throws(() => indexedDbPersistence(""), /name must be a non-empty string/);
  });
});

describe("persistence: pagehide", () => {
  it("pagehide keeps the changed channels and those of a write still in flight synchronously (saveNow), at once", async () => {
    const handlers = new Map<string, () => void>();
    const g = globalThis as { addEventListener?: unknown; removeEventListener?: unknown };
    g.addEventListener = (type: string, fn: () => void) => handlers.set(type, fn);
    g.removeEventListener = (type: string) => handlers.delete(type);
    try {
      const now: KeptChannel[][] = [];
      let finishSave: (() => void) | undefined;
      const storage: LifelinePersistence = {
        load: () => Promise.resolve({ channels: [], problems: [] }),
        save: () => new Promise<void>((resolve) => (finishSave = resolve)), // stays in flight
        saveNow: (channels) => void now.push(JSON.parse(JSON.stringify(channels)) as KeptChannel[]),
      };
      const h = createHarness({ persistence: storage });
      await flush();
      void h.client.channel("a").publish({ x: 1 }, { key: "ka" }).catch(() => {});
      h.clock.advance(PERSIST_INTERVAL_MS); // "a" is being written
      await flush();
      assert.notEqual(finishSave, undefined);
      void h.client.channel("b").publish({ y: 1 }, { key: "kb" }).catch(() => {});
      handlers.get("pagehide")!();
      assert.equal(now.length, 1, "synchronously, in the pagehide handler");
      assert.deepEqual(now[0]!.map((c) => [c.channel, c.pending.map((p) => p.key)]).sort(), [
        ["a", ["ka"]],
        ["b", ["kb"]],
      ]);
      h.client.close();
    } finally {
      delete g.addEventListener;
      delete g.removeEventListener;
    }
  });
});

describe("persistence: the record format", () => {
  it("round-trips; a record of another version, with a wrong checksum, torn, or of another channel is refused with the reason", () => {
    const stored = (body: string, at = 1) => ({ v: 1, at, sum: checksum(`${at}\n${body}`), body });
    const record = encodeRecord(KEPT, 1234);
    assert.deepEqual(record, stored(JSON.stringify(KEPT), 1234));
    assert.deepEqual(decodeRecord("doc", record), KEPT);
    assert.throws(() => decodeRecord("doc", { ...record, v: 2 }), /version 2, expected 1/);
    assert.throws(() => decodeRecord("doc", { ...record, body: record.body.replace("kept", "kepT") }), /checksum mismatch/);
    assert.throws(() => decodeRecord("doc", { ...record, at: 1235 }), /checksum mismatch/, "the time is under the checksum too");
    const torn = record.body.slice(0, 20);
    assert.throws(() => decodeRecord("doc", stored(torn)), /not JSON/);
    assert.throws(() => decodeRecord("other", record), /another channel's record/);
    assert.throws(() => decodeRecord("doc", "text"), /not a record/);
    const half = JSON.stringify({ channel: "doc", epoch: "e1", state: {}, pending: [] });
    assert.throws(() => decodeRecord("doc", stored(half)), /half a position/);
    const noKey = JSON.stringify({ channel: "doc", state: {}, pending: [{ patch: {} }] });
    assert.throws(() => decodeRecord("doc", stored(noKey)), /without key or patch/);
  });
});
