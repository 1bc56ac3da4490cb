/** A JSON value as it travels on the wire. */
export type JsonValue = null | boolean | number | string | JsonArray | JsonObject;

/** A JSON array. Arrays held by a channel state are frozen. */
export type JsonArray = readonly JsonValue[];

/** A JSON object. Objects held by a channel state are frozen. */
export interface JsonObject {
  readonly [key: string]: JsonValue;
}

/** True for a plain JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The frozen empty object every channel starts with. */
export const EMPTY_STATE: JsonObject = Object.freeze({});

/**
 * Freezes a parsed JSON value in place, all the way down. Channel states are shared with the
 * application (React's `useSyncExternalStore` compares them by reference), so they must not
 * change behind the client's back.
 */
export function deepFreeze<T extends JsonValue>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) {
      deepFreeze(child as JsonValue);
    }
    Object.freeze(value);
  }
  return value;
}

/**
 * Applies a JSON Merge Patch (RFC 7396) without mutating `target`: changed paths get new,
 * frozen objects and untouched branches keep their identity (structural sharing). When the
 * patch changes nothing, `target` itself is returned, so a snapshot reference stays stable.
 * Keys such as `__proto__` are written as own data properties, never through the prototype setter.
 */
export function applyMergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) {
    return deepFreeze(patch);
  }
  const base: JsonObject = isJsonObject(target) ? target : EMPTY_STATE;
  let result: Record<string, JsonValue> | undefined = isJsonObject(target) ? undefined : {};
  for (const key of Object.keys(patch)) {
    const value = patch[key] as JsonValue;
    const has = Object.prototype.hasOwnProperty.call(base, key);
    if (value === null) {
      if (has) {
        result ??= copy(base);
        delete result[key];
      }
      continue;
    }
    const current = has ? base[key] : undefined;
    const merged = applyMergePatch(current, value);
    if (merged !== current || !has) {
      result ??= copy(base);
      defineOwn(result, key, merged);
    }
  }
  return result === undefined ? base : Object.freeze(result);
}

function copy(source: JsonObject): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const key of Object.keys(source)) {
    defineOwn(out, key, source[key] as JsonValue);
  }
  return out;
}

function defineOwn(target: Record<string, JsonValue>, key: string, value: JsonValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
