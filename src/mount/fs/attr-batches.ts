import { LRUCache } from 'lru-cache';

/**
 * Inodes asked for in one batch: what `ls -l`, `du` or `find | xargs stat`
 * will want next, in one REC_GET per placement group instead of one per
 * file. Below the 512 records a message carries; about 256 inode records
 * (~75 KiB without inline data) per answer.
 */
export const ATTR_BATCH_MAX = 256;
/** Batches in flight at once (one a miss waits for, one read ahead of the caller). */
const BATCHES_IN_FLIGHT_MAX = 4;
/** Entries of listings remembered in order, over every directory (an ino string each): ~25 MB at most. */
export const ORDER_ENTRIES_MAX = 262_144;
/** Positions looked at past fresh attributes when gathering a batch. */
const SCAN_POSITIONS_MAX = 4 * ATTR_BATCH_MAX;

/** A directory's entries' inos as its last listing gave them, and how far batches have been asked for. */
interface Order {
  inos: string[];
  indexOf: Map<string, number>;
  /** Positions below this were asked for (a batch started at or past them) since the listing. */
  askedTo: number;
}

export interface AttrBatchesComponents {
  /** Reads these inodes' records and keeps them as attributes (each at most ATTR_BATCH_MAX). */
  fetch: (inos: string[]) => Promise<void>;
  /** True when an inode's attributes are held and younger than the attribute TTL. */
  isFresh: (ino: string) => boolean;
}

/**
 * The inodes of a listed directory fetched in batches, in the listing's
 * order: a miss on one entry's attributes fetches it with the entries after
 * it, and a hit past the middle of what was fetched starts the next batch,
 * so a reader going through the directory (the order `ls -l` and `du` go
 * in, both sorted as the listing is) finds its attributes at hand. Only
 * what is asked for is fetched: a plain `ls` costs no inode reads.
 */
export class AttrBatches {
  private readonly orders: LRUCache<string, Order>;
  /** Inos in a batch under way, and that batch. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private batchesInFlight = 0;

  constructor(private readonly components: AttrBatchesComponents) {
    this.orders = new LRUCache({ max: 4_096, maxSize: ORDER_ENTRIES_MAX, sizeCalculation: (o) => o.inos.length + 1 });
  }

  /** A directory's entries as just listed, in the listing's order (one listing too large for the bound is not kept). */
  noteListing(dir: string, inos: string[]): void {
    if (inos.length + 1 > ORDER_ENTRIES_MAX) {
      this.orders.delete(dir);
      return;
    }
    const indexOf = new Map<string, number>();
    inos.forEach((ino, i) => indexOf.set(ino, i));
    this.orders.set(dir, { inos, indexOf, askedTo: 0 });
  }

  /**
   * The batch that brings `ino`'s attributes (it first, then the entries
   * after it in `dir`'s listing), or null when `dir`'s listing does not
   * name it: then the caller reads the inode alone.
   */
  load(dir: string, ino: string): Promise<void> | null {
    const under = this.inFlight.get(ino);
    if (under) return under;
    const order = this.orders.get(dir);
    const at = order?.indexOf.get(ino);
    if (!order || at === undefined) return null;
    return this.start(order, at, true);
  }

  /**
   * An entry's attributes were found held: when the reader is past the
   * middle of what was asked for, the next batch starts now, so that it is
   * there before the reader.
   */
  ahead(dir: string, ino: string): void {
    const order = this.orders.get(dir);
    const at = order?.indexOf.get(ino);
    if (!order || at === undefined || this.batchesInFlight >= BATCHES_IN_FLIGHT_MAX) return;
    if (at + ATTR_BATCH_MAX / 2 < order.askedTo || order.askedTo >= order.inos.length) return;
    // A failed batch costs nothing here: each entry it missed is read when asked for.
    void this.start(order, Math.max(order.askedTo, at + 1), false).catch(() => undefined);
  }

  /** Forgets every listing's order (the caches were dropped); batches under way finish. */
  clear(): void {
    this.orders.clear();
  }

  /** Asks for the entries from `from` on that are neither fresh nor under way (`withFirst`: the one at `from` in any case). */
  private start(order: Order, from: number, withFirst: boolean): Promise<void> {
    const batch: string[] = [];
    let i = from;
    for (; i < order.inos.length && i < from + SCAN_POSITIONS_MAX && batch.length < ATTR_BATCH_MAX; i++) {
      const ino = order.inos[i]!;
      // A miss's own entry is fetched even if it just turned fresh: its caller found it missing.
      if (!(withFirst && i === from) && (this.components.isFresh(ino) || this.inFlight.has(ino))) continue;
      batch.push(ino);
    }
    order.askedTo = Math.max(order.askedTo, i);
    if (batch.length === 0) return Promise.resolve();
    this.batchesInFlight++;
    const fetched = this.components.fetch(batch).finally(() => {
      this.batchesInFlight--;
      for (const ino of batch) if (this.inFlight.get(ino) === fetched) this.inFlight.delete(ino);
    });
    for (const ino of batch) this.inFlight.set(ino, fetched);
    return fetched;
  }
}
