/*
 * CHUNK_HAS    request: count u16 + count x key (32)   response: bitmap, ceil(count/8) bytes
 * CHUNK_CLAIM  request: as CHUNK_HAS                   response: as CHUNK_HAS; each chunk held
 *              counts as stored now (garbage collection spares it for its grace period):
 *              a writer names chunks it did not store itself (the unchanged chunks of a file it edits)
 */
import { HAS_KEYS_MAX, type ChunkKey } from '../../core/index.js';
import { bitGet, bitSet } from '../fragment.js';
import { MessageType } from '../types.js';
import { KEY_BYTES } from './chunk-key.js';
import type { Codec, RequestSpec } from './codec.js';

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

export const keysCodec: Codec<ChunkKey[]> = { encode: encodeHas, decode: decodeHas };

/** One bit per key asked. */
const presenceCodec: Codec<boolean[], ChunkKey[]> = {
  encode: encodeHasReply,
  decode: (body, asked) => decodeHasReply(body, asked.length),
};

export const CHUNK_HAS: RequestSpec<ChunkKey[], boolean[]> = { type: MessageType.CHUNK_HAS, request: keysCodec, response: presenceCodec };
export const CHUNK_CLAIM: RequestSpec<ChunkKey[], boolean[]> = { type: MessageType.CHUNK_CLAIM, request: keysCodec, response: presenceCodec };
