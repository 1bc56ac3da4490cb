import { deepFreeze, EMPTY_STATE, isJsonObject, type JsonObject, type JsonValue } from "./json.js";

/**
 * The JSON Merge Patch (RFC 7396) that turns `from` into `to`: applying the result to `from` gives `to`. Members that
 * are equal in both are left out, members only in `from` become `null`, nested objects are diffed member by member,
 * and anything else (arrays, numbers, strings) is replaced whole. A merge patch cannot say "set this member to null":
 * a `null` member of an object in `to` means "absent". When `to` is not an object the patch is `to` itself.
 */
export function createMergePatch(from: JsonValue | undefined, to: JsonValue): JsonValue {
  if (!isJsonObject(to)) return to;
  return diffObjects(isJsonObject(from) ? from : EMPTY_STATE, to);
}

function diffObjects(from: JsonObject, to: JsonObject): JsonObject {
  const patch: Record<string, JsonValue> = {};
  const has = (o: JsonObject, key: string) => Object.prototype.hasOwnProperty.call(o, key);
  for (const key of Object.keys(from)) {
    if (from[key] !== null && (!has(to, key) || to[key] === null)) define(patch, key, null);
  }
  for (const key of Object.keys(to)) {
    const next = to[key] as JsonValue;
    if (next === null) continue; // absent, handled above
    const present = has(from, key) && from[key] !== null;
    const previous = present ? (from[key] as JsonValue) : undefined;
    if (isJsonObject(next)) {
      if (isJsonObject(previous)) {
        const inner = diffObjects(previous, next);
        if (Object.keys(inner).length > 0) define(patch, key, inner);
      } else {
        // Applied to a non-object (or nothing), an object patch starts from {}.
        define(patch, key, diffObjects(EMPTY_STATE, next));
      }
    } else if (!present || !jsonEqual(previous as JsonValue, next)) {
      define(patch, key, next);
    }
  }
  return patch;
}

function define(target: Record<string, JsonValue>, key: string, value: JsonValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Deep equality of two JSON values (member order does not matter). */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => jsonEqual(v as JsonValue, b[i] as JsonValue));
  }
  const ka = Object.keys(a);
  const ob = b as JsonObject;
  if (ka.length !== Object.keys(ob).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(ob, k) && jsonEqual((a as JsonObject)[k] as JsonValue, ob[k] as JsonValue));
}

/**
 * `next`, with every branch that is deeply equal to the same branch of `previous` replaced by `previous`'s (frozen)
 * object: `previous` itself when nothing changed. Keeps references stable for `useSyncExternalStore` when a state is
 * recomputed (an optimistic rebase) rather than patched.
 */
export function shareStructure(previous: JsonValue, next: JsonValue): JsonValue {
  if (previous === next) return previous;
  if (isJsonObject(previous) && isJsonObject(next)) {
    let same = Object.keys(previous).length === Object.keys(next).length;
    const out: Record<string, JsonValue> = {};
    for (const key of Object.keys(next)) {
      const had = Object.prototype.hasOwnProperty.call(previous, key);
      const child = had ? shareStructure(previous[key] as JsonValue, next[key] as JsonValue) : (next[key] as JsonValue);
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
