import type { ChunkKey } from '../core/index.js';

/** A stored chunk of a file: its key and, where known, its leaf root (range reads; see LEAF_BYTES). */
export interface StoredChunk {
  index: number;
  key: ChunkKey;
  root: string | null;
}

/**
 * A file's chunks by index: a stored chunk, or a hole (all zeros, never
 * stored) for every index not set. Sparse: it costs memory for the stored
 * chunks only, whatever the file's size (a dense array of a 16 TiB sparse
 * file's 4 million holes is what a `truncate -s` must never allocate).
 * Stored chunks are kept in a Map, which keeps them in index order while
 * they are added in order (a sequential writer); otherwise it is sorted
 * again the next time they are walked in order.
 */
export class ChunkList {
  private entries = new Map<number, StoredChunk>();
  /** The highest index set, while entries are in index order; -1 if empty; NaN once out of order. */
  private last = -1;

  /** The list of keys given in index order (null: a hole). */
  static of(keys: Iterable<ChunkKey | null>): ChunkList {
    const list = new ChunkList();
    let index = 0;
    for (const key of keys) list.set(index++, key);
    return list;
  }

  /** An independent copy (a version to go back to). */
  copy(): ChunkList {
    const list = new ChunkList();
    for (const e of this.stored()) list.set(e.index, e.key, e.root);
    return list;
  }

  get(index: number): ChunkKey | null {
    return this.entries.get(index)?.key ?? null;
  }

  rootOf(index: number): string | null {
    return this.entries.get(index)?.root ?? null;
  }

  /** Sets chunk `index` (a null key makes it a hole). */
  set(index: number, key: ChunkKey | null, root: string | null = null): void {
    if (key === null) {
      this.entries.delete(index);
      return;
    }
    const had = this.entries.get(index);
    if (had) {
      had.key = key;
      had.root = root;
      return;
    }
    if (index > this.last) this.last = index;
    else this.last = NaN;
    this.entries.set(index, { index, key, root });
  }

  /** Makes every chunk from `count` on a hole (a file cut to `count` chunks). */
  cut(count: number): void {
    for (const index of this.entries.keys()) if (index >= count) this.entries.delete(index);
    // Still in order: deleting keeps it so.
    if (this.last >= count) this.last = count - 1;
  }

  /** How many chunks are stored (not holes). */
  get storedCount(): number {
    return this.entries.size;
  }

  /** The stored chunks in index order (holes skipped). */
  stored(): IterableIterator<StoredChunk> {
    if (Number.isNaN(this.last)) {
      const sorted = [...this.entries.values()].sort((a, b) => a.index - b.index);
      this.entries = new Map(sorted.map((e) => [e.index, e]));
      this.last = sorted.length > 0 ? sorted[sorted.length - 1]!.index : -1;
    }
    return this.entries.values();
  }

  /** The distinct keys of the stored chunks. */
  keys(): Set<ChunkKey> {
    const keys = new Set<ChunkKey>();
    for (const e of this.entries.values()) keys.add(e.key);
    return keys;
  }
}
