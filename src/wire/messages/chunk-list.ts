/*
 * CHUNK_LIST   request: after key (32, zeros = from the start) + limit u16
 *              response: count u16 + count x (key (32) + flags u8 + replicas u8), keys ascending
 */
import type { ChunkKey, ChunkMeta } from '../../core/index.js';
import { MessageType } from '../types.js';
import { KEY_BYTES } from './chunk-key.js';
import { FLAG_MANIFEST } from './chunk-put.js';
import type { Codec, RequestSpec } from './codec.js';

export const LIST_LIMIT_MAX = 1024;
const LIST_ENTRY_BYTES = KEY_BYTES + 2;

export interface ListRequest {
  after: ChunkKey | null;
  limit: number;
}

export interface ListedChunk {
  key: ChunkKey;
  meta: ChunkMeta;
}

export function encodeList(after: ChunkKey | null, limit: number): Buffer {
  const buf = Buffer.alloc(KEY_BYTES + 2);
  if (after) buf.write(after, 0, KEY_BYTES, 'hex');
  buf.writeUInt16BE(limit, KEY_BYTES);
  return buf;
}

export function decodeList(body: Buffer): ListRequest | null {
  if (body.length !== KEY_BYTES + 2) return null;
  const limit = body.readUInt16BE(KEY_BYTES);
  if (limit < 1 || limit > LIST_LIMIT_MAX) return null;
  const zero = body.subarray(0, KEY_BYTES).every((b) => b === 0);
  return { after: zero ? null : body.toString('hex', 0, KEY_BYTES), limit };
}

export function encodeListReply(entries: ListedChunk[]): Buffer {
  const buf = Buffer.allocUnsafe(2 + entries.length * LIST_ENTRY_BYTES);
  buf.writeUInt16BE(entries.length, 0);
  entries.forEach((e, i) => {
    const o = 2 + i * LIST_ENTRY_BYTES;
    buf.write(e.key, o, KEY_BYTES, 'hex');
    buf.writeUInt8(e.meta.isManifest ? FLAG_MANIFEST : 0, o + KEY_BYTES);
    buf.writeUInt8(e.meta.replicas, o + KEY_BYTES + 1);
  });
  return buf;
}

export function decodeListReply(body: Buffer): ListedChunk[] | null {
  if (body.length < 2) return null;
  const n = body.readUInt16BE(0);
  if (n > LIST_LIMIT_MAX || body.length !== 2 + n * LIST_ENTRY_BYTES) return null;
  const out: ListedChunk[] = [];
  for (let i = 0; i < n; i++) {
    const o = 2 + i * LIST_ENTRY_BYTES;
    out.push({
      key: body.toString('hex', o, o + KEY_BYTES),
      meta: { isManifest: (body.readUInt8(o + KEY_BYTES) & FLAG_MANIFEST) !== 0, replicas: body.readUInt8(o + KEY_BYTES + 1) },
    });
  }
  return out;
}

const requestCodec: Codec<ListRequest> = { encode: (q) => encodeList(q.after, q.limit), decode: decodeList };

/** No more entries than asked for. */
const answerCodec: Codec<ListedChunk[], ListRequest> = {
  encode: encodeListReply,
  decode: (body, asked) => {
    const entries = decodeListReply(body);
    return entries && entries.length <= asked.limit ? entries : null;
  },
};

export const CHUNK_LIST: RequestSpec<ListRequest, ListedChunk[]> = { type: MessageType.CHUNK_LIST, request: requestCodec, response: answerCodec };
