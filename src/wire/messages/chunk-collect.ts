/*
 * CHUNK_COLLECT request: flags u8 (bit 0: dry run, remove nothing) + min age u32 (seconds)
 *              + count u16 + count x key (32)
 *              response: count x u32, the bytes freed (or that would be) per key (0: kept,
 *              because it was stored, or put again, less than min age ago, or is not held).
 *              Garbage collection (client/gc.ts) sends it for chunks that nothing references.
 */
import type { ChunkKey } from '../../core/index.js';
import { MessageType } from '../types.js';
import { decodeHas, encodeHas } from './chunk-has.js';
import type { Codec, RequestSpec } from './codec.js';

const COLLECT_DRY_RUN = 0x01;

export interface CollectRequest {
  minAgeMs: number;
  keys: ChunkKey[];
  dryRun: boolean;
}

export function encodeCollect(minAgeMs: number, keys: ChunkKey[], dryRun = false): Buffer {
  const head = Buffer.allocUnsafe(5);
  head.writeUInt8(dryRun ? COLLECT_DRY_RUN : 0, 0);
  head.writeUInt32BE(Math.min(0xffffffff, Math.ceil(minAgeMs / 1000)), 1);
  return Buffer.concat([head, encodeHas(keys)]);
}

export function decodeCollect(body: Buffer): CollectRequest | null {
  if (body.length < 5 || (body.readUInt8(0) & ~COLLECT_DRY_RUN) !== 0) return null;
  const keys = decodeHas(body.subarray(5));
  return keys ? { minAgeMs: body.readUInt32BE(1) * 1000, keys, dryRun: (body.readUInt8(0) & COLLECT_DRY_RUN) !== 0 } : null;
}

export function encodeCollectReply(freed: number[]): Buffer {
  const buf = Buffer.allocUnsafe(freed.length * 4);
  freed.forEach((n, i) => buf.writeUInt32BE(Math.min(0xffffffff, n), i * 4));
  return buf;
}

export function decodeCollectReply(body: Buffer, count: number): number[] | null {
  if (body.length !== count * 4) return null;
  return Array.from({ length: count }, (_, i) => body.readUInt32BE(i * 4));
}

const requestCodec: Codec<CollectRequest> = { encode: (q) => encodeCollect(q.minAgeMs, q.keys, q.dryRun), decode: decodeCollect };
const answerCodec: Codec<number[], CollectRequest> = { encode: encodeCollectReply, decode: (body, asked) => decodeCollectReply(body, asked.keys.length) };

export const CHUNK_COLLECT: RequestSpec<CollectRequest, number[]> = { type: MessageType.CHUNK_COLLECT, request: requestCodec, response: answerCodec };
