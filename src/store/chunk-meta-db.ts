import { existsSync } from 'node:fs';
import { open as openLmdb, type RootDatabase } from 'lmdb';
import { LRUCache } from 'lru-cache';
// Not core/index.js: the hashing thread loads this module too, and needs no more.
import { leafRootOf, type ChunkKey, type ChunkMeta } from '../core/ids.js';
import type { StoredChunkMeta } from './layout.js';

/**
 * A cell's chunk metadata database (<data>/meta.lmdb, see StoredChunkMeta),
 * as its cell reads and writes it. Unsynced like the records (see
 * RecordStore); the chunk files themselves are fsynced.
 */
export class ChunkMetaDb {
  private readonly db: RootDatabase<StoredChunkMeta, ChunkKey>;

  constructor(readonly file: string) {
    this.db = openLmdb<StoredChunkMeta, ChunkKey>({ path: file, compression: false, noSync: true });
  }

  get(key: ChunkKey): StoredChunkMeta | undefined {
    return this.db.get(key);
  }

  /**
   * Writes a chunk's metadata synchronously (a commit without fsync, well
   * under a millisecond), so that a failure throws here. lmdb-js's
   * asynchronous writes leave rejected promises of their own behind when a
   * commit fails (a full disk), which ended the cell as unhandled.
   */
  put(key: ChunkKey, meta: ChunkMeta, leafHashes: Uint8Array | null | undefined): void {
    this.db.putSync(key, leafHashes ? [meta.replicas, meta.isManifest, leafHashes] : [meta.replicas, meta.isManifest]);
  }

  /** Synchronous too (see put): throws on a full disk. */
  remove(key: ChunkKey): void {
    this.db.removeSync(key);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

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
      db = openLmdb<StoredChunkMeta, ChunkKey>({ path: file, readOnly: true });
      this.dbs.set(file, db);
    }
    return db;
  }

  close(): void {
    this.dbs.clear();
  }
}
