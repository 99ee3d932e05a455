/*
 * CHUNK_RANGE  request: key (32) + first leaf u16 + leaf count u16
 *              response: leaves in the chunk u16 + that many leaf hashes (32 each)
 *                        + the bytes of the requested leaves that exist (see LEAF_BYTES)
 */
import type { ChunkKey } from '../../core/index.js';
import { MessageType } from '../types.js';
import { KEY_BYTES } from './chunk-key.js';
import type { Codec, RequestSpec } from './codec.js';

export interface RangeRequest {
  key: ChunkKey;
  firstLeaf: number;
  leafCount: number;
}

export interface RangeAnswer {
  /** Every leaf hash of the chunk (views into the body, not copied). */
  leafHashes: Buffer;
  bytes: Buffer;
}

export function encodeRangeRequest(key: ChunkKey, firstLeaf: number, leafCount: number): Buffer {
  const b = Buffer.allocUnsafe(KEY_BYTES + 4);
  b.write(key, 0, KEY_BYTES, 'hex');
  b.writeUInt16BE(firstLeaf, KEY_BYTES);
  b.writeUInt16BE(leafCount, KEY_BYTES + 2);
  return b;
}

export function decodeRangeRequest(body: Buffer): RangeRequest | null {
  if (body.length !== KEY_BYTES + 4) return null;
  const leafCount = body.readUInt16BE(KEY_BYTES + 2);
  if (leafCount === 0) return null;
  return { key: body.toString('hex', 0, KEY_BYTES), firstLeaf: body.readUInt16BE(KEY_BYTES), leafCount };
}

/** A CHUNK_RANGE answer: every leaf hash of the chunk, then the requested bytes. */
export function encodeRangeAnswer(leafHashes: Buffer, bytes: Buffer): Buffer {
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(leafHashes.length / KEY_BYTES, 0);
  return Buffer.concat([head, leafHashes, bytes]);
}

export function decodeRangeAnswer(body: Buffer): RangeAnswer | null {
  if (body.length < 2) return null;
  const hashBytes = body.readUInt16BE(0) * KEY_BYTES;
  if (body.length < 2 + hashBytes) return null;
  return { leafHashes: body.subarray(2, 2 + hashBytes), bytes: body.subarray(2 + hashBytes) };
}

const requestCodec: Codec<RangeRequest> = {
  encode: (r) => encodeRangeRequest(r.key, r.firstLeaf, r.leafCount),
  decode: decodeRangeRequest,
};

const answerCodec: Codec<RangeAnswer, unknown> = {
  encode: (a) => encodeRangeAnswer(a.leafHashes, a.bytes),
  decode: decodeRangeAnswer,
};

export const CHUNK_RANGE: RequestSpec<RangeRequest, RangeAnswer> = { type: MessageType.CHUNK_RANGE, request: requestCodec, response: answerCodec };
