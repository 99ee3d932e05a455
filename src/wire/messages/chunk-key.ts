/*
 * Chunk messages are binary (the payload dominates); a key is 32 raw bytes of
 * SHA-256 on the wire and 64 hex digits in memory (ChunkKey).
 */
import type { ChunkKey } from '../../core/index.js';
import type { Codec } from './codec.js';

export const KEY_BYTES = 32;

export function encodeKey(key: ChunkKey): Buffer {
  return Buffer.from(key, 'hex');
}

/** Returns null when the body is not exactly one key. */
export function decodeKeyOnly(body: Buffer): ChunkKey | null {
  return body.length === KEY_BYTES ? body.toString('hex') : null;
}

/** A body of one key (CHUNK_GET, CHUNK_PROBE, CHUNK_DELETE requests). */
export const keyCodec: Codec<ChunkKey> = { encode: encodeKey, decode: decodeKeyOnly };
