import { existsSync } from 'node:fs';
import { open as openLmdb, type RootDatabase } from 'lmdb';
import { LRUCache } from 'lru-cache';
// Not core/index.js: the hashing thread loads this module too, and needs no more.
import { leafRootOf, type ChunkKey } from '../core/ids.js';
import { lmdbHeaderProblem } from './db-check.js';
import type { StoredChunkMeta } from './layout.js';

/** Cells' metadata databases kept open: more than a machine runs cells. */
const META_DBS_MAX = 64;

/** A chunk whose leaf hashes are wanted, with the leaf root its file's chunk map records. */
export interface LeafListWanted {
  key: ChunkKey;
  root: string;
}

/**
 * The metadata databases of cells on this machine, opened read-only (lmdb
 * lets other processes read while the cell writes), for the leaf hashes the
 * cells keep of their chunks. Used by a client's event loop and, for many
 * chunks at once, by its hashing thread (OffThreadHasher.leafListsOf).
 */
export class ChunkMetaReader {
  private readonly dbs = new LRUCache<string, RootDatabase<StoredChunkMeta, ChunkKey>>({ max: META_DBS_MAX, dispose: (db) => void db.close() });

  /** A chunk's leaf hashes as the cell stored them, if they hash to `root`; else null. Throws if the database cannot be read. */
  leafList(metaPath: string, { key, root }: LeafListWanted): Buffer | null {
    const stored = this.db(metaPath).get(key)?.[2];
    if (!stored || leafRootOf(stored) !== root) return null;
    // A copy: lmdb-js may decode into a buffer it reuses.
    return Buffer.from(stored);
  }

  private db(file: string): RootDatabase<StoredChunkMeta, ChunkKey> {
    let db = this.dbs.get(file);
    if (!db) {
      // lmdb-js makes the directories of a path that does not exist: never for another process's files.
      if (!existsSync(file)) throw new Error('no such database');
      // lmdb-js segfaults opening some damaged files: never for a cell's damaged database.
      const why = lmdbHeaderProblem(file);
      if (why) throw new Error(`${file} ${why}`);
      db = openLmdb<StoredChunkMeta, ChunkKey>({ path: file, readOnly: true });
      this.dbs.set(file, db);
    }
    return db;
  }

  close(): void {
    this.dbs.clear();
  }
}
