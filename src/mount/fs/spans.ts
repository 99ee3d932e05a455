import { LEAF_BYTES } from '../../core/index.js';

/** The part of one chunk a byte range covers: bytes [within, within + n) of chunk `index`, at `offset` from the range's start. */
export interface ChunkSpan {
  index: number;
  within: number;
  n: number;
  offset: number;
}

/**
 * The chunk spans of bytes [position, position + length), in order. The
 * read, write and cut paths all walk a range this way; a generator of small
 * objects costs a reader of 128 KiB requests (one span each, mostly) next to
 * nothing.
 */
export function* chunkSpans(position: number, length: number, chunkBytes: number): Generator<ChunkSpan, void, undefined> {
  const end = position + length;
  for (let pos = position; pos < end; ) {
    const index = Math.floor(pos / chunkBytes);
    const within = pos - index * chunkBytes;
    const n = Math.min(end - pos, chunkBytes - within);
    yield { index, within, n, offset: pos - position };
    pos += n;
  }
}

/** The leaves covering bytes [within, within + n) of a chunk. */
export function leafSpan(within: number, n: number): { first: number; count: number } {
  const first = Math.floor(within / LEAF_BYTES);
  return { first, count: Math.floor((within + n - 1) / LEAF_BYTES) - first + 1 };
}

/** n bytes of src from `from` into out at `at`. A stored chunk may be shorter than its chunk (the old end of a file that grew): the rest reads as zeros. */
export function copyOut(src: Buffer, from: number, n: number, out: Buffer, at: number): void {
  const avail = Math.max(0, Math.min(n, src.length - from));
  if (avail > 0) src.copy(out, at, from, from + avail);
  if (avail < n) out.fill(0, at + avail, at + n);
}
