import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { closeCodeInfo, parseRetryAfterMs } from "../src/closeCodes.js";
import { parseFrame } from "../src/protocol.js";
import { deltaVerdict } from "../src/recovery.js";

describe("frames", () => {
  it("splits on \\n and keeps the order; empty lines and CRLF are tolerated", () => {
    const lines = parseFrame('{"type":"ping","n":1}\n{"type":"ping","n":2}\r\n\n{"type":"ping","n":3}\n');
    assert.deepEqual(
      lines.map((l) => (l.ok && l.message.type === "ping" ? l.message.n : "bad")),
      [1, 2, 3],
    );
  });

  it("a bad line is reported alone; its neighbours survive", () => {
    const lines = parseFrame('{"type":"ping","n":1}\n{oops\n[1]\n{"type":"delta","channel":"c","offset":"7","patch":{}}\n{"type":"ping","n":2}');
    assert.deepEqual(lines.map((l) => l.ok), [true, false, false, false, true]);
  });

  it("validates members and passes unknown types as `other`", () => {
    const [unknown] = parseFrame('{"type":"future","x":1}');
    assert.ok(unknown?.ok && unknown.message.type === "other");
    const bad = [
      '{"type":"welcome"}',
      '{"type":"welcome","session":"s","heartbeat":{"intervalMs":-1,"timeoutMs":1}}',
      '{"type":"ping"}',
      '{"type":"subscribed","id":1,"channel":"c","epoch":"e","offset":-1,"recovered":true}',
      '{"type":"snapshot","channel":"c","epoch":"e","offset":1,"state":[]}',
      '{"type":"delta","channel":"c","offset":1.5,"patch":{}}',
      '{"type":"presence","channel":"c","event":"wave","user":"u"}',
      '{"type":"reply","id":1,"ok":false}',
      '{"type":"reply","id":1,"ok":true,"members":[1]}',
      '{"type":"error","message":"no code"}',
      '{"type":"welcome","session":"s","heartbeat":{"intervalMs":1,"timeoutMs":1},"tokenExpiresInMs":-5}',
      '{"type":"welcome","session":"s","heartbeat":{"intervalMs":1,"timeoutMs":1},"tokenExpiresInMs":"3000"}',
      '{"type":"reply","id":1,"ok":true,"tokenExpiresInMs":null}',
      '{"type":7}',
    ];
    for (const line of bad) {
      assert.equal(parseFrame(line)[0]?.ok, false, line);
    }
  });

  it("reads tokenExpiresInMs of welcome and reply", () => {
    const [welcome, reply] = parseFrame(
      '{"type":"welcome","session":"s","user":"u","resumed":false,"heartbeat":{"intervalMs":1,"timeoutMs":1},"tokenExpiresInMs":3000}\n' +
        '{"type":"reply","id":4,"ok":true,"tokenExpiresInMs":2500}',
    );
    assert.ok(welcome?.ok && welcome.message.type === "welcome");
    assert.equal(welcome.message.tokenExpiresInMs, 3000);
    assert.ok(reply?.ok && reply.message.type === "reply");
    assert.equal(reply.message.tokenExpiresInMs, 2500);
  });
});

describe("close codes", () => {
  it("match the PROTOCOL.md table", () => {
    const retry = [1001, 1006, 1011, 1013, 4000, 4002];
    const stop = [1000, 1002, 1003, 1007, 1008, 1009, 4001];
    for (const c of retry) assert.equal(closeCodeInfo(c).shouldReconnect, true, String(c));
    for (const c of stop) assert.equal(closeCodeInfo(c).shouldReconnect, false, String(c));
    assert.equal(closeCodeInfo(1012).shouldReconnect, true, "unknown 1011-1014 retried");
    assert.equal(closeCodeInfo(4050).shouldReconnect, true, "unknown 4000-4099 retried");
    assert.equal(closeCodeInfo(4500).shouldReconnect, false);
    assert.equal(closeCodeInfo(4000).name, "heartbeat_timeout");
    assert.equal(closeCodeInfo(4002).name, "token_expired");
    for (const c of [...retry, ...stop, 1012, 4050]) {
      assert.equal(closeCodeInfo(c).reconnectImmediately, c === 4002, `only 4002 reconnects at once (${c})`);
    }
  });

  it("parse retry_after_ms", () => {
    assert.equal(parseRetryAfterMs("retry_after_ms=2500"), 2500);
    assert.equal(parseRetryAfterMs("draining; retry_after_ms=10"), 10);
    assert.equal(parseRetryAfterMs("retry_after_ms=abc"), undefined);
    assert.equal(parseRetryAfterMs("going_away"), undefined);
  });
});

describe("recovery verdict", () => {
  it("apply / duplicate / gap / unsynced", () => {
    const p = { epoch: "e", offset: 10 };
    assert.equal(deltaVerdict(p, 11), "apply");
    assert.equal(deltaVerdict(p, 10), "duplicate");
    assert.equal(deltaVerdict(p, 3), "duplicate");
    assert.equal(deltaVerdict(p, 13), "gap");
    assert.equal(deltaVerdict(undefined, 1), "unsynced");
  });
});
