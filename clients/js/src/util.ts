/* Small internal helpers of the client; not part of the public API. */

/** A registered listener; `active` turns false when it is removed, so a removal during an emit is honoured. */
export interface Entry<F> {
  readonly fn: F;
  active: boolean;
}

export function addEntry<F>(set: Set<Entry<F>>, fn: F): () => void {
  if (typeof fn !== "function") throw new TypeError("listener must be a function");
  const entry: Entry<F> = { fn, active: true };
  set.add(entry);
  return () => {
    entry.active = false;
    set.delete(entry);
  };
}

export function makeKeyPrefix(random: (() => number) | undefined): string {
  const bytes = new Uint8Array(9);
  const cryptoApi = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (random === undefined && cryptoApi?.getRandomValues !== undefined) {
    cryptoApi.getRandomValues(bytes);
  } else {
    const r = random ?? Math.random;
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256) & 0xff;
  }
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function nonNegative(name: string, value: number): number {
  if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`${name} must be a non-negative number, got ${value}`);
  return value;
}

export function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}
