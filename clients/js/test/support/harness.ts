import { LifelineClient } from "../../src/client.js";
import type { LifelineClientOptions, StateChange } from "../../src/options.js";
import type { LifelineError } from "../../src/errors.js";
import { FakeClock } from "./fakeClock.js";
import { FakeSocket } from "./fakeSocket.js";

export interface Harness {
  readonly client: LifelineClient;
  readonly clock: FakeClock;
  readonly sockets: FakeSocket[];
  readonly changes: StateChange[];
  readonly errors: LifelineError[];
  /** The socket of the latest attempt. */
  socket(): FakeSocket;
}

/** A client on fake time and fake sockets; jitter draws 0.5 unless `random` is given. */
export function createHarness(options: LifelineClientOptions = {}): Harness {
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  const changes: StateChange[] = [];
  const errors: LifelineError[] = [];
  const client = new LifelineClient("ws://test/ws", {
    clock,
    random: () => 0.5,
    // The transport fallback has its own tests (transport.test.ts); elsewhere a failed socket is just a failed attempt.
    transports: ["websocket"],
    onError: (e) => errors.push(e),
    webSocketFactory: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    ...options,
  });
  client.onStateChange((c) => changes.push(c));
  return {
    client,
    clock,
    sockets,
    changes,
    errors,
    socket() {
      const s = sockets[sockets.length - 1];
      if (s === undefined) throw new Error("no socket was created");
      return s;
    },
  };
}

/** A harness whose first connection is open (welcome received). */
export function openHarness(options: LifelineClientOptions = {}): Harness {
  const h = createHarness(options);
  h.socket().welcome();
  return h;
}

/** Drops the current connection with `code` and runs the reconnect delay; returns the new, welcomed socket. */
export function reconnect(h: Harness, code = 1006, session = "s1"): FakeSocket {
  h.socket().serverClose(code);
  const before = h.sockets.length;
  const change = h.changes[h.changes.length - 1];
  if (change?.to !== "reconnecting" || change.retryInMs === undefined) throw new Error("client is not reconnecting");
  h.clock.advance(change.retryInMs);
  if (h.sockets.length !== before + 1) throw new Error(`expected one new attempt, got ${h.sockets.length - before}`);
  return h.socket().welcome({ session, resumed: true });
}
