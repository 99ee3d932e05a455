import { cellLayoutOf } from './layout.js';
import { LmdbFile, type LmdbFileInit } from './lmdb-file.js';

/** A versioned record: versions compare as strings, the higher wins; d === null is a tombstone. */
export interface VersionedRecord {
  k: string;
  v: string;
  d: unknown;
}

/**
 * What a merge changed for one key: the version it wrote and the record it
 * replaced (null: there was none). restore() puts `prev` back while `v` is
 * still there: the undo of a write that failed to reach a majority.
 */
export interface Replaced {
  k: string;
  v: string;
  prev: VersionedRecord | null;
}

/**
 * A cell's share of the namespace: versioned records in lmdb
 * (<data>/records.lmdb), merged last-writer-wins. Commits are transactional
 * but not fsynced (noSync): a killed cell loses nothing (the OS has the
 * pages); an OS crash may lose its last commits, which anti-entropy restores
 * from the other replicas (every record is acknowledged by a majority of R
 * cells before a write returns). A synced commit would serialize every
 * write on the disk (docs/decisions/0015-unsynced-lmdb-metadata.md).
 */
/** Keys remembered as changed between anti-entropy passes; beyond this the next pass is a full one. */
const CHANGED_KEYS_MAX = 65_536;

export class RecordStore {
  private readonly db: LmdbFile<{ v: string; d: unknown }, string>;
  /** Keys written since the last takeChanged(), or null once there were too many to remember. */
  private changed: Set<string> | null = new Set();

  /**
   * The database at `file` (a cell's is <data>/records.lmdb, see inDataDir).
   * Throws BAD_CONFIG if it is not a sound lmdb database; with
   * init.asideDir, one found damaged in use is replaced by an empty one
   * (see LmdbFile): anti-entropy brings the records back from the other
   * cells that hold them.
   */
  constructor(readonly file: string, init: LmdbFileInit = {}) {
    this.db = new LmdbFile(file, { compression: false, noSync: true }, init);
  }

  /** A cell's record store, in its data directory. */
  static inDataDir(dataDir: string, init: LmdbFileInit = {}): RecordStore {
    return new RecordStore(cellLayoutOf(dataDir).recordsPath, init);
  }

  /**
   * Reads see every commit made before they start, including other
   * processes' (a mount on this machine merges records straight into a
   * cell's database: LocalCellDisks.mergeRecords). lmdb-js keeps one read
   * snapshot until its next timer turn; a request arriving in the same turn
   * as an earlier read would have been answered from before the mount's
   * commit (rm -rf then saw a directory not empty). Starting a new snapshot
   * is cheap next to the read itself.
   */
  get(key: string): VersionedRecord | null {
    const r = this.db.use((db) => {
      db.resetReadTxn();
      return db.get(key);
    });
    return r ? { k: key, v: r.v, d: r.d } : null;
  }

  /**
   * Keeps each record only if it is newer than what is stored, in one
   * synchronous transaction: compare and write cannot interleave with another
   * merge. (It blocks the loop for a fraction of a millisecond; lmdb-js's
   * asynchronous transaction() waits on its write batching, several ms.)
   * Returns what it replaced, for an undo (restore).
   */
  merge(records: VersionedRecord[]): Replaced[] {
    const replaced: Replaced[] = [];
    this.db.use((db) =>
      db.transactionSync(() => {
        for (const r of records) {
          const cur = db.get(r.k);
          if (!cur || r.v > cur.v) {
            db.putSync(r.k, { v: r.v, d: r.d });
            this.changed?.add(r.k);
            replaced.push({ k: r.k, v: r.v, prev: cur ? { k: r.k, v: cur.v, d: cur.d } : null });
          }
        }
      }),
    );
    if (this.changed && this.changed.size > CHANGED_KEYS_MAX) this.changed = null;
    return replaced;
  }

  /**
   * Undoes merges: each key still at the version a merge wrote goes back to
   * the record it replaced, with that record's own version (or goes, if
   * there was none), so nothing newer than what was there before is made.
   * A key written again since is left alone. One transaction.
   */
  restore(undos: Replaced[]): void {
    if (undos.length === 0) return;
    this.db.use((db) =>
      db.transactionSync(() => {
        for (const u of undos) {
          if (db.get(u.k)?.v !== u.v) continue;
          if (u.prev) db.putSync(u.k, { v: u.prev.v, d: u.prev.d });
          else db.removeSync(u.k);
        }
      }),
    );
  }

  /**
   * Removes each record whose stored version is still `v` (one a newer write
   * replaced since stays), in one transaction; how many were removed. A cell
   * that is not a record's home drops its copy this way once the homes
   * confirmed holding that version or a newer one (heal/healer.ts).
   */
  dropIfUnchanged(records: { k: string; v: string }[]): number {
    let dropped = 0;
    this.db.use((db) =>
      db.transactionSync(() => {
        for (const r of records) {
          if (db.get(r.k)?.v === r.v && db.removeSync(r.k)) dropped++;
        }
      }),
    );
    return dropped;
  }

  /** The keys written since the last call (null: more than could be remembered, so look at everything), and forgets them. */
  takeChanged(): string[] | null {
    const keys = this.changed ? [...this.changed] : null;
    this.changed = new Set();
    return keys;
  }

  /** Records whose key starts with prefix and sorts after `after`, ascending, at most limit. */
  scan(prefix: string, after: string | null, limit: number): VersionedRecord[] {
    const out: VersionedRecord[] = [];
    const start = after !== null && after > prefix ? after : prefix;
    return this.db.use((db) => {
      db.resetReadTxn();
      for (const { key, value } of db.getRange({ start, end: prefix + '\uffff' })) {
        if (key === after) continue;
        out.push({ k: key, v: value.v, d: value.d });
        if (out.length >= limit) break;
      }
      return out;
    });
  }

  /** From the database's own statistics: getCount() walks every record, and a STATUS would wait on that walk. */
  get count(): number {
    return this.db.use((db) => (db.getStats() as { entryCount: number }).entryCount);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
