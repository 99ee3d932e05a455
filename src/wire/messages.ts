/*
 * Message bodies. Chunk messages are binary (the payload dominates); control
 * messages (heartbeat, join, status) are JSON, validated field by field after
 * parsing: the frame is authenticated, but a peer may still run buggy code.
 *
 * CHUNK_PUT    request: key (32 bytes, raw SHA-256) + flags u8 + replicas u8
 *              [+ leaf hashes, ceil(data/LEAF_BYTES) x 32, if flags bit 1] + data
 *                                                                   response: empty
 *              flags bit 0: the chunk is a file manifest (fsck starts from manifests)
 *              flags bit 1: the writer's leaf hashes follow (kept for range reads;
 *              a cell checks each leaf it serves against them, and recomputes
 *              them from the whole verified chunk if one does not match)
 * CHUNK_GET    request: key (32)                                   response: data (chunk data: see frame.ts)
 * CHUNK_PROBE  request: key (32)                                   response: data, MACed whole (a guard's
 *              verdict must not be forgeable in flight: see frame.ts)
 * CHUNK_RANGE  request: key (32) + first leaf u16 + leaf count u16
 *              response: leaves in the chunk u16 + that many leaf hashes (32 each)
 *                        + the bytes of the requested leaves that exist (see LEAF_BYTES)
 * CHUNK_HAS    request: count u16 + count x key (32)               response: bitmap, ceil(count/8) bytes
 * CHUNK_DELETE request: key (32)                                   response: 1 byte, 1 if it existed
 * CHUNK_LIST   request: after key (32, zeros = from the start) + limit u16
 *              response: count u16 + count x (key (32) + flags u8 + replicas u8), keys ascending
 * MEMBERS      request: empty                                      response: JSON, the member list
 * REC_PUT      request: JSON [{k, v, d}] records to merge             response: empty
 * REC_GET      request: JSON [k]                                    response: JSON [{k, v, d} | null]
 * REC_SCAN     request: JSON {prefix, after, limit}                 response: JSON [{k, v, d}], keys ascending
 * REC_SYNC     request: JSON [{k, v}] what the sender holds          response: JSON [index], those the receiver
 *                                                                   lacks or holds older (anti-entropy)
 * ALERT        request: JSON {accused, key, digestSeen, reporter}     response: empty
 * CONFIRMED    one-way: JSON {accused, key, digestSeen, reporter, confirmer}
 * FAULTS       request: JSON {lossRate, dupRate, reorderRate}     response: empty (chaos: wire fault injection)
 * LOCAL_GRANT  request: empty                                      response: JSON {machine, chunkDir, incomingDir, metaPath}:
 *              a client on the same machine (same machineId()) may read the cell's chunk files and the leaf
 *              hashes in its metadata database itself (core/layout.ts), checking them as it checks CHUNK_GET
 *              and CHUNK_RANGE answers, and hand it chunks as files in incomingDir (CHUNK_ADOPT)
 * CHUNK_ADOPT  request: key (32) + flags u8 + replicas u8 (as CHUNK_PUT) + leaf count u16 + leaf hashes
 *              + the name of a file in the cell's incomingDir (UTF-8)   response: empty (as CHUNK_PUT;
 *              the cell removes the file whatever the outcome)
 *              flags bit 2 (adopt only): the cell may take the file itself as its chunk; a file with
 *              one link, of the cell's user, it takes unread (the reads and the scrub check it); one
 *              that other cells hold links to (older clients) it reads, checks and renames
 * CHUNK_COLLECT request: flags u8 (bit 0: dry run, remove nothing) + min age u32 (seconds)
 *              + count u16 + count x key (32)
 *              response: count x u32, the bytes freed (or that would be) per key (0: kept,
 *              because it was stored, or put again, less than min age ago, or is not held).
 *              Garbage collection (client/gc.ts) sends it for chunks that nothing references.
 * CHUNK_CLAIM  request: as CHUNK_HAS                               response: as CHUNK_HAS; each chunk held
 * FORGET       request: JSON {id} of a dead member                 response: JSON {forgotten: boolean}
 *              counts as stored now (garbage collection spares it for its grace period):
 *              a writer names chunks it did not store itself (the unchanged chunks of a file it edits)
 */
import { HAS_KEYS_MAX, LEAF_BYTES, type ChunkKey, type ChunkMeta } from '../core/index.js';
import { bitGet, bitSet } from './fragment.js';

const KEY_BYTES = 32;

export function encodeKey(key: ChunkKey): Buffer {
  return Buffer.from(key, 'hex');
}

/** Returns null when the body is not exactly one key. */
export function decodeKeyOnly(body: Buffer): ChunkKey | null {
  return body.length === KEY_BYTES ? body.toString('hex') : null;
}

export function encodeRangeRequest(key: ChunkKey, firstLeaf: number, leafCount: number): Buffer {
  const b = Buffer.allocUnsafe(KEY_BYTES + 4);
  b.write(key, 0, KEY_BYTES, 'hex');
  b.writeUInt16BE(firstLeaf, KEY_BYTES);
  b.writeUInt16BE(leafCount, KEY_BYTES + 2);
  return b;
}

export function decodeRangeRequest(body: Buffer): { key: ChunkKey; firstLeaf: number; leafCount: number } | null {
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

export function decodeRangeAnswer(body: Buffer): { leafHashes: Buffer; bytes: Buffer } | null {
  if (body.length < 2) return null;
  const hashBytes = body.readUInt16BE(0) * KEY_BYTES;
  if (body.length < 2 + hashBytes) return null;
  return { leafHashes: body.subarray(2, 2 + hashBytes), bytes: body.subarray(2 + hashBytes) };
}

const FLAG_MANIFEST = 0x01;
const FLAG_LEAVES = 0x02;
const FLAG_TAKE = 0x04;
const PUT_HEADER_BYTES = KEY_BYTES + 2;
export const REPLICAS_MAX = 16;

/** A CHUNK_PUT body as parts: its header (and leaf hashes), then the data itself (not copied). */
export function encodePut(key: ChunkKey, data: Buffer, meta: ChunkMeta, leafHashes?: Buffer): Buffer[] {
  const header = Buffer.allocUnsafe(PUT_HEADER_BYTES);
  header.write(key, 0, KEY_BYTES, 'hex');
  header.writeUInt8((meta.isManifest ? FLAG_MANIFEST : 0) | (leafHashes ? FLAG_LEAVES : 0), KEY_BYTES);
  header.writeUInt8(meta.replicas, KEY_BYTES + 1);
  return leafHashes ? [header, leafHashes, data] : [header, data];
}

export function decodePut(body: Buffer): { key: ChunkKey; meta: ChunkMeta; data: Buffer; leafHashes: Buffer | null } | null {
  if (body.length < PUT_HEADER_BYTES) return null;
  const flags = body.readUInt8(KEY_BYTES);
  const replicas = body.readUInt8(KEY_BYTES + 1);
  if ((flags & ~(FLAG_MANIFEST | FLAG_LEAVES)) !== 0 || replicas < 1 || replicas > REPLICAS_MAX) return null;
  let rest = body.subarray(PUT_HEADER_BYTES);
  let leafHashes: Buffer | null = null;
  if (flags & FLAG_LEAVES) {
    // n leaves of LEAF_BYTES need n x 32 bytes of hashes: solve for n from the rest's length.
    const leaves = Math.ceil(Math.max(0, rest.length - KEY_BYTES) / (LEAF_BYTES + KEY_BYTES));
    if (rest.length < leaves * KEY_BYTES || Math.ceil((rest.length - leaves * KEY_BYTES) / LEAF_BYTES) !== leaves) return null;
    leafHashes = rest.subarray(0, leaves * KEY_BYTES);
    rest = rest.subarray(leaves * KEY_BYTES);
  }
  return { key: body.toString('hex', 0, KEY_BYTES), meta: { replicas, isManifest: (flags & FLAG_MANIFEST) !== 0 }, data: rest, leafHashes };
}

export const LIST_LIMIT_MAX = 1024;
const LIST_ENTRY_BYTES = KEY_BYTES + 2;

export function encodeList(after: ChunkKey | null, limit: number): Buffer {
  const buf = Buffer.alloc(KEY_BYTES + 2);
  if (after) buf.write(after, 0, KEY_BYTES, 'hex');
  buf.writeUInt16BE(limit, KEY_BYTES);
  return buf;
}

export function decodeList(body: Buffer): { after: ChunkKey | null; limit: number } | null {
  if (body.length !== KEY_BYTES + 2) return null;
  const limit = body.readUInt16BE(KEY_BYTES);
  if (limit < 1 || limit > LIST_LIMIT_MAX) return null;
  const zero = body.subarray(0, KEY_BYTES).every((b) => b === 0);
  return { after: zero ? null : body.toString('hex', 0, KEY_BYTES), limit };
}

export function encodeListReply(entries: { key: ChunkKey; meta: ChunkMeta }[]): Buffer {
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

export function decodeListReply(body: Buffer): { key: ChunkKey; meta: ChunkMeta }[] | null {
  if (body.length < 2) return null;
  const n = body.readUInt16BE(0);
  if (n > LIST_LIMIT_MAX || body.length !== 2 + n * LIST_ENTRY_BYTES) return null;
  const out: { key: ChunkKey; meta: ChunkMeta }[] = [];
  for (let i = 0; i < n; i++) {
    const o = 2 + i * LIST_ENTRY_BYTES;
    out.push({
      key: body.toString('hex', o, o + KEY_BYTES),
      meta: { isManifest: (body.readUInt8(o + KEY_BYTES) & FLAG_MANIFEST) !== 0, replicas: body.readUInt8(o + KEY_BYTES + 1) },
    });
  }
  return out;
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

const COLLECT_DRY_RUN = 0x01;

export function encodeCollect(minAgeMs: number, keys: ChunkKey[], dryRun = false): Buffer {
  const head = Buffer.allocUnsafe(5);
  head.writeUInt8(dryRun ? COLLECT_DRY_RUN : 0, 0);
  head.writeUInt32BE(Math.min(0xffffffff, Math.ceil(minAgeMs / 1000)), 1);
  return Buffer.concat([head, encodeHas(keys)]);
}

export function decodeCollect(body: Buffer): { minAgeMs: number; keys: ChunkKey[]; dryRun: boolean } | null {
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

/** A LOCAL_GRANT answer: where a cell on the machine `machine` keeps its chunks (layout: core/layout.ts) and takes new ones. */
export interface LocalGrant {
  machine: string;
  chunkDir: string;
  incomingDir: string;
  /** The cell's chunk metadata database, where local readers find leaf hashes (core/layout.ts); absent from older cells. */
  metaPath?: string;
  /** The cell's record database, which writers on this machine may merge records into as a REC_PUT would; absent from older cells. */
  recordsPath?: string;
}

export function parseLocalGrant(v: unknown): LocalGrant | null {
  const g = v as Partial<LocalGrant> | null;
  const absolute = (p: unknown): p is string => typeof p === 'string' && p.startsWith('/');
  if (!g || typeof g.machine !== 'string' || !absolute(g.chunkDir) || !absolute(g.incomingDir)) return null;
  return {
    machine: g.machine,
    chunkDir: g.chunkDir,
    incomingDir: g.incomingDir,
    ...(absolute(g.metaPath) ? { metaPath: g.metaPath } : {}),
    ...(absolute(g.recordsPath) ? { recordsPath: g.recordsPath } : {}),
  };
}

/** What a file handed to a cell may be called: one plain name in its incoming directory. */
const INCOMING_NAME = /^[A-Za-z0-9._-]{1,128}$/;

export function encodeAdopt(key: ChunkKey, meta: ChunkMeta, leafHashes: Buffer, name: string, take = false): Buffer {
  const head = encodePut(key, Buffer.alloc(0), meta)[0]!;
  if (take) head.writeUInt8(head.readUInt8(KEY_BYTES) | FLAG_TAKE, KEY_BYTES);
  const count = Buffer.allocUnsafe(2);
  count.writeUInt16BE(leafHashes.length / KEY_BYTES, 0);
  return Buffer.concat([head, count, leafHashes, Buffer.from(name, 'utf8')]);
}

export function decodeAdopt(body: Buffer): { key: ChunkKey; meta: ChunkMeta; leafHashes: Buffer; name: string; take: boolean } | null {
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
