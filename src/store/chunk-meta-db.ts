import type { ChunkKey, ChunkMeta } from '../core/index.js';
import type { StoredChunkMeta } from './layout.js';
import { LmdbFile, type LmdbFileInit } from './lmdb-file.js';

/**
 * A cell's chunk metadata database (<data>/meta.lmdb, see StoredChunkMeta),
 * as its cell reads and writes it. Unsynced like the records (see
 * RecordStore); the chunk files themselves are fsynced.
 */
export class ChunkMetaDb {
  private readonly db: LmdbFile<StoredChunkMeta, ChunkKey>;

  /** Throws BAD_CONFIG if the file is not a sound lmdb database (see LmdbFile; a damaged one found in use is replaced). */
  constructor(readonly file: string, init: LmdbFileInit = {}) {
    this.db = new LmdbFile(file, { compression: false, noSync: true }, init);
  }

  get(key: ChunkKey): StoredChunkMeta | undefined {
    return this.db.use((db) => db.get(key));
  }

  /**
   * Writes a chunk's metadata synchronously (a commit without fsync, well
   * under a millisecond), so that a failure throws here. lmdb-js's
   * asynchronous writes leave rejected promises of their own behind when a
   * commit fails (a full disk), which ended the cell as unhandled.
   */
  put(key: ChunkKey, meta: ChunkMeta, leafHashes: Uint8Array | null | undefined): void {
    this.db.use((db) => db.putSync(key, leafHashes ? [meta.replicas, meta.isManifest, leafHashes] : [meta.replicas, meta.isManifest]));
  }

  /** Synchronous too (see put): throws on a full disk. */
  remove(key: ChunkKey): void {
    this.db.use((db) => db.removeSync(key));
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
