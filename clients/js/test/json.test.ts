import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyMergePatch, deepFreeze, type JsonObject } from "../src/json.js";
import { RFC7396_EXAMPLES } from "./support/rfc7396.js";

describe("applyMergePatch (RFC 7396)", () => {
  for (const [target, patch, expected] of RFC7396_EXAMPLES) {
    it(`${JSON.stringify(target)} + ${JSON.stringify(patch)}`, () => {
      const before = JSON.stringify(target);
      assert.deepEqual(applyMergePatch(deepFreeze(target), patch), expected);
      assert.equal(JSON.stringify(target), before, "target not mutated");
    });
  }

  it("shares untouched branches and returns the same object when nothing changes", () => {
    const state = deepFreeze({ a: { x: 1 }, b: { y: 2 } }) as JsonObject;
    const next = applyMergePatch(state, { b: { y: 3 } }) as JsonObject;
    assert.notEqual(next, state);
    assert.equal(next["a"], state["a"]);
    assert.ok(Object.isFrozen(next) && Object.isFrozen(next["b"]));
    assert.equal(applyMergePatch(state, {}), state);
    assert.equal(applyMergePatch(state, { zzz: null }), state);
  });

  it("writes __proto__ as an own key, never through the prototype", () => {
    const patch = JSON.parse('{"__proto__":{"polluted":true}}') as JsonObject;
    const out = applyMergePatch({}, patch) as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>)["polluted"], undefined);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.keys(out), ["__proto__"]);
  });
});
