/*
 * CHUNK_ADOPT  request: key (32) + flags u8 + replicas u8 (as CHUNK_PUT) + leaf count u16 + leaf hashes
 *              + the name of a file in the cell's incomingDir (UTF-8)   response: empty (as CHUNK_PUT;
 *              the cell removes the file whatever the outcome)
 *              flags bit 2 (adopt only): the cell may take the file itself as its chunk; a file with
 *              one link, of the cell's user, it takes unread (the reads and the scrub check it); one
 *              that other cells hold links to (older clients) it reads, checks and renames
 */
import type { ChunkKey, ChunkMeta } from '../../core/index.js';
import { MessageType } from '../types.js';
import { KEY_BYTES } from './chunk-key.js';
import { PUT_HEADER_BYTES, decodePut, encodePut } from './chunk-put.js';
import { emptyCodec, type Codec, type RequestSpec } from './codec.js';

const FLAG_TAKE = 0x04;

/** What a file handed to a cell may be called: one plain name in its incoming directory. */
const INCOMING_NAME = /^[A-Za-z0-9._-]{1,128}$/;

export interface ChunkAdopt {
  key: ChunkKey;
  meta: ChunkMeta;
  leafHashes: Buffer;
  name: string;
  take: boolean;
}

export function encodeAdopt(key: ChunkKey, meta: ChunkMeta, leafHashes: Buffer, name: string, take = false): Buffer {
  const head = encodePut(key, Buffer.alloc(0), meta)[0]!;
  if (take) head.writeUInt8(head.readUInt8(KEY_BYTES) | FLAG_TAKE, KEY_BYTES);
  const count = Buffer.allocUnsafe(2);
  count.writeUInt16BE(leafHashes.length / KEY_BYTES, 0);
  return Buffer.concat([head, count, leafHashes, Buffer.from(name, 'utf8')]);
}

export function decodeAdopt(body: Buffer): ChunkAdopt | null {
  if (body.length < PUT_HEADER_BYTES + 2) return null;
  const flags = body.readUInt8(KEY_BYTES);
  const putHead = Buffer.from(body.subarray(0, PUT_HEADER_BYTES));
  putHead.writeUInt8(flags & ~FLAG_TAKE, KEY_BYTES);
  const head = decodePut(putHead);
  if (!head) return null;
  const hashBytes = body.readUInt16BE(PUT_HEADER_BYTES) * KEY_BYTES;
  const nameAt = PUT_HEADER_BYTES + 2 + hashBytes;
  const name = body.toString('utf8', nameAt);
  if (body.length <= nameAt || !INCOMING_NAME.test(name) || name === '.' || name === '..') return null;
  return { key: head.key, meta: head.meta, leafHashes: body.subarray(PUT_HEADER_BYTES + 2, nameAt), name, take: (flags & FLAG_TAKE) !== 0 };
}

const adoptCodec: Codec<ChunkAdopt> = {
  encode: (a) => encodeAdopt(a.key, a.meta, a.leafHashes, a.name, a.take),
  decode: decodeAdopt,
};

export const CHUNK_ADOPT: RequestSpec<ChunkAdopt, void> = { type: MessageType.CHUNK_ADOPT, request: adoptCodec, response: emptyCodec };
