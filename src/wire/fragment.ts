/*
 * Bulk messages (bodies larger than one datagram) travel as FRAGMENT frames,
 * each acknowledged selectively by FRAGMENT_ACK frames. Both carry the
 * request id of the request they belong to in the frame header, and the
 * frame's response flag says which direction the transfer runs.
 *
 * FRAGMENT body:
 *  offset size field
 *   0      1   inner message type
 *   1      1   inner flags
 *   2      1   inner status
 *   3      1   reserved (0)
 *   4      4   total message length in bytes
 *   8      2   fragment index (0-based)
 *  10      2   fragment count
 *  12      n   fragment data
 *
 * FRAGMENT_ACK body:
 *   0      2   fragment count
 *   2      1   1 when the whole message has been received
 *   3      1   reserved (0)
 *   4      m   bitmap of received fragments, bit i = byte i>>3, mask 1<<(i&7); m = ceil(count/8)
 */
import { FRAGMENTS_PER_MESSAGE_MAX, MESSAGE_BYTES_MAX } from '../core/index.js';

export const FRAGMENT_HEADER_BYTES = 12;
export const FRAGMENT_ACK_HEADER_BYTES = 4;

export interface Fragment {
  innerType: number;
  innerFlags: number;
  innerStatus: number;
  totalBytes: number;
  index: number;
  count: number;
  data: Buffer;
}

export function encodeFragment(f: Fragment): Buffer {
  return Buffer.concat(encodeFragmentParts(f));
}

/** The fragment's header followed by its data parts (the data is not copied). */
export function encodeFragmentParts(f: Omit<Fragment, 'data'> & { data: Buffer | Buffer[] }): Buffer[] {
  const buf = Buffer.allocUnsafe(FRAGMENT_HEADER_BYTES);
  buf.writeUInt8(f.innerType, 0);
  buf.writeUInt8(f.innerFlags, 1);
  buf.writeUInt8(f.innerStatus, 2);
  buf.writeUInt8(0, 3);
  buf.writeUInt32BE(f.totalBytes, 4);
  buf.writeUInt16BE(f.index, 8);
  buf.writeUInt16BE(f.count, 10);
  return Array.isArray(f.data) ? [buf, ...f.data] : [buf, f.data];
}

/** Returns null for anything inconsistent; the caller counts it as a bad body. */
export function decodeFragment(body: Buffer): Fragment | null {
  if (body.length < FRAGMENT_HEADER_BYTES) return null;
  const totalBytes = body.readUInt32BE(4);
  const index = body.readUInt16BE(8);
  const count = body.readUInt16BE(10);
  if (body.readUInt8(3) !== 0) return null;
  if (totalBytes === 0 || totalBytes > MESSAGE_BYTES_MAX) return null;
  if (count === 0 || count > FRAGMENTS_PER_MESSAGE_MAX || index >= count) return null;
  return {
    innerType: body.readUInt8(0),
    innerFlags: body.readUInt8(1),
    innerStatus: body.readUInt8(2),
    totalBytes,
    index,
    count,
    data: body.subarray(FRAGMENT_HEADER_BYTES),
  };
}

export interface FragmentAck {
  count: number;
  complete: boolean;
  bitmap: Uint8Array;
}

export function encodeFragmentAck(a: FragmentAck): Buffer {
  const m = Math.ceil(a.count / 8);
  const buf = Buffer.alloc(FRAGMENT_ACK_HEADER_BYTES + m);
  buf.writeUInt16BE(a.count, 0);
  buf.writeUInt8(a.complete ? 1 : 0, 2);
  buf.set(a.bitmap.subarray(0, m), FRAGMENT_ACK_HEADER_BYTES);
  return buf;
}

export function decodeFragmentAck(body: Buffer): FragmentAck | null {
  if (body.length < FRAGMENT_ACK_HEADER_BYTES) return null;
  const count = body.readUInt16BE(0);
  const flag = body.readUInt8(2);
  if (count === 0 || count > FRAGMENTS_PER_MESSAGE_MAX || flag > 1 || body.readUInt8(3) !== 0) return null;
  if (body.length !== FRAGMENT_ACK_HEADER_BYTES + Math.ceil(count / 8)) return null;
  return { count, complete: flag === 1, bitmap: body.subarray(FRAGMENT_ACK_HEADER_BYTES) };
}

export function bitGet(bitmap: Uint8Array, i: number): boolean {
  return (bitmap[i >> 3]! & (1 << (i & 7))) !== 0;
}

export function bitSet(bitmap: Uint8Array, i: number): void {
  bitmap[i >> 3]! |= 1 << (i & 7);
}
