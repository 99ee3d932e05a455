import type { ChunkCache } from './chunk-cache.js';
import { chunkLength, type DirtyChunk, type OpenFile } from './open-file.js';

/** A chunk buffer needed for this many bytes or more is made whole at once: anything sizable is likely to grow to a chunk. */
const WHOLE_CHUNK_FROM_BYTES = 64 * 1024;
/** The smallest buffer of a small file's chunk (one page); it doubles as the file grows. */
const SMALL_CHUNK_BYTES_MIN = 4096;

/**
 * The chunks of open files changed here and not yet stored, and the budget
 * of bytes they (and patches) hold across all open files. A chunk's bytes
 * as they are now come from here (see chunkNow).
 */
export class DirtyChunks {
  /** Bytes buffered across all open files: dirty chunks' buffers and patches (see FsOptions.writebackBytesMax). */
  bytes = 0;
  /** A hole's bytes. */
  readonly zeros: Buffer;

  constructor(private readonly components: { cache: ChunkCache }, init: { chunkBytes: number }) {
    this.zeros = Buffer.alloc(init.chunkBytes);
  }

  /** The current bytes of chunk `index` if they are in memory (dirty, inline, cached or a hole), else null. */
  chunkNow(f: OpenFile, index: number): Buffer | null {
    if (f.patches.has(index)) return null;
    const d = f.dirty.get(index);
    if (d) return d.buf;
    if (f.inline && index === 0) return f.inline;
    const key = f.chunks.get(index);
    if (!key) return this.zeros;
    return this.components.cache.get(key) ?? null;
  }

  /**
   * The old bytes a write into chunk `index` must keep, without fetching:
   * null when there are none to keep (new, a hole, dirty already, or wholly
   * overwritten), undefined when they are not in memory.
   */
  sourceNow(f: OpenFile, index: number, position: number, length: number): Buffer | null | undefined {
    // A patched chunk is read before anything else is written into it, even over all of it (its patches go then).
    if (f.patches.has(index)) return undefined;
    if (f.dirty.has(index)) return null;
    const old = chunkLength(f, index);
    const start = index * f.chunkBytes;
    if (old === 0 || (position <= start && position + length >= start + old)) return null;
    if (f.inline && index === 0) return f.inline;
    const key = f.chunks.get(index);
    if (!key) return null;
    return this.components.cache.get(key);
  }

  /**
   * The dirty chunk at `index`, unsealed and at least `upTo` bytes long, for
   * a write of bytes [from, upTo) of it; created from its old bytes when
   * needed (which the caller has made sure are in memory).
   */
  writable(f: OpenFile, index: number, from: number, upTo: number): DirtyChunk {
    let d = f.dirty.get(index);
    if (!d) return this.make(f, index, this.sourceNow(f, index, index * f.chunkBytes + from, upTo - from) ?? null, upTo);
    if (d.sealed || d.buf.length < upTo) {
      // Copy on write (the sealed buffer is being sent), or grow.
      const fresh = this.bufferFor(capacityFor(f, Math.max(upTo, d.buf.length), d.buf.length), d.buf);
      if (!d.sealed && d.pooled) this.components.cache.dirtyBuffers.putLater(d.pooled);
      this.bytes += fresh.buf.length - d.buf.length;
      d = { ...fresh, version: d.version + 1, sealed: false };
      f.dirty.set(index, d);
    }
    return d;
  }

  /** Makes chunk `index` dirty with `src` as its old bytes (null: none), room for `upTo` bytes at least. */
  make(f: OpenFile, index: number, src: Buffer | null, upTo: number): DirtyChunk {
    const keep = src ? Math.min(chunkLength(f, index), src.length) : 0;
    const d: DirtyChunk = { ...this.bufferFor(capacityFor(f, Math.max(upTo, keep), 0), src?.subarray(0, keep)), version: 0, sealed: false };
    if (f.inline && index === 0) f.inline = null;
    f.dirty.set(index, d);
    this.bytes += d.buf.length;
    return d;
  }

  /** A dirty chunk dropped unsent: its pool buffer goes back (a sealed one is its upload's to give back). */
  drop(f: OpenFile, index: number): void {
    const d = f.dirty.get(index);
    if (!d) return;
    this.bytes -= d.buf.length;
    f.dirty.delete(index);
    if (!d.sealed && d.pooled) this.components.cache.dirtyBuffers.putLater(d.pooled);
  }

  dropAll(f: OpenFile): void {
    for (const index of [...f.dirty.keys()]) this.drop(f, index);
  }

  /** A dirty chunk now stored: no longer dirty, its buffer handed on by the upload. */
  stored(f: OpenFile, index: number, d: DirtyChunk): void {
    f.dirty.delete(index);
    this.bytes -= d.buf.length;
  }

  /** A buffer of `bytes` for a dirty chunk, starting with `from` and zeros after it; a whole default-sized chunk's from the pool. */
  private bufferFor(bytes: number, from?: Buffer): { buf: Buffer; pooled?: Buffer } {
    const pool = this.components.cache.dirtyBuffers;
    const size = pool.bufferBytes;
    const pooled = bytes > size / 2 && bytes <= size ? pool.take() : undefined;
    const buf = pooled ? pooled.subarray(0, bytes) : Buffer.alloc(bytes);
    const kept = from ? from.copy(buf, 0, 0, Math.min(from.length, bytes)) : 0;
    if (pooled) buf.fill(0, kept);
    return { buf, pooled };
  }
}

/** Buffer size for `need` bytes of a chunk: small files stay small; anything sizable gets the whole chunk at once. */
function capacityFor(f: OpenFile, need: number, had: number): number {
  if (need >= WHOLE_CHUNK_FROM_BYTES) return f.chunkBytes;
  let cap = Math.max(SMALL_CHUNK_BYTES_MIN, had * 2);
  while (cap < need) cap *= 2;
  return Math.min(cap, f.chunkBytes);
}
