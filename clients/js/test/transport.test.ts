import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { HTTP_CLOSE_TIMEOUT_MS, HttpSocket, httpBaseUrl, MAX_BATCH_BYTES, takeBatch, utf8Length } from "../src/httpSocket.js";
import type { CloseEventLike } from "../src/socket.js";
import { TransportLadder } from "../src/transportLadder.js";
import { LifelineClosedError } from "../src/errors.js";
import { FakeClock, flush } from "./support/fakeClock.js";
import { FakeHttp, httpWelcome } from "./support/fakeHttp.js";
import { createHarness } from "./support/harness.js";

/** Lets the HTTP transport's promise chains run (each read and each request is a few promise hops). */
async function settle(): Promise<void> {
  for (let i = 0; i < 6; i++) await flush();
}

function openHttpSocket(kind: "http-stream" | "http-poll" = "http-stream", clock = new FakeClock()) {
  const http = new FakeHttp();
  const socket = new HttpSocket("ws://test/ws", kind, http.fetch, clock);
  const received: string[] = [];
  const closes: CloseEventLike[] = [];
  let opened = 0;
  socket.onopen = () => opened++;
  socket.onmessage = (e) => received.push(e.data as string);
  socket.onclose = (e) => closes.push(e);
  return { http, socket, received, closes, clock, opened: () => opened };
}

afterEach(() => TransportLadder.forgetAll());

describe("HttpSocket (PROTOCOL.md HTTP transport)", () => {
  it("maps the WebSocket URL to the HTTP endpoints", () => {
    assert.equal(httpBaseUrl("ws://h:5000/ws"), "http://h:5000/ws");
    assert.equal(httpBaseUrl("wss://h/live/ws?x=1"), "https://h/live/ws");
  });

  it("opens at once; the hello is the body of POST /stream; SSE events become messages; later sends go to /send with the capability, batched, one request at a time", async () => {
    const t = openHttpSocket();
    await flush();
    assert.equal(t.opened(), 1);
    t.socket.send('{"type":"hello","v":1}');
    t.socket.send('{"type":"subscribe","id":1,"channel":"a"}');
    const stream = t.http.last("/ws/stream");
    assert.equal(stream.url, "http://test/ws/stream");
    assert.equal(stream.init.method, "POST");
    assert.equal(stream.init.body, '{"type":"hello","v":1}', "the hello travels in the body, never in the URL");
    assert.equal(stream.init.headers["Content-Type"], "application/json");
    assert.equal(t.http.to("/ws/send").length, 0, "nothing is sent before the welcome gives the capability");

    stream.stream().events(httpWelcome("cap-1"));
    await settle();
    assert.equal(JSON.parse(t.received[0] ?? "{}").type, "welcome");
    const first = t.http.last("/ws/send");
    assert.equal(first.capability, "cap-1");
    assert.deepEqual(first.messages, [{ type: "subscribe", id: 1, channel: "a" }]);

    t.socket.send('{"type":"pong","n":1}');
    t.socket.send('{"type":"publish","id":2,"channel":"a","patch":{}}');
    await settle();
    assert.equal(t.http.to("/ws/send").length, 1, "one send request at a time");
    first.status(204);
    await settle();
    const second = t.http.last("/ws/send");
    assert.deepEqual(second.messages.map((m) => m["type"]), ["pong", "publish"], "queued messages go as one NDJSON body, in order");
  });

  it("parses SSE across chunk boundaries, CRLF, comments and multi-line data", async () => {
    const t = openHttpSocket();
    await flush();
    t.socket.send("{}");
    const stream = t.http.last("/ws/stream").stream();
    stream.write(": keep-alive\n\n").write('data: {"type":"ping",').write('"n":1}\r\n\r\ndata: {"type":"delta",\ndata: "channel":"a"}\n\n');
    await settle();
    assert.deepEqual(t.received, ['{"type":"ping","n":1}', '{"type":"delta",\n"channel":"a"}']);
  });

  it("a close event ends the connection with its code and reason and is not delivered as a message", async () => {
    const t = openHttpSocket();
    await flush();
    t.socket.send("{}");
    t.http.last("/ws/stream").stream().events(httpWelcome(), { type: "close", code: 4000, reason: "heartbeat_timeout" }).end();
    await settle();
    assert.equal(t.received.length, 1);
    assert.deepEqual(t.closes.map((c) => [c.code, c.reason]), [[4000, "heartbeat_timeout"]]);
    assert.equal(t.socket.readyState, 3);
  });

  it("a stream that ends without a close event is a lost connection (1006)", async () => {
    const t = openHttpSocket();
    await flush();
    t.socket.send("{}");
    t.http.last("/ws/stream").stream().events(httpWelcome()).end();
    await settle();
    assert.deepEqual(t.closes.map((c) => c.code), [1006]);
  });

  it("a refused stream (403), a send answered 404, and a network error each end the connection as 1006", async () => {
    const refused = openHttpSocket();
    await flush();
    refused.socket.send("{}");
    refused.http.last("/ws/stream").status(403);
    await settle();
    assert.deepEqual(refused.closes.map((c) => [c.code, c.reason]), [[1006, "http_403"]]);
    assert.equal(refused.socket.responded, false);

    const gone = openHttpSocket();
    await flush();
    gone.socket.send("{}");
    gone.http.last("/ws/stream").stream().events(httpWelcome());
    await settle();
    gone.socket.send('{"type":"pong","n":1}');
    await settle();
    gone.http.last("/ws/send").status(404);
    await settle();
    assert.deepEqual(gone.closes.map((c) => [c.code, c.reason]), [[1006, "connection_gone"]]);

    const down = openHttpSocket();
    await flush();
    down.socket.send("{}");
    down.http.last("/ws/stream").networkError();
    await settle();
    assert.deepEqual(down.closes.map((c) => c.code), [1006]);
  });

  for (const kind of ["http-stream", "http-poll"] as const) {
    it(`${kind}: close() posts {type:close,code:1000} on a request the end of the connection does not abort; the stream (or poll) is dropped only once it is answered`, async () => {
      const t = openHttpSocket(kind);
      await flush();
      t.socket.send("{}");
      const open = t.http.last("/ws/stream").stream().events(httpWelcome("cap-9"));
      if (kind === "http-poll") open.end();
      await settle();
      const held = kind === "http-stream" ? open : t.http.last("/ws/poll");
      t.socket.close(1000, "bye");
      await settle();
      assert.deepEqual(t.closes.map((c) => [c.code, c.reason, c.wasClean]), [[1000, "bye", true]], "the close is reported at once");
      const close = t.http.last("/ws/send");
      assert.equal(close.capability, "cap-9");
      assert.deepEqual(close.messages, [{ type: "close", code: 1000 }]);
      assert.notEqual(close.init.signal, held.init.signal, "the close has a signal of its own");
      assert.equal(close.init.signal?.aborted, false);
      assert.equal(held.init.signal?.aborted, false, "the stream stays until the server has the close");
      if (kind === "http-stream") open.events({ type: "ping", n: 2 });
      else held.stream().events({ type: "ping", n: 2 }).end();
      await settle();
      assert.equal(t.received.length, 1, "nothing is delivered after close()");
      assert.equal(t.http.to("/ws/poll").length, kind === "http-poll" ? 1 : 0, "no poll after close()");
      close.status(204);
      await settle();
      assert.equal(held.init.signal?.aborted, true, "then it is dropped");
      assert.equal(close.init.signal?.aborted, false, "the answered close was not cancelled");
      assert.equal(t.clock.pending, 0, "the bound's timer is cleared");
      assert.deepEqual(t.closes.map((c) => c.code), [1000], "reported once");
      assert.throws(() => t.socket.send("{}"));
    });
  }

  it(`close(): a server that does not answer the close holds the stream at most HTTP_CLOSE_TIMEOUT_MS (${HTTP_CLOSE_TIMEOUT_MS} ms); a failed close drops it at once`, async () => {
    const t = openHttpSocket();
    await flush();
    t.socket.send("{}");
    const open = t.http.last("/ws/stream").stream().events(httpWelcome("cap-9"));
    await settle();
    t.socket.close();
    await settle();
    const close = t.http.last("/ws/send");
    assert.deepEqual(close.messages, [{ type: "close", code: 1000 }]);
    t.clock.advance(HTTP_CLOSE_TIMEOUT_MS - 1);
    await settle();
    assert.equal(open.init.signal?.aborted, false);
    t.clock.advance(1);
    await settle();
    assert.equal(close.init.signal?.aborted, true, "the close request is cancelled at the bound");
    assert.equal(open.init.signal?.aborted, true, "and the stream dropped");

    const u = openHttpSocket();
    await flush();
    u.socket.send("{}");
    const stream = u.http.last("/ws/stream").stream().events(httpWelcome("cap-8"));
    await settle();
    u.socket.close();
    await settle();
    u.http.last("/ws/send").networkError();
    await settle();
    assert.equal(stream.init.signal?.aborted, true, "a failed close drops the stream without waiting for the bound");
  });

  it("close() while a send is in flight: the close goes after it is answered (one request at a time); what is still queued is not sent", async () => {
    const t = openHttpSocket();
    await flush();
    t.socket.send("{}");
    const open = t.http.last("/ws/stream").stream().events(httpWelcome("cap-7"));
    await settle();
    t.socket.send('{"type":"publish","id":"1"}');
    await settle();
    const inFlight = t.http.last("/ws/send");
    t.socket.send('{"type":"publish","id":"2"}'); // queued behind the request in flight
    t.socket.close();
    await settle();
    assert.equal(t.http.to("/ws/send").length, 1, "no second request while one is in flight");
    assert.equal(inFlight.init.signal?.aborted, false, "the send in flight is not cancelled");
    inFlight.status(204);
    await settle();
    const sends = t.http.to("/ws/send");
    assert.equal(sends.length, 2);
    assert.deepEqual(sends[1]?.messages, [{ type: "close", code: 1000 }], "the close, not the queued publish");
    sends[1]?.status(204);
    await settle();
    assert.equal(open.init.signal?.aborted, true);
  });

  it("close() before the welcome (no send capability yet): nothing to tell, the stream request is dropped at once", async () => {
    const t = openHttpSocket();
    await flush();
    t.socket.send("{}");
    const open = t.http.last("/ws/stream");
    t.socket.close();
    await settle();
    assert.equal(t.http.to("/ws/send").length, 0);
    assert.equal(open.init.signal?.aborted, true);
    assert.deepEqual(t.closes.map((c) => c.code), [1000]);
  });

  it("client.close() over HTTP: the server gets {type:close,code:1000} before the stream is dropped; closed says which transport", async () => {
    const http = new FakeHttp();
    const h = createHarness({ transports: ["http-stream"], fetch: http.fetch });
    await settle();
    const open = http.last("/ws/stream").stream().events(httpWelcome("cap-c"));
    await settle();
    assert.equal(h.client.state, "open");
    h.client.close();
    await settle();
    assert.equal(h.client.state, "closed", "closed at once, not after the server answers");
    const last = h.changes.at(-1);
    assert.deepEqual([last?.from, last?.to, last?.reason, last?.initiator, last?.transport], ["open", "closed", "client_close", "client", "http-stream"]);
    const close = http.last("/ws/send");
    assert.deepEqual(close.messages, [{ type: "close", code: 1000 }]);
    assert.equal(close.capability, "cap-c");
    assert.equal(close.init.signal?.aborted, false);
    assert.equal(open.init.signal?.aborted, false, "the stream stays until the server has the close");
    close.status(204);
    await settle();
    assert.equal(open.init.signal?.aborted, true);
    h.clock.advance(10 * 60_000);
    await settle();
    assert.equal(http.to("/ws/stream").length, 1, "no reconnect");
  });

  it("every closed state change names the transport: client.close() and a close that is not retried (4001), over a WebSocket", () => {
    const h = createHarness();
    h.socket().welcome();
    h.client.close();
    assert.deepEqual([h.changes.at(-1)?.to, h.changes.at(-1)?.transport], ["closed", "websocket"]);
    const g = createHarness();
    g.socket().welcome();
    g.socket().serverClose(4001, "unauthorized");
    assert.deepEqual([g.changes.at(-1)?.to, g.changes.at(-1)?.code, g.changes.at(-1)?.transport], ["closed", 4001, "websocket"]);
  });

  it("abandoning a connection believed dead (watchdog, 4000): the close is tried, bounded, beside the reconnect, which it never delays", async () => {
    const http = new FakeHttp();
    const h = createHarness({ transports: ["http-stream"], fetch: http.fetch });
    await settle();
    const open = http.last("/ws/stream").stream().events(httpWelcome("cap-d", "s1", { heartbeat: { intervalMs: 1000, timeoutMs: 1000 } }));
    await settle();
    assert.equal(h.client.state, "open");
    // The server went silent: the watchdog fires.
    for (let i = 0; i < 100 && h.client.state === "open"; i++) {
      h.clock.advance(100);
      await settle();
    }
    const lost = h.changes.at(-1);
    assert.deepEqual([lost?.to, lost?.reason, lost?.transport], ["reconnecting", "watchdog", "http-stream"], "reconnecting at once");
    const close = http.last("/ws/send");
    assert.deepEqual(close.messages, [{ type: "close", code: 4000 }]);
    assert.equal(close.init.signal?.aborted, false);
    assert.equal(open.init.signal?.aborted, false);
    h.clock.advance(HTTP_CLOSE_TIMEOUT_MS);
    await settle();
    assert.equal(close.init.signal?.aborted, true, "the unanswered close is given up at the bound");
    assert.equal(open.init.signal?.aborted, true, "and the old stream dropped");
    const retryInMs = lost?.retryInMs ?? 0;
    h.clock.advance(retryInMs);
    await settle();
    assert.equal(http.to("/ws/stream").length, 2, "the next attempt went on its own schedule");
    const resume = http.last("/ws/stream").messages[0];
    assert.equal(resume?.["resume"], "s1");
  });

  it("a send body holds at most MAX_BATCH_BYTES (32 KiB, under the server's default 64 KiB limit) unless one message is larger", () => {
    assert.equal(MAX_BATCH_BYTES, 32 * 1024);
    assert.equal(utf8Length("aé€😀"), 1 + 2 + 3 + 4);
    const outgoing = ["a".repeat(10), "b".repeat(10), "c".repeat(10), "d".repeat(100), "e".repeat(5)];
    // 10 + "\n" + 10 = 21 bytes: two fit in 21, the third would make 32.
    assert.deepEqual(takeBatch(outgoing, 21).map((m) => m.length), [10, 10]);
    assert.deepEqual(takeBatch(outgoing, 21).map((m) => m.length), [10]);
    assert.deepEqual(takeBatch(outgoing, 21).map((m) => m.length), [100], "a message larger than the bound goes alone");
    assert.deepEqual(takeBatch(outgoing, 21).map((m) => m.length), [5]);
    assert.equal(outgoing.length, 0);
  });

  it("a burst larger than the send limit goes in bodies under it; a batch answered 413 is sent again one message a body, in order, on the same connection", async () => {
    const t = openHttpSocket();
    await flush();
    t.socket.send('{"type":"hello","v":1}');
    t.http.last("/ws/stream").stream().events(httpWelcome("cap-b"));
    await settle();
    t.socket.send('{"type":"ping","n":0}');
    await settle();
    const pad = "x".repeat(1000);
    for (let i = 1; i <= 60; i++) t.socket.send(JSON.stringify({ type: "publish", id: i, channel: "a", key: `k${i}`, patch: { pad } }));
    t.http.last("/ws/send").status(204);
    await settle();

    // 60 KB queued: the first body stays within 32 KiB.
    const first = t.http.last("/ws/send");
    assert.ok(utf8Length(first.init.body) <= MAX_BATCH_BYTES, `body of ${utf8Length(first.init.body)} bytes`);
    assert.ok(first.messages.length > 1);
    const firstIds = first.messages.map((m) => m["id"]);

    // A server with a lower limit refuses it with 413 (nothing applied): the same messages again, one per body.
    first.status(413);
    await settle();
    const ids: unknown[] = [];
    for (let i = 0; i < 60; i++) {
      const send = t.http.last("/ws/send");
      assert.equal(send.messages.length, 1, "one message a body after a 413");
      ids.push(send.messages[0]?.["id"]);
      send.status(204);
      await settle();
    }
    assert.deepEqual(ids.slice(0, firstIds.length), firstIds, "the refused messages go first, in order");
    assert.deepEqual(ids, Array.from({ length: 60 }, (_, i) => i + 1));
    assert.equal(t.closes.length, 0, "the connection stays open");
  });

  for (const kind of ["http-stream", "http-poll"] as const) {
    it(`${kind}: one message answered 413 is a close 1009 message_too_big, as over a WebSocket: sent once, the server told, closed, no reconnect`, async () => {
      const http = new FakeHttp();
      const h = createHarness({ transports: [kind], fetch: http.fetch });
      await settle();
      const open = http.last("/ws/stream");
      const stream = open.stream().events(httpWelcome("cap-big"));
      if (kind === "http-poll") stream.end();
      await settle();
      assert.equal(h.client.state, "open");
      /** Server messages: on the stream, or as the answer to the poll in flight. */
      const deliver = async (...messages: Record<string, unknown>[]) => {
        if (kind === "http-stream") stream.events(...messages);
        else http.last("/ws/poll").stream().events(...messages).end();
        await settle();
      };
      const channel = h.client.channel("room");

      // A normal publish first: sent, acknowledged.
      const first = channel.publish({ n: 1 });
      await settle();
      const firstSend = http.last("/ws/send");
      const firstId = firstSend.messages[0]?.["id"];
      assert.equal(firstSend.messages[0]?.["type"], "publish");
      firstSend.status(204);
      await deliver({ type: "reply", id: firstId, ok: true, offset: 1 });
      assert.equal(await first, 1);

      // One message over the server's limit: 413.
      const big = assert.rejects(channel.publish({ pad: "x".repeat(70_000) }), LifelineClosedError);
      await settle();
      const bigSend = http.last("/ws/send");
      assert.deepEqual(bigSend.messages.map((m) => m["type"]), ["publish"]);
      bigSend.status(413);
      await settle();

      // Closed at once with 1009, as a WebSocket close 1009 from the server: the publish rejected, no reconnect.
      assert.equal(h.client.state, "closed");
      const last = h.changes.at(-1);
      assert.deepEqual([last?.to, last?.code, last?.reason, last?.initiator], ["closed", 1009, "message_too_big", "server"]);
      assert.equal(h.client.transport, kind);
      await big;

      // The server is told, before the stream (or the poll in flight) is dropped.
      const close = http.last("/ws/send");
      assert.notEqual(close, bigSend);
      assert.deepEqual(close.messages, [{ type: "close", code: 1009, reason: "message_too_big" }]);
      assert.equal(close.capability, "cap-big");
      assert.equal(close.init.signal?.aborted, false, "the close is not aborted by the end of the connection");
      const held = kind === "http-stream" ? open : http.last("/ws/poll");
      assert.equal(held.init.signal?.aborted, false, "the stream stays until the server has the close");
      close.status(204);
      await settle();
      assert.equal(held.init.signal?.aborted, true, "then it is dropped");

      h.clock.advance(10 * 60_000);
      await settle();
      assert.equal(http.to("/ws/stream").length, 1, "no reconnect");
      const bigBodies = http.to("/ws/send").filter((r) => r.init.body.includes('"pad"'));
      assert.equal(bigBodies.length, 1, "the oversized message went exactly once");
      assert.equal(h.changes.filter((c) => c.to === "reconnecting").length, 0);
      assert.equal(h.client.state, "closed");
    });
  }

  it("long polling: POST /stream?poll=1 with the hello, then POST /poll with the capability after each batch, until 404", async () => {
    const t = openHttpSocket("http-poll");
    await flush();
    t.socket.send('{"type":"hello"}');
    const open = t.http.last("/ws/stream");
    assert.equal(open.path, "/ws/stream?poll=1");
    open.stream().events(httpWelcome("cap-p")).end();
    await settle();
    const poll1 = t.http.last("/ws/poll");
    assert.equal(poll1.capability, "cap-p");
    poll1.stream().events({ type: "ping", n: 1 }, { type: "delta", channel: "a", offset: 1, patch: {} }).end();
    await settle();
    assert.deepEqual(t.received.map((r) => JSON.parse(r).type), ["welcome", "ping", "delta"]);
    assert.equal(t.http.to("/ws/poll").length, 2, "the next poll follows the batch");
    t.http.last("/ws/poll").status(404);
    await settle();
    assert.deepEqual(t.closes.map((c) => [c.code, c.reason]), [[1006, "connection_gone"]]);
  });
});

describe("transport fallback (PROTOCOL.md Choosing)", () => {
  /**
   * Two WebSocket attempts in a row that never open (a browser sees a refused upgrade and a network that is down alike):
   * the first is an ordinary failed attempt, the second falls back to the stream at once.
   */
  async function fallToStream(h: ReturnType<typeof createHarness>) {
    h.socket().serverClose(1006);
    h.clock.advance(h.changes.at(-1)?.retryInMs ?? 0);
    h.socket().serverClose(1006);
    h.clock.advance(0);
    await flush();
  }

  function fallbackHarness(transportProbeIntervalMs = 300_000) {
    const http = new FakeHttp();
    const h = createHarness({ transports: ["websocket", "http-stream", "http-poll"], fetch: http.fetch, transportProbeIntervalMs });
    return { h, http };
  }

  it("a WebSocket that never opens twice in a row (a refused upgrade) falls back to the stream at once; the client opens on it and says so", async () => {
    const { h, http } = fallbackHarness();
    assert.equal(h.client.transport, "websocket");
    h.socket().fail().serverClose(1006);
    const first = h.changes.at(-1);
    assert.ok((first?.retryInMs ?? 0) > 0, "one socket that never opened is an ordinary failed attempt (it may be the network)");
    h.clock.advance(first?.retryInMs ?? 0);
    await flush();
    assert.equal(http.to("/ws/stream").length, 0, "no stream after one failure");
    assert.equal(h.client.transport, "websocket");
    h.socket().fail().serverClose(1006);
    assert.equal(h.client.state, "reconnecting");
    h.clock.advance(0); // a fallback is not a backed-off retry: it goes at once
    await flush();
    assert.equal(http.to("/ws/stream").length, 1, "the second failure in a row falls back at once");
    assert.equal(h.client.transport, "http-stream");
    const stream = http.last("/ws/stream");
    assert.equal(JSON.parse(stream.init.body).type, "hello");
    stream.stream().events(httpWelcome());
    await settle();
    assert.equal(h.client.state, "open");
    assert.equal(h.changes.at(-1)?.transport, "http-stream");
  });

  it("a WebSocket that opens but brings no welcome twice falls back; once is just a retry", async () => {
    const { h, http } = fallbackHarness();
    h.socket().open();
    h.clock.advance(15_000);
    assert.ok((h.changes.at(-1)?.retryInMs ?? 0) > 0, "the first silent open is an ordinary failed attempt");
    h.clock.advance(h.changes.at(-1)?.retryInMs ?? 0);
    h.socket().open();
    assert.equal(http.to("/ws/stream").length, 0);
    h.clock.advance(15_000);
    h.clock.advance(0);
    await flush();
    assert.equal(http.to("/ws/stream").length, 1, "the second silent open falls back at once");
  });

  it("a stream that answers but delivers no welcome within the connect timeout falls back to long polling", async () => {
    const { h, http } = fallbackHarness();
    await fallToStream(h);
    http.last("/ws/stream").stream(); // a buffering proxy: headers, then nothing
    await settle();
    h.clock.advance(15_000);
    h.clock.advance(0); // the fallback goes at once
    await flush();
    assert.equal(h.client.transport, "http-poll");
    const poll = http.last("/ws/stream?poll=1");
    poll.stream().events(httpWelcome()).end();
    await settle();
    assert.equal(h.client.state, "open");
    assert.equal(h.client.transport, "http-poll");
  });

  it("a stream whose response head is held too (a proxy that buffers the whole response) falls back to long polling", async () => {
    const { h, http } = fallbackHarness();
    await fallToStream(h);
    assert.equal(http.to("/ws/stream").length, 1); // never answered: nginx with gzip holds even the head
    h.clock.advance(15_000);
    h.clock.advance(0); // a fallback, not a backed-off retry: at once
    await flush();
    assert.equal(h.client.transport, "http-poll");
    http.last("/ws/stream?poll=1").stream().events(httpWelcome()).end();
    await settle();
    assert.equal(h.client.state, "open");
    assert.equal(h.client.transport, "http-poll");
  });

  it("a stream refused with an HTTP error (a proxy's 502 while the server is down) is not a buffering proxy: back to the WebSocket after the backoff", async () => {
    const { h, http } = fallbackHarness();
    await fallToStream(h);
    http.last("/ws/stream").status(502);
    await settle();
    const sockets = h.sockets.length;
    assert.equal(http.to("/ws/stream?poll=1").length, 0);
    h.clock.advance(1000);
    assert.equal(h.sockets.length, sockets + 1, "a WebSocket attempt again");
    assert.equal(h.client.transport, "websocket");
  });

  it("when the HTTP endpoint does not answer either (server down), the next attempt starts from the WebSocket after the backoff", async () => {
    const { h, http } = fallbackHarness();
    await fallToStream(h);
    http.last("/ws/stream").networkError();
    await settle();
    const sockets = h.sockets.length;
    h.clock.advance(0);
    await flush();
    assert.equal(h.sockets.length, sockets, "backed off: no attempt at once");
    assert.equal(http.to("/ws/stream").length, 1);
    h.clock.advance(1000); // the first backoff step (base 1000 ms, jitter 0.5)
    assert.equal(h.sockets.length, sockets + 1, "a WebSocket attempt again");
  });

  it("what worked is remembered: a reconnect and a new client for the same URL start on the stream", async () => {
    const { h, http } = fallbackHarness();
    await fallToStream(h);
    http.last("/ws/stream").stream().events(httpWelcome()).end(); // opened, then lost
    await settle();
    assert.equal(h.client.state, "reconnecting");
    h.clock.advance(h.changes.at(-1)?.retryInMs ?? 0);
    await flush();
    assert.equal(http.to("/ws/stream").length, 2, "the reconnect uses the stream directly");
    const second = fallbackHarness();
    assert.equal(second.h.client.transport, "http-stream");
    assert.equal(second.h.sockets.length, 0, "no WebSocket attempt first");
    h.client.close();
    second.h.client.close();
  });

  it("on HTTP, the WebSocket is probed every 5 minutes; when it gets through the client moves to it, resuming every channel from its position", async () => {
    const { h, http } = fallbackHarness();
    const channel = h.client.channel("room");
    channel.subscribe(() => {});
    await fallToStream(h);
    // No heartbeat (interval 0): the receive watchdog stays off while fake time jumps 5 minutes.
    const stream = http.last("/ws/stream").stream().events(httpWelcome("cap-1", "s1", { heartbeat: { intervalMs: 0, timeoutMs: 0 } }));
    await settle();
    const subscribe = http.last("/ws/send").messages[0] ?? {};
    assert.equal(subscribe["type"], "subscribe");
    stream.events(
      { type: "subscribed", id: subscribe["id"], channel: "room", epoch: "e1", offset: 7, recovered: false },
      { type: "snapshot", channel: "room", epoch: "e1", offset: 7, state: { n: 7 } },
    );
    http.last("/ws/send").status(204);
    await settle();
    assert.equal(channel.offset, 7);

    const before = h.sockets.length;
    h.clock.advance(299_999);
    assert.equal(h.sockets.length, before, "not before 5 minutes");
    h.clock.advance(1);
    assert.equal(h.sockets.length, before + 1, "the probe");
    h.socket().fail().serverClose(1006); // still blocked
    assert.equal(h.client.state, "open", "a failed probe changes nothing");
    assert.equal(h.client.transport, "http-stream");
    h.clock.advance(300_000);
    assert.equal(h.sockets.length, before + 2, "probed again 5 minutes later");
    h.socket().open();
    assert.deepEqual(h.changes.at(-1) && [h.changes.at(-1)?.to, h.changes.at(-1)?.reason, h.changes.at(-1)?.retryInMs], ["reconnecting", "transport_switch", 0]);
    h.clock.advance(0);
    const ws = h.socket();
    assert.equal(ws.readyState, 0, "a new WebSocket attempt, not the probe socket");
    ws.welcome({ session: "s1", resumed: true });
    await flush();
    assert.equal(h.client.transport, "websocket");
    assert.equal(h.changes.at(-1)?.transport, "websocket");
    assert.deepEqual(ws.last("hello")["resume"], "s1");
    assert.deepEqual(ws.last("subscribe")["since"], { epoch: "e1", offset: 7 }, "resumes from its position: nothing lost or repeated");
    h.client.close();
  });

  it("transports: [] and unknown names are refused; [\"websocket\"] never falls back", () => {
    assert.throws(() => createHarness({ transports: [] }), TypeError);
    assert.throws(() => createHarness({ transports: ["carrier-pigeon" as never] }), TypeError);
    const h = createHarness({ transports: ["websocket"] });
    h.socket().serverClose(1006);
    assert.ok((h.changes.at(-1)?.retryInMs ?? 0) > 0);
    h.client.close();
  });
});
