import type { Codec } from './codec.js';

/*
 * Control messages are JSON, validated field by field after parsing: the
 * frame is authenticated, but a peer may still run buggy code. Validators are
 * strict: a missing, wrong-typed or unknown field, or an array or string over
 * its bound, makes the whole message malformed. So a new field is a protocol
 * change: add it as optional here first (old cells then ignore nothing they
 * would reject), or bump PROTOCOL_VERSION (frame.ts).
 */

/** Answers and requests that must fit one datagram (heartbeats, alerts, grants): no larger datagram exists. */
export const SMALL_JSON_BYTES_MAX = 64 * 1024;

/**
 * A JSON message: `validate` sees the parsed value and returns the typed one
 * or null; `shape` picks exactly the fields the message has (a caller may
 * hand in a richer object, e.g. a member with its local timers).
 */
export function jsonCodec<T, Context = void>(
  bytesMax: number,
  validate: (v: unknown, context: Context) => T | null,
  shape: (value: T) => unknown = (value) => value,
): Codec<T, Context> {
  return {
    encode: (value) => Buffer.from(JSON.stringify(shape(value))),
    decode: (body, context) => {
      if (body.length > bytesMax) return null;
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        return null;
      }
      return validate(parsed, context);
    },
  };
}

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An object with every `required` key and no key outside `required` and `optional`. */
export function hasShape(v: unknown, required: readonly string[], optional: readonly string[] = []): v is JsonObject {
  if (!isObject(v)) return false;
  for (const k of required) if (!Object.hasOwn(v, k)) return false;
  for (const k of Object.keys(v)) if (!required.includes(k) && !optional.includes(k)) return false;
  return true;
}

/** A whole number that counts something: 0 or more, exact in a double. */
export function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** A finite number of 0 or more (bytes, ms, a fraction). */
export function isAmount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

export function isText(v: unknown, charsMax: number): v is string {
  return typeof v === 'string' && v.length <= charsMax;
}

/** host:port, as members advertise themselves. */
export function isAddr(v: unknown): v is string {
  return typeof v === 'string' && v.length <= 256 && /^[^\s:]+:\d{1,5}$/.test(v);
}

/** Each item validated; null if `v` is not an array, is longer than `itemsMax`, or any item is malformed. */
export function arrayOf<T>(v: unknown, itemsMax: number, item: (x: unknown, index: number) => T | null): T[] | null {
  if (!Array.isArray(v) || v.length > itemsMax) return null;
  const out: T[] = [];
  for (let i = 0; i < v.length; i++) {
    const x = item(v[i], i);
    if (x === null) return null;
    out.push(x);
  }
  return out;
}

/** An object of exactly the named numeric fields (counters, stats), each an amount; picks them from a richer one when encoding. */
export function amounts<K extends string>(fields: readonly K[]) {
  return {
    validate(v: unknown): Record<K, number> | null {
      if (!hasShape(v, fields)) return null;
      const out = {} as Record<K, number>;
      for (const f of fields) {
        const x = v[f];
        if (!isAmount(x)) return null;
        out[f] = x;
      }
      return out;
    },
    pick(o: Record<K, number>): Record<K, number> {
      const out = {} as Record<K, number>;
      for (const f of fields) out[f] = o[f];
      return out;
    },
  };
}
