/*
 * Message bodies. Chunk messages are binary (the payload dominates); control
 * messages (heartbeat, join, status) are JSON, validated field by field after
 * parsing: the frame is authenticated, but a peer may still run buggy code.
 *
 * CHUNK_PUT   request: key (32 bytes, raw SHA-256) + data        response: empty
 * CHUNK_GET   request: key (32)                                    response: data
 * CHUNK_HAS   request: count u16 + count x key (32)                response: bitmap, ceil(count/8) bytes
 * CHUNK_DELETE request: key (32)                                   response: 1 byte, 1 if it existed
 */
import { HAS_KEYS_MAX, type ChunkKey } from '../core/index.js';
import { bitGet, bitSet } from './fragment.js';

const KEY_BYTES = 32;

export function encodeKey(key: ChunkKey): Buffer {
  return Buffer.from(key, 'hex');
}

/** Returns null when the body is not exactly one key. */
export function decodeKeyOnly(body: Buffer): ChunkKey | null {
  return body.length === KEY_BYTES ? body.toString('hex') : null;
}

export function encodePut(key: ChunkKey, data: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(KEY_BYTES + data.length);
  buf.write(key, 0, KEY_BYTES, 'hex');
  buf.set(data, KEY_BYTES);
  return buf;
}

export function decodePut(body: Buffer): { key: ChunkKey; data: Buffer } | null {
  if (body.length < KEY_BYTES) return null;
  return { key: body.toString('hex', 0, KEY_BYTES), data: body.subarray(KEY_BYTES) };
}

export function encodeHas(keys: ChunkKey[]): Buffer {
  const buf = Buffer.allocUnsafe(2 + keys.length * KEY_BYTES);
  buf.writeUInt16BE(keys.length, 0);
  keys.forEach((k, i) => buf.write(k, 2 + i * KEY_BYTES, KEY_BYTES, 'hex'));
  return buf;
}

export function decodeHas(body: Buffer): ChunkKey[] | null {
  if (body.length < 2) return null;
  const n = body.readUInt16BE(0);
  if (n > HAS_KEYS_MAX || body.length !== 2 + n * KEY_BYTES) return null;
  const keys: ChunkKey[] = [];
  for (let i = 0; i < n; i++) keys.push(body.toString('hex', 2 + i * KEY_BYTES, 2 + (i + 1) * KEY_BYTES));
  return keys;
}

export function encodeHasReply(present: boolean[]): Buffer {
  const bitmap = Buffer.alloc(Math.ceil(present.length / 8));
  present.forEach((p, i) => p && bitSet(bitmap, i));
  return bitmap;
}

export function decodeHasReply(body: Buffer, count: number): boolean[] | null {
  if (body.length !== Math.ceil(count / 8)) return null;
  return Array.from({ length: count }, (_, i) => bitGet(body, i));
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** Parses JSON and hands it to a validator; null on any failure. */
export function decodeJson<T>(body: Buffer, validate: (v: unknown) => T | null): T | null {
  try {
    return validate(JSON.parse(body.toString('utf8')));
  } catch {
    return null;
  }
}
