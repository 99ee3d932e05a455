import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { CELL_ID_BYTES, type CellId } from '../core/index.js';
import { FRAGMENT_HEADER_BYTES } from './fragment.js';
import { FLAG_RESPONSE, MessageType, isMessageType, type Status } from './types.js';

/*
 * Frame layout, version 3 (PROTOCOL_VERSION). Every datagram is exactly one frame.
 *
 *  offset size field
 *   0      2   magic 0xCE11
 *   2      1   protocol version (PROTOCOL_VERSION)
 *   3      1   message type (MessageType)
 *   4      1   flags (bit 0: response)
 *   5      1   status (Status; 0 in requests)
 *   6      2   body length in bytes
 *   8      8   sender id
 *  16      4   request id (0 for one-way messages)
 *  20      8   timestamp: wall ms x 1024 + a per-sender sequence, strictly
 *              increasing per sender (replay window and duplicate detection)
 *  28      n   body
 *  28+n   16   tag: HMAC-SHA-256 with the swarm key, truncated to 128 bits,
 *              over bytes 0..28+n; for FRAGMENT frames, over the header
 *              (bytes 0..28) followed by the SHA-256 of the body, except
 *              for chunk data (below)
 *
 * Why fragments differ: one chunk goes to R cells as R sets of fragments whose
 * bodies are identical. The body's digest is computed once for all R copies
 * and each copy's MAC covers only its 28-byte header and that digest, so a
 * sender hashes the data once instead of R times.
 *
 * Chunk data: fragments 1..n of a CHUNK_PUT request or a CHUNK_GET answer
 * carry nothing but chunk bytes, which the receiver checks against the
 * chunk's SHA-256 key anyway (a cell before storing, a reader before using).
 * Their MAC covers the 28-byte header and the 12-byte fragment header only:
 * a forged body can only make that check fail (a retry), never pass. This
 * saves one SHA-256 pass over every chunk on each side. Fragment 0 is always
 * MACed whole: it holds the put's key and metadata. A guard judging a cell
 * asks with CHUNK_PROBE instead, whose answer is MACed whole: otherwise bytes
 * changed in flight could get a healthy cell quarantined. (Version 3; version 2
 * MACed every fragment's body digest, version 1 every body whole.)
 */
export const FRAME_MAGIC = 0xce11;
export const PROTOCOL_VERSION = 3;
export const FRAME_HEADER_BYTES = 28;
export const FRAME_TAG_BYTES = 16;
export const FRAME_OVERHEAD_BYTES = FRAME_HEADER_BYTES + FRAME_TAG_BYTES;
/** Timestamp units per millisecond: room for 1,024 frames per ms per sender. */
export const TIMESTAMP_TICKS_PER_MS = 1024;

export interface Frame {
  type: MessageType;
  flags: number;
  status: Status;
  sender: CellId;
  requestId: number;
  /** In ticks (ms x 1024). */
  timestamp: number;
  body: Buffer;
}

/** The swarm's keys: signs with the first, accepts any (so a key can be rotated without a flag day). */
export class KeyRing {
  private readonly keys: Buffer[];

  constructor(keys: Buffer[]) {
    if (keys.length === 0 || keys.some((k) => k.length < 16)) throw new Error('swarm key must be at least 16 bytes');
    this.keys = keys.map((k) => Buffer.from(k));
  }

  sign(parts: Buffer[]): Buffer {
    return tag(this.keys[0]!, parts);
  }

  verify(parts: Buffer[], t: Buffer): boolean {
    return this.keys.some((k) => timingSafeEqual(tag(k, parts), t));
  }
}

function tag(key: Buffer, parts: Buffer[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest().subarray(0, FRAME_TAG_BYTES);
}

/** SHA-256 of a body given as parts: what a FRAGMENT frame's MAC covers. */
export function bodyDigest(parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** True for a fragment that holds only chunk bytes (see "Chunk data" above): its MAC skips the body. */
export function fragmentIsChunkData(innerType: number, innerFlags: number, index: number): boolean {
  if (index === 0) return false;
  const response = (innerFlags & FLAG_RESPONSE) !== 0;
  return (innerType === MessageType.CHUNK_PUT && !response) || (innerType === MessageType.CHUNK_GET && response);
}

function headIsChunkData(head: Buffer): boolean {
  return head.length >= FRAGMENT_HEADER_BYTES && fragmentIsChunkData(head[0]!, head[1]!, head.readUInt16BE(8));
}

/** What a FRAGMENT frame's MAC covers after its frame header. */
function fragmentSigned(bodyParts: Buffer[], digest?: Buffer): Buffer {
  const head = bodyParts[0]!;
  if (headIsChunkData(head)) return head.subarray(0, FRAGMENT_HEADER_BYTES);
  return digest ?? bodyDigest(bodyParts);
}

/**
 * Encodes a frame as parts to send with one gathered write (no copy of the
 * body): [header, ...bodyParts, tag]. The MAC covers header and body (for a
 * FRAGMENT, the body's digest, which may be given when already known, or for
 * chunk data the fragment header; the fragment header comes first in bodyParts).
 */
export function encodeFrameParts(keys: KeyRing, f: Omit<Frame, 'body'>, bodyParts: Buffer[], digest?: Buffer): Buffer[] {
  let bodyLength = 0;
  for (const p of bodyParts) bodyLength += p.length;
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt16BE(FRAME_MAGIC, 0);
  header.writeUInt8(PROTOCOL_VERSION, 2);
  header.writeUInt8(f.type, 3);
  header.writeUInt8(f.flags, 4);
  header.writeUInt8(f.status, 5);
  header.writeUInt16BE(bodyLength, 6);
  header.write(f.sender, 8, CELL_ID_BYTES, 'hex');
  header.writeUInt32BE(f.requestId >>> 0, 16);
  header.writeBigUInt64BE(BigInt(f.timestamp), 20);
  const signed = f.type === MessageType.FRAGMENT ? [header, fragmentSigned(bodyParts, digest)] : [header, ...bodyParts];
  return [header, ...bodyParts, keys.sign(signed)];
}

export function encodeFrame(keys: KeyRing, f: Frame): Buffer {
  return Buffer.concat(encodeFrameParts(keys, f, [f.body]));
}

/** Why a datagram was dropped. Counted per reason; never thrown. */
export const DROP_REASONS = [
  'short',
  'oversize',
  'magic',
  'version',
  'type',
  'length',
  'tag',
  'stale',
  'replayed',
  'body',
  'no-request',
  'reassembly-full',
  'reassembly-timeout',
  'quarantined',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

export type DecodeResult = { ok: true; frame: Frame } | { ok: false; reason: DropReason };

/** Strict decoding: any malformed or unauthenticated datagram is a drop reason, never an exception. */
export function decodeFrame(keys: KeyRing, buf: Buffer, datagramBytesMax: number): DecodeResult {
  if (buf.length > datagramBytesMax) return { ok: false, reason: 'oversize' };
  if (buf.length < FRAME_OVERHEAD_BYTES) return { ok: false, reason: 'short' };
  if (buf.readUInt16BE(0) !== FRAME_MAGIC) return { ok: false, reason: 'magic' };
  if (buf.readUInt8(2) !== PROTOCOL_VERSION) return { ok: false, reason: 'version' };
  const bodyLength = buf.readUInt16BE(6);
  if (FRAME_OVERHEAD_BYTES + bodyLength !== buf.length) return { ok: false, reason: 'length' };
  const end = FRAME_HEADER_BYTES + bodyLength;
  // Authenticate before trusting any other field.
  const type = buf.readUInt8(3);
  const signed =
    type === MessageType.FRAGMENT ? [buf.subarray(0, FRAME_HEADER_BYTES), fragmentSigned([buf.subarray(FRAME_HEADER_BYTES, end)])] : [buf.subarray(0, end)];
  if (!keys.verify(signed, buf.subarray(end))) return { ok: false, reason: 'tag' };
  if (!isMessageType(type)) return { ok: false, reason: 'type' };
  return {
    ok: true,
    frame: {
      type,
      flags: buf.readUInt8(4),
      status: buf.readUInt8(5),
      sender: buf.toString('hex', 8, 16),
      requestId: buf.readUInt32BE(16),
      timestamp: Number(buf.readBigUInt64BE(20)),
      body: buf.subarray(FRAME_HEADER_BYTES, end),
    },
  };
}
