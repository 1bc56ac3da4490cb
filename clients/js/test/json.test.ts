import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyMergePatch, deepFreeze, type JsonObject, type JsonValue } from "../src/json.js";

describe("applyMergePatch (RFC 7396)", () => {
  // The examples of RFC 7396, appendix A.
  const cases: Array<[JsonValue, JsonValue, JsonValue]> = [
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
    [{ a: ["b"] }, { a: "c" }, { a: "c" }],
    [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [["a", "b"], ["c", "d"], ["c", "d"]],
    [{ a: "b" }, ["c"], ["c"]],
    [{ a: "foo" }, null, null],
    [{ a: "foo" }, "bar", "bar"],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: "b", c: null }, { a: "b" }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, expected] of cases) {
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
