import { LRUCache } from 'lru-cache';
import type { Replaced } from '../store/index.js';
import type { RecordVersion } from '../wire/index.js';

/**
 * A writer undoes a failed quorum write within a few request timeouts (the
 * failed homes' 1.5 s, then the undo's own); an undo later than this finds
 * nothing kept, and the write stays (see docs/decisions/0029).
 */
const UNDO_KEPT_MS = 60_000;
/** Bytes of replaced records kept at most (their JSON size, roughly): a burst of writes pushes the oldest out first. */
const UNDO_BYTES_MAX = 16 * 1024 * 1024;

/**
 * What a cell's quorum writes (REC_WRITE) replaced, kept for a minute by
 * key and version, so that the writer can undo a write that did not reach a
 * majority (REC_UNDO): the cell, not the writer, knows what it held before,
 * and it may have applied a write whose answer the writer never saw.
 */
export class RecordUndoLog {
  private readonly kept = new LRUCache<string, Replaced>({
    maxSize: UNDO_BYTES_MAX,
    sizeCalculation: (r) => r.k.length + r.v.length + (r.prev ? JSON.stringify(r.prev.d)?.length ?? 0 : 0) + 64,
    ttl: UNDO_KEPT_MS,
  });

  keep(replaced: Replaced[]): void {
    for (const r of replaced) this.kept.set(idOf(r), r);
  }

  /** What the writes of these versions replaced, where kept (each taken once). */
  take(versions: RecordVersion[]): Replaced[] {
    return versions.flatMap((v) => {
      const id = idOf(v);
      const r = this.kept.get(id);
      this.kept.delete(id);
      return r ? [r] : [];
    });
  }
}

function idOf(r: { k: string; v: string }): string {
  return `${r.k}\0${r.v}`;
}
