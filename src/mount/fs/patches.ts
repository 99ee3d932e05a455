import type { ChunkCache } from './chunk-cache.js';
import type { DirtyChunks } from './dirty-chunks.js';
import type { OpenFile } from './open-file.js';
import type { Uploads } from './uploads.js';

/** Bytes of patches a chunk collects (see ChunkPatches) before it is read and patched at once. */
const PATCH_BYTES_MAX = 256 * 1024;
/** Patched chunks read ahead while the patched chunks of a file are stored. */
const PATCH_FETCHES_AHEAD = 4;

/**
 * Writes into stored chunks that are not dirty, kept as patches (see
 * ChunkPatches) and applied when the chunk is needed whole: read, stored
 * or cut. content() is a chunk's current bytes with its patches applied.
 */
export class Patches {
  constructor(private readonly components: { cache: ChunkCache; dirty: DirtyChunks; uploads: Uploads }) {}

  /**
   * A write inside one stored chunk that is not dirty, kept as a patch of it,
   * copied first if `copy` (FUSE reuses its buffer): false if it cannot be.
   * A chunk in the cache is patched too: made dirty, it would take a whole
   * chunk of the write-back budget, and be stored once the budget is full,
   * for a few writes each.
   */
  patchNow(f: OpenFile, bytes: Buffer, position: number, copy: boolean): boolean {
    const index = Math.floor(position / f.chunkBytes);
    const within = position - index * f.chunkBytes;
    if (within + bytes.length > f.chunkBytes || (f.inline && index === 0) || this.components.dirty.sourceNow(f, index, position, bytes.length) === null) return false;
    const p = f.patches.get(index) ?? { parts: [], bytes: 0 };
    if (p.bytes + bytes.length > PATCH_BYTES_MAX) return false;
    p.parts.push({ at: within, bytes: copy ? Buffer.from(bytes) : bytes });
    p.bytes += bytes.length;
    f.patches.set(index, p);
    this.components.dirty.bytes += bytes.length;
    f.size = Math.max(f.size, position + bytes.length);
    return true;
  }

  /** The current bytes of chunk `index` (dirty, inline, stored or a hole); a patched chunk is patched first. */
  async content(f: OpenFile, index: number): Promise<Buffer> {
    if (f.patches.has(index)) await this.apply(f, index);
    return this.components.dirty.chunkNow(f, index) ?? this.components.cache.fetch(f.chunks.get(index)!);
  }

  /** Makes a patched chunk dirty: its stored bytes, then its patches in the order they were written. */
  async apply(f: OpenFile, index: number): Promise<void> {
    const base = await this.components.cache.fetch(f.chunks.get(index)!);
    // Whoever resumes first applies them (a read and a write may both have asked).
    const p = f.patches.get(index);
    if (!p) return;
    const { dirty } = this.components;
    this.drop(f, index);
    dirty.make(f, index, base, 0);
    for (const { at, bytes } of p.parts) {
      const d = dirty.writable(f, index, at, at + bytes.length);
      bytes.copy(d.buf, at);
      d.version++;
    }
  }

  drop(f: OpenFile, index: number): void {
    this.components.dirty.bytes -= f.patches.get(index)?.bytes ?? 0;
    f.patches.delete(index);
  }

  dropAll(f: OpenFile): void {
    for (const index of [...f.patches.keys()]) this.drop(f, index);
  }

  /** Applies the patches of a file chunk by chunk and starts storing each, reading the next few chunks meanwhile. */
  async store(f: OpenFile): Promise<void> {
    const indices = [...f.patches.keys()].sort((a, b) => a - b);
    for (const [n, index] of indices.entries()) {
      for (const next of indices.slice(n + 1, n + 1 + PATCH_FETCHES_AHEAD)) {
        if (f.patches.has(next)) this.components.cache.fetch(f.chunks.get(next)!).catch(() => {});
      }
      if (f.patches.has(index)) await this.apply(f, index);
      await this.components.uploads.start(f, index);
    }
  }
}
