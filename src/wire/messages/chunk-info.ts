/*
 * CHUNK_INFO   request: as CHUNK_HAS (count u16 + count x key (32))
 *              response: count x (flags u8 + replicas u8 + verified at u48), in the order asked:
 *              flags bit 0 held here, bit 1 a file manifest; replicas the R recorded (0 if not
 *              held); verified at the wall-clock ms this cell last hashed the whole copy and
 *              found it right (0: not known, not since the cell started or forgotten since).
 * CHUNK_SET_R  request: replicas u8 (1..REPLICAS_MAX) + as CHUNK_HAS
 *              response: as CHUNK_HAS, a bit per key: held here, its R now the one given.
 *              Unlike a put, which keeps the higher of two R, this sets R either way
 *              (`cellsync setr`): heal then copies up to it, or frees copies beyond it.
 */
import type { ChunkKey } from '../../core/index.js';
import { MessageType } from '../types.js';
import { decodeHas, encodeHas, keysCodec, CHUNK_HAS } from './chunk-has.js';
import { REPLICAS_MAX } from './chunk-put.js';
import type { Codec, RequestSpec } from './codec.js';

const INFO_HELD = 0x01;
const INFO_MANIFEST = 0x02;
const INFO_ENTRY_BYTES = 8;
/** Largest time a u48 holds (ms since 1970: past the year 10,000). */
const U48_MAX = 2 ** 48 - 1;

/** One chunk as one cell holds it. */
export interface ChunkCopyInfo {
  isHeld: boolean;
  isManifest: boolean;
  /** R recorded with this copy (0 if not held). */
  replicas: number;
  /** Wall-clock ms of the last whole check of this copy against its key; null if not known. */
  verifiedAtMs: number | null;
}

export function encodeInfoReply(copies: ChunkCopyInfo[]): Buffer {
  const buf = Buffer.alloc(copies.length * INFO_ENTRY_BYTES);
  copies.forEach((c, i) => {
    const o = i * INFO_ENTRY_BYTES;
    buf.writeUInt8((c.isHeld ? INFO_HELD : 0) | (c.isManifest ? INFO_MANIFEST : 0), o);
    buf.writeUInt8(c.isHeld ? Math.min(c.replicas, REPLICAS_MAX) : 0, o + 1);
    buf.writeUIntBE(Math.min(U48_MAX, Math.max(0, Math.floor(c.verifiedAtMs ?? 0))), o + 2, 6);
  });
  return buf;
}

export function decodeInfoReply(body: Buffer, count: number): ChunkCopyInfo[] | null {
  if (body.length !== count * INFO_ENTRY_BYTES) return null;
  const out: ChunkCopyInfo[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * INFO_ENTRY_BYTES;
    const flags = body.readUInt8(o);
    const replicas = body.readUInt8(o + 1);
    const isHeld = (flags & INFO_HELD) !== 0;
    if ((flags & ~(INFO_HELD | INFO_MANIFEST)) !== 0 || replicas > REPLICAS_MAX || isHeld !== replicas > 0) return null;
    const at = body.readUIntBE(o + 2, 6);
    out.push({ isHeld, isManifest: (flags & INFO_MANIFEST) !== 0, replicas, verifiedAtMs: at === 0 ? null : at });
  }
  return out;
}

export interface SetReplicasRequest {
  replicas: number;
  keys: ChunkKey[];
}

export function encodeSetReplicas(q: SetReplicasRequest): Buffer {
  return Buffer.concat([Buffer.from([q.replicas]), encodeHas(q.keys)]);
}

export function decodeSetReplicas(body: Buffer): SetReplicasRequest | null {
  if (body.length < 1) return null;
  const replicas = body.readUInt8(0);
  if (replicas < 1 || replicas > REPLICAS_MAX) return null;
  const keys = decodeHas(body.subarray(1));
  return keys ? { replicas, keys } : null;
}

const infoAnswer: Codec<ChunkCopyInfo[], ChunkKey[]> = { encode: encodeInfoReply, decode: (body, asked) => decodeInfoReply(body, asked.length) };
const setRequest: Codec<SetReplicasRequest> = { encode: encodeSetReplicas, decode: decodeSetReplicas };
const setAnswer: Codec<boolean[], SetReplicasRequest> = { encode: CHUNK_HAS.response.encode, decode: (body, asked) => CHUNK_HAS.response.decode(body, asked.keys) };

export const CHUNK_INFO: RequestSpec<ChunkKey[], ChunkCopyInfo[]> = { type: MessageType.CHUNK_INFO, request: keysCodec, response: infoAnswer };
export const CHUNK_SET_R: RequestSpec<SetReplicasRequest, boolean[]> = { type: MessageType.CHUNK_SET_R, request: setRequest, response: setAnswer };
