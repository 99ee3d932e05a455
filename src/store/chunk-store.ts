import { lstatSync, readFileSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import { mkdir, rename, rm, statfs, unlink } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import {
  AlignedBuffers,
  CHUNK_BYTES_MAX,
  CellError,
  LEAF_BYTES,
  Listeners,
  assert,
  chunkKeyOf,
  defaultConfig,
  isChunkKey,
  leavesMatch,
  leafHashesOf,
  logger,
  alignUp,
  systemClock,
  type ChunkKey,
  type Clock,
  type ChunkMeta,
  type Unsubscribe,
} from '../core/index.js';
import { syncFile, writeFileAtomic } from './atomic.js';
import { readChunkFile, readChunkRange } from './chunk-files.js';
import { ChunkMetaDb } from './chunk-meta-db.js';
import { scanChunkTree } from './chunk-tree.js';
import { cellLayoutOf, chunkFileOf, leafCountOf, leafFileOf } from './layout.js';
import { setAsideIfDamaged, type DatabaseRepair } from './lmdb-file.js';
import { isDiskFull, UNREADABLE_CODES } from './fs-errors.js';
import { startMetaRebuild } from './meta-rebuild.js';
import { readStaged, sizeToTake, sweepStaged } from './staging.js';

export interface ChunkStoreInit {
  /** The cell's data directory; chunks live under <dir>/chunks. */
  dir: string;
  /** Bytes of chunks to hold at most; 0 = the disk's free space at open plus what is already stored. */
  capacityBytes: number;
  /** R for chunks whose metadata was lost (a crash between the two writes); default: the config's R. */
  defaultReplicas?: number;
  logPrefix?: string;
  /** Told, in one line, of each damage found and repaired: a metadata database set aside (at open or in use), stray files. */
  onRepair?: (line: string) => void;
  /** Told what the open is doing, now and then (a large store takes a while: its database checked, its files counted). */
  onProgress?: (what: string) => void;
  /** Wall time of the checks remembered for `cellsync info` (default: the system's). */
  clock?: Pick<Clock, 'wallNow'>;
}

/** Bytes of leaf hashes kept in memory (256 chunks of 4 MiB). */
const LEAF_HASHES_BYTES_MAX = 8 * 1024 * 1024;
/**
 * Chunks up to a default chunk (and a block more, to see that a file is
 * longer) are read and written with direct I/O through this many buffers:
 * as many as a cell usually has puts, adopts and reads under way at once.
 */
const DIRECT_BUFFER_BYTES = alignUp(CHUNK_BYTES_MAX + 1);
const DIRECT_BUFFERS = 8;

/** Corrupt keys remembered as evidence; the oldest is forgotten first. */
const CORRUPT_MARKS_MAX = 4096;
/**
 * Chunks whose last whole check (a put's, a read's, a scrub's) is
 * remembered, for `cellsync info` (about 100 bytes each, so ~6 MiB): the
 * least recently checked are forgotten first and show as not known.
 */
const VERIFIED_MARKS_MAX = 65_536;

/**
 * What reading one chunk costs the self-scrub's pace at least (bytes): a
 * small chunk still costs an open, a block read and a close, so 20,000 tiny
 * chunks are paced like 80 MiB, not like their few bytes.
 */
const SELF_SCRUB_CHUNK_BYTES_MIN = 4096;

/** How a self-scrub ended. */
export interface SelfScrubResult {
  /** Chunks read and verified (or found gone). */
  checked: number;
  /** Corrupt ones moved aside. */
  removed: number;
  /** False if the store closed (or the scrub was aborted) before every chunk was read. */
  complete: boolean;
}

export interface StoreStats {
  chunks: number;
  bytes: number;
  capacityBytes: number;
  /** Corrupt chunk files found (on read) and moved aside since start. */
  corruptFound: number;
  /** Entries of the chunk tree that were not valid chunk files (a directory, a stray name, an unreadable file), moved aside since start. */
  strayFound: number;
}

export interface CorruptionReport {
  key: ChunkKey;
  /** SHA-256 of what was actually on disk. */
  digestSeen: string;
  movedTo: string;
}

/**
 * A cell's chunks on disk, content-addressed: the file name is the SHA-256 of
 * its bytes. Writes go to a temp file that is fsynced and renamed into place
 * (then the directory is fsynced), so a crash leaves either the old state or
 * the whole new chunk, never a partial one. Every read is verified.
 */
export class ChunkStore {
  private readonly index = new Map<ChunkKey, number>();
  /** Where everything is (store/layout.ts). */
  private readonly layout: ReturnType<typeof cellLayoutOf>;
  /** Per-chunk metadata (R, manifest flag, leaf hashes), kept in lmdb beside the chunk files (local clients read it). */
  private readonly metaDb: ChunkMetaDb;
  private bytesUsed = 0;
  /** Bytes of puts being written now: counted against capacity before they land, so concurrent puts cannot overshoot it. */
  private bytesReserved = 0;
  /** Puts being written now, by key: a concurrent put of the same key waits for it instead of writing again. */
  private readonly writing = new Map<ChunkKey, Promise<void>>();
  /** Reused, and aligned for direct I/O: a new chunk-sized buffer per put is external memory that keeps V8's garbage collector busy (see BufferPool). */
  private readonly direct = new AlignedBuffers(DIRECT_BUFFER_BYTES, DIRECT_BUFFERS);
  /** Leaf hashes of chunks read by range (from the metadata or computed): 8 MiB, 32 KiB per 4 MiB chunk. */
  private readonly leafHashes = new LRUCache<ChunkKey, Buffer>({ maxSize: LEAF_HASHES_BYTES_MAX, sizeCalculation: (h) => Math.max(1, h.length) });
  /** Fan-out directories known to exist (at most 256): a mkdir per put showed in the cells' profiles. */
  private readonly madeDirs = new Set<string>();
  private corruptFound = 0;
  private strayFound = 0;
  private closed = false;
  /** A metadata rebuild under way: until it ends, manifest flags are not known, so the chunks are not listed (see list). */
  private rebuilding: Promise<void> | null = null;
  /**
   * While a self-scrub runs: the last key it verified ('' before the first).
   * A chunk above it found corrupt (by the scrub or any read) is what the
   * quarantine was about, cleaned up, not new evidence: it is moved aside
   * and answers CHUNK_NOT_FOUND, and no one is told (see selfScrub).
   */
  private selfScrubAfter: ChunkKey | null = null;
  /** When each chunk was last hashed whole and found right (wall ms), kept in memory only: see VERIFIED_MARKS_MAX. */
  private readonly verifiedAt = new LRUCache<ChunkKey, number>({ max: VERIFIED_MARKS_MAX });
  /** Keys found corrupt here and not yet replaced: asked for again, they answer CHUNK_CORRUPT (the evidence stays checkable). */
  private readonly corrupt = new Map<ChunkKey, string>();
  private readonly corruptionListeners = new Listeners<CorruptionReport>();
  private readonly log;

  private constructor(private readonly init: ChunkStoreInit, private capacityBytes: number) {
    this.log = logger('store', init.logPrefix);
    this.layout = cellLayoutOf(init.dir);
    this.metaDb = new ChunkMetaDb(this.layout.metaPath, { asideDir: this.layout.corruptDir, onReplaced: (r) => this.rebuildMeta(r) });
  }

  static async open(init: ChunkStoreInit): Promise<ChunkStore> {
    const layout = cellLayoutOf(init.dir);
    for (const d of [layout.chunkDir, layout.corruptDir]) await mkdir(d, { recursive: true });
    // Temp files are writes that never finished: they were never visible, so drop them. Files handed in
    // (adopt) and never claimed are from clients that gave up.
    for (const d of [layout.tmpDir, layout.incomingDir]) {
      await rm(d, { recursive: true, force: true });
      await mkdir(d);
    }
    // lmdb-js segfaults on some damaged files: a damaged database is set aside before it is opened (db-check.ts).
    init.onProgress?.('checking the chunk metadata database');
    const metaRepair = await setAsideIfDamaged(layout.metaPath, layout.corruptDir, Date.now(), (n) => init.onProgress?.(`checking the chunk metadata database: ${n} entries read`));
    const store = new ChunkStore(init, init.capacityBytes);
    init.onProgress?.('counting chunk files');
    const tree = await scanChunkTree(layout.chunkDir, layout.corruptDir, (n) => init.onProgress?.(`counting chunk files: ${n}`));
    for (const [key, size] of tree.chunks) store.index.set(key, size);
    store.bytesUsed = [...tree.chunks.values()].reduce((a, b) => a + b, 0);
    store.strayFound = tree.strays.length;
    if (tree.report) init.onRepair?.(tree.report);
    if (init.capacityBytes === 0) {
      const fs = await statfs(init.dir);
      store.capacityBytes = fs.bavail * fs.bsize + store.bytesUsed;
    }
    if (metaRepair) store.rebuildMeta(metaRepair);
    return store;
  }

  /** A damaged metadata database was set aside: says so in one line and rebuilds the new one from the chunk files, in the background. */
  private rebuildMeta(r: DatabaseRepair): void {
    const line = `${r.file} (chunk metadata) ${r.why}: moved to ${r.movedTo}; rebuilding it from the ${this.index.size} chunk files`;
    this.log('%s', line);
    this.init.onRepair?.(line);
    this.leafHashes.clear();
    const rebuilt = (this.rebuilding = startMetaRebuild(this.log, {
      keys: () => [...this.index.keys()],
      get: (key) => this.get(key),
      meta: (key) => this.meta(key),
      putMeta: (key, meta, leafHashes) => this.index.has(key) && this.metaDb.put(key, meta, leafHashes),
      isClosed: () => this.closed,
    }).finally(() => {
      if (this.rebuilding === rebuilt) this.rebuilding = null;
    }));
  }

  /** Where chunks live (the directory a LOCAL_GRANT names). */
  get chunkDir(): string {
    return this.layout.chunkDir;
  }

  /** The chunks' metadata database (a LOCAL_GRANT names it: clients on this machine read leaf hashes there). */
  get metaPath(): string {
    return this.layout.metaPath;
  }

  /** Where clients on this machine leave chunks for adopt (the directory a LOCAL_GRANT names; store/staging.ts). */
  get incomingDir(): string {
    return this.layout.incomingDir;
  }

  private pathOf(key: ChunkKey): string {
    return chunkFileOf(this.chunkDir, key);
  }

  /** Called for each corrupt chunk found (the immune system listens here); the returned function removes this listener. */
  onCorruption(listener: (r: CorruptionReport) => void): Unsubscribe {
    return this.corruptionListeners.add(listener);
  }

  has(key: ChunkKey): boolean {
    return this.index.has(key);
  }

  keys(): IterableIterator<ChunkKey> {
    return this.index.keys();
  }

  meta(key: ChunkKey): ChunkMeta {
    const m = this.metaDb.get(key);
    return m ? { replicas: m[0], isManifest: m[1] } : { replicas: this.init.defaultReplicas ?? defaultConfig().placement.replicas, isManifest: false };
  }

  /** Bytes free on the store's disk for this process (Infinity if unknown). */
  private async roomOnDisk(): Promise<number> {
    const fs = await statfs(this.init.dir).catch(() => null);
    return fs ? fs.bavail * fs.bsize : Infinity;
  }

  /** When this cell last hashed the whole chunk and found it right (wall ms), or null if not known. */
  verifiedAtMs(key: ChunkKey): number | null {
    return this.index.has(key) ? (this.verifiedAt.get(key) ?? null) : null;
  }

  /**
   * Sets the R recorded for a held chunk, lower or higher (`cellsync setr`):
   * heal then copies up to it or frees copies beyond it. Whether it is held.
   */
  setReplicas(key: ChunkKey, replicas: number): boolean {
    assert(Number.isInteger(replicas) && replicas >= 1, 'R is a positive integer');
    if (!this.index.has(key)) return false;
    const cur = this.meta(key);
    if (cur.replicas !== replicas) this.metaDb.put(key, { ...cur, replicas }, this.metaDb.get(key)?.[2]);
    return true;
  }

  private markVerified(key: ChunkKey): void {
    this.verifiedAt.set(key, (this.init.clock ?? systemClock).wallNow());
  }

  /** The same bytes stored for two purposes keep the stronger metadata: the higher R, manifest if either is. */
  private mergeMeta(key: ChunkKey, meta: ChunkMeta): void {
    const cur = this.meta(key);
    const merged: ChunkMeta = { replicas: Math.max(cur.replicas, meta.replicas), isManifest: cur.isManifest || meta.isManifest };
    if (merged.replicas !== cur.replicas || merged.isManifest !== cur.isManifest) this.metaDb.put(key, merged, this.metaDb.get(key)?.[2]);
  }

  /**
   * Up to limit keys greater than after, ascending, with their metadata; only chunks whose file is a regular file
   * (isChunkFile). BUSY while the metadata is rebuilt: a manifest listed without its flag would look unused to gc.
   */
  list(after: ChunkKey | null, limit: number): { key: ChunkKey; meta: ChunkMeta }[] {
    if (this.rebuilding) throw CellError.BUSY('chunk metadata is being rebuilt from the chunk files');
    const keys = [...this.index.keys()].filter((k) => after === null || k > after).sort();
    const page: { key: ChunkKey; meta: ChunkMeta }[] = [];
    for (const key of keys) {
      if (page.length >= limit) break;
      if (this.isChunkFile(key)) page.push({ key, meta: this.meta(key) });
    }
    return page;
  }

  /** Whether a held chunk's file is a regular file; anything else with its name is set aside as corrupt (and forgotten now). */
  private isChunkFile(key: ChunkKey): boolean {
    const st = lstatSync(this.pathOf(key), { throwIfNoEntry: false });
    if (st?.isFile()) return true;
    if (!st) {
      this.forget(key);
      return false;
    }
    void this.quarantineFile(key, st.isDirectory() ? 'not a file: a directory' : 'not a regular file');
    return false;
  }

  /** Closes the metadata database. */
  async close(): Promise<void> {
    this.closed = true;
    await this.metaDb.close();
  }

  stats(): StoreStats {
    return { chunks: this.index.size, bytes: this.bytesUsed, capacityBytes: this.capacityBytes, corruptFound: this.corruptFound, strayFound: this.strayFound };
  }

  /** Stores bytes under their key. Refuses bytes that do not hash to the key. */
  async put(key: ChunkKey, data: Uint8Array, meta?: ChunkMeta, leafHashes?: Buffer | null): Promise<'stored' | 'exists'> {
    if (!isChunkKey(key)) throw CellError.BAD_REQUEST('chunk key must be 64 hex digits');
    if (chunkKeyOf(data) !== key) throw CellError.HASH_MISMATCH(key);
    const stored = await this.store(key, data.length, meta, leafHashes, async (final) => {
      const aligned = this.direct.take();
      try {
        await writeFileAtomic(final, data, { tmpDir: this.tmpDir, aligned });
      } finally {
        if (aligned) this.direct.put(aligned);
      }
    });
    // Only a new file was written from these bytes: a copy held already was not read.
    if (stored === 'stored') this.markVerified(key);
    return stored;
  }

  private get tmpDir(): string {
    return this.layout.tmpDir;
  }

  /**
   * Stores a chunk of `size` bytes, already checked against its key, whose
   * file `writeChunk` puts at the path it is given (atomically and durably).
   */
  private async store(
    key: ChunkKey,
    size: number,
    meta: ChunkMeta | undefined,
    leafHashes: Buffer | null | undefined,
    writeChunk: (final: string) => Promise<void>,
  ): Promise<'stored' | 'exists'> {
    if (this.index.has(key)) {
      this.touch(key);
      if (meta) this.mergeMeta(key, meta);
      return 'exists';
    }
    this.corrupt.delete(key);
    const inProgress = this.writing.get(key);
    if (inProgress) {
      await inProgress;
      return 'exists';
    }
    if (this.bytesUsed + this.bytesReserved + size > this.capacityBytes) throw CellError.STORE_FULL();
    const final = this.pathOf(key);
    const write = (async () => {
      const dir = path.dirname(final);
      if (!this.madeDirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.madeDirs.add(dir);
      }
      // Metadata first: a chunk file never exists without it, except after a crash in between (then defaults
      // apply). With it the writer's leaf hashes, unchecked (every leaf served is checked against them) and,
      // like all metadata, not synced: lost or wrong, they are recomputed from the whole chunk.
      const leaves = leafHashes && leafHashes.length === leafCountOf(size) * 32 ? leafHashes : null;
      if (meta || leaves) this.metaDb.put(key, meta ?? this.meta(key), leaves);
      await writeChunk(final).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        // The directory was removed behind our back: make it again, once.
        await mkdir(dir, { recursive: true });
        await writeChunk(final);
      });
    })();
    this.writing.set(key, write);
    this.bytesReserved += size;
    try {
      await write;
    } catch (err) {
      // A disk full before the capacity is (other files on it) is a full store, as the client should hear.
      // lmdb reports a page it could not write as EIO: the disk's free space tells.
      throw isDiskFull(err) || (await this.roomOnDisk()) < size ? CellError.STORE_FULL() : err;
    } finally {
      this.bytesReserved -= size;
      this.writing.delete(key);
    }
    if (!this.index.has(key)) {
      this.index.set(key, size);
      this.bytesUsed += size;
    }
    return 'stored';
  }

  /**
   * Stores the chunk a client on this machine left as `name` in the incoming
   * directory. With `take`, a file of one link, owned by this cell's user and
   * no longer than a chunk, becomes the chunk as it is: made durable and
   * renamed into place, neither read nor written again (every read and the
   * guards' scrub check it; see docs/decisions/0004-trusted-adopts.md).
   * Anything else (another user's file, more links, a client without `take`)
   * is read and checked against the key; the cell holding its last link (of
   * its own user) then takes it after all, any other stores a copy as a put
   * would. The file is taken, not copied and freed: freeing an inode per
   * chunk makes ext4 without a journal scan past freed inodes at every file
   * creation.
   */
  async adopt(name: string, key: ChunkKey, meta: ChunkMeta, leafHashes: Buffer | null, take = false): Promise<'stored' | 'exists'> {
    const file = path.join(this.incomingDir, name);
    if (path.dirname(file) !== this.incomingDir) throw CellError.BAD_REQUEST('not a file name');
    if (take) {
      // A file of its own, from a process of this cell's user: taken as it is (docs/decisions/0004-trusted-adopts.md).
      const size = await sizeToTake(file);
      if (size !== null) return this.takeStaged(file, key, size, meta, leafHashes);
    }
    let data: Buffer;
    let last = false;
    const aligned = this.direct.take();
    let taking = false;
    try {
      try {
        ({ data, last } = await readStaged(file, take, aligned));
      } catch (err) {
        await unlink(file).catch(() => {});
        throw CellError.BAD_REQUEST(`no file ${name} to adopt (${(err as NodeJS.ErrnoException).code})`);
      }
      if (chunkKeyOf(data) !== key) throw CellError.HASH_MISMATCH(key);
      let stored: 'stored' | 'exists';
      if (last) {
        taking = true;
        stored = await this.takeStaged(file, key, data.length, meta, leafHashes);
      } else stored = await this.store(key, data.length, meta, leafHashes, (final) => writeFileAtomic(final, data, { tmpDir: this.tmpDir, aligned }));
      // Read and hashed here (a trusted take, above, is not: its first read or scrub checks it).
      if (stored === 'stored') this.markVerified(key);
      return stored;
    } finally {
      // A file to take that was refused goes (takeStaged removes one it did not take).
      if (last && !taking) await unlink(file).catch(() => {});
      // Nothing holds the bytes once the chunk is stored (or refused).
      if (aligned) this.direct.put(aligned);
    }
  }

  /** Moves a staged file into place as chunk `key` (read or not, as the caller decided): made durable first; removed if not moved. */
  private async takeStaged(file: string, key: ChunkKey, size: number, meta: ChunkMeta, leafHashes: Buffer | null): Promise<'stored' | 'exists'> {
    let moved = false;
    try {
      return await this.store(key, size, meta, leafHashes, async (final) => {
        await syncFile(file, true);
        await rename(file, final);
        moved = true;
        await syncFile(path.dirname(final));
      });
    } finally {
      if (!moved) await unlink(file).catch(() => {});
    }
  }

  /** Removes files in the incoming directory older than maxAgeMs: their clients never asked for them to be adopted. */
  sweepIncoming(maxAgeMs: number): Promise<number> {
    return sweepStaged(this.incomingDir, maxAgeMs);
  }

  /** Reads and verifies a chunk. A mismatch moves the file aside and throws CHUNK_CORRUPT. */
  async get(key: ChunkKey): Promise<Buffer> {
    if (this.corrupt.has(key)) throw CellError.CHUNK_CORRUPT(key);
    if (!this.index.has(key)) throw CellError.CHUNK_NOT_FOUND(key);
    let data: Buffer;
    try {
      data = await readChunkFile(this.pathOf(key), this.direct);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        this.forget(key);
        throw CellError.CHUNK_NOT_FOUND(key);
      }
      // Not a chunk file any more (a directory took its name, its bytes cannot be read): as good as corrupt.
      if (code && UNREADABLE_CODES.has(code)) {
        throw (await this.quarantineFile(key, `unreadable (${code})`)) ? CellError.CHUNK_CORRUPT(key) : CellError.CHUNK_NOT_FOUND(key);
      }
      throw err;
    }
    const digest = chunkKeyOf(data);
    if (digest !== key) {
      throw (await this.quarantineFile(key, digest)) ? CellError.CHUNK_CORRUPT(key) : CellError.CHUNK_NOT_FOUND(key);
    }
    this.markVerified(key);
    return data;
  }

  /**
   * The leaf hashes this cell has for a chunk (the writer's, or computed at a
   * range read), if any, unchecked: repair copies pass them on. From the
   * metadata database, or from the `.leaves` file that cells before it kept
   * beside the chunk.
   */
  knownLeafHashes(key: ChunkKey): Buffer | null {
    const size = this.index.get(key);
    if (size === undefined) return null;
    const cached = this.leafHashes.get(key);
    if (cached) return cached;
    const inDb = this.metaDb.get(key)?.[2];
    let stored: Buffer;
    try {
      // A copy: lmdb-js may decode into a buffer it reuses.
      stored = inDb ? Buffer.from(inDb) : readFileSync(leafFileOf(this.chunkDir, key));
    } catch {
      return null;
    }
    if (stored.length !== leafCountOf(size) * 32) return null;
    this.leafHashes.set(key, stored);
    return stored;
  }

  /**
   * Leaves [first, first + count) of a chunk (those that exist) and every
   * leaf hash, for a range read. The leaf hashes are the writer's (kept with
   * the metadata) or come from one whole, verified read (kept, bounded).
   * Only the leaves asked for are read, each checked against its hash; a
   * mismatch takes the whole-chunk path, which finds a corrupt chunk or
   * replaces wrong hashes.
   */
  async getLeaves(key: ChunkKey, first: number, count: number): Promise<{ leafHashes: Buffer; bytes: Buffer }> {
    const size = this.index.get(key);
    const cached = this.knownLeafHashes(key);
    if (cached && size !== undefined && !this.corrupt.has(key)) {
      const start = Math.min(size, first * LEAF_BYTES);
      const end = Math.min(size, (first + count) * LEAF_BYTES);
      const bytes = Buffer.allocUnsafe(end - start);
      const ok = readChunkRange(this.pathOf(key), bytes, start, this.direct) === bytes.length;
      if (ok && leavesMatch(cached, first, count, bytes)) return { leafHashes: cached, bytes };
      this.leafHashes.delete(key);
    }
    const data = await this.get(key);
    const leafHashes = leafHashesOf(data);
    this.leafHashes.set(key, leafHashes);
    // Kept for the next range read here, and for local readers (LOCAL_GRANT).
    if (this.index.has(key)) {
      try {
        this.metaDb.put(key, this.meta(key), leafHashes);
      } catch {
        // Only a shortcut for the next range read is lost.
      }
    }
    return { leafHashes, bytes: data.subarray(Math.min(data.length, first * LEAF_BYTES), Math.min(data.length, (first + count) * LEAF_BYTES)) };
  }

  async delete(key: ChunkKey): Promise<boolean> {
    return this.remove(key) !== null;
  }

  /**
   * A chunk's file and index entry, gone in one synchronous step: a put of
   * the same key that comes next writes it anew (an unlink left for later
   * could remove that new file). The chunk's size, or null if not held.
   */
  private remove(key: ChunkKey): number | null {
    const size = this.index.get(key);
    if (size === undefined || this.writing.has(key)) return null;
    this.forget(key);
    try {
      unlinkSync(this.pathOf(key));
    } catch {
      // Gone already.
    }
    return size;
  }

  /**
   * A put of a chunk held already claims it again: its file's mtime is when
   * it was last stored or claimed, and garbage collection spares chunks
   * claimed within its grace period (a writer may reference them any moment).
   * Synchronous, so that no collect can come between the check and the claim.
   */
  private touch(key: ChunkKey): void {
    const now = new Date();
    try {
      utimesSync(this.pathOf(key), now, now);
    } catch {
      // A missing file is found by the next read.
    }
  }

  /** Claims each chunk held (see touch); whether it is held. */
  claim(keys: ChunkKey[]): boolean[] {
    return keys.map((key) => {
      if (!this.index.has(key)) return false;
      this.touch(key);
      return true;
    });
  }

  /**
   * Garbage collection: removes each chunk that was stored or claimed at
   * least `minAgeMs` ago (by its file's mtime) and is not being written.
   * The bytes freed per key, 0 where it was kept or not held. A dry run
   * removes nothing and answers what it would free.
   */
  async collect(keys: ChunkKey[], minAgeMs: number, dryRun = false): Promise<number[]> {
    const freed: number[] = [];
    for (const [i, key] of keys.entries()) {
      // Unlinks are synchronous (see remove): give other requests a turn now and then.
      if (i > 0 && i % 64 === 0) await new Promise((r) => setImmediate(r));
      let old = false;
      try {
        old = Date.now() - statSync(this.pathOf(key)).mtimeMs >= minAgeMs;
      } catch {
        // Not here.
      }
      if (!old) freed.push(0);
      else if (dryRun) freed.push(this.writing.has(key) ? 0 : (this.index.get(key) ?? 0));
      else freed.push(this.remove(key) ?? 0);
    }
    if (!dryRun && freed.some((n) => n > 0)) this.log('collected %d chunks, %d bytes', freed.filter((n) => n > 0).length, freed.reduce((a, b) => a + b, 0));
    return freed;
  }

  private forget(key: ChunkKey): void {
    const size = this.index.get(key);
    if (size === undefined) return;
    this.index.delete(key);
    this.leafHashes.delete(key);
    this.verifiedAt.delete(key);
    try {
      this.metaDb.remove(key);
    } catch (err) {
      // A full disk: the metadata stays behind, unused (a chunk stored again gets its own).
      this.log('metadata of %s not removed: %s', key.slice(0, 12), (err as Error).message);
    }
    void unlink(leafFileOf(this.chunkDir, key)).catch(() => {});
    this.bytesUsed -= size;
    assert(this.bytesUsed >= 0, 'store byte accounting went negative');
  }

  /** Keys found corrupt and not replaced yet, with the digest seen. */
  corruptKeys(): Map<ChunkKey, string> {
    return new Map(this.corrupt);
  }

  /**
   * Re-reads and verifies every chunk held when it starts, in key order, one
   * at a time, each after `pace(bytes)` lets it (the caller's bandwidth
   * bound): the rehabilitation of a quarantined cell, run in the background
   * while the cell serves. Every read verifies anyway, so nothing corrupt is
   * ever served; what the scrub changes is what a corrupt chunk means. One
   * it has not reached yet (whoever finds it) is moved aside and forgotten
   * silently: it answers CHUNK_NOT_FOUND, not CHUNK_CORRUPT, raises no alert,
   * and healing brings a good copy back. The quarantine that caused it must
   * not count against the cell's new incarnation. Chunks it has passed are
   * evidence again as on any cell.
   */
  async selfScrub(pace: (bytes: number) => Promise<void>, signal?: AbortSignal): Promise<SelfScrubResult> {
    const keys = [...this.index.keys()].sort();
    const removedBefore = this.forgivenCount;
    let checked = 0;
    this.selfScrubAfter = '';
    try {
      for (const key of keys) {
        if (this.closed || signal?.aborted) break;
        const size = this.index.get(key);
        if (size !== undefined) {
          await pace(Math.max(size, SELF_SCRUB_CHUNK_BYTES_MIN));
          if (this.closed || signal?.aborted) break;
          await this.get(key).catch(() => undefined);
        }
        checked++;
        this.selfScrubAfter = key;
      }
    } finally {
      this.selfScrubAfter = null;
    }
    return { checked, removed: this.forgivenCount - removedBefore, complete: checked === keys.length };
  }

  /** Corrupt chunks a self-scrub forgave (see selfScrub). */
  private forgivenCount = 0;

  /** Whether a corrupt chunk is one a running self-scrub has not reached yet. */
  private isForgiven(key: ChunkKey): boolean {
    return this.selfScrubAfter !== null && key > this.selfScrubAfter;
  }

  /**
   * Moves a corrupt (or unreadable) chunk file aside and forgets the chunk.
   * True if it is evidence (marked, listeners told); false if a self-scrub
   * forgave it (see selfScrub).
   */
  private async quarantineFile(key: ChunkKey, digestSeen: string): Promise<boolean> {
    // Reads that ran at once found it together: the first sets it aside and counts it, the others only say so.
    if (!this.index.has(key)) return !this.isForgiven(key);
    const movedTo = path.join(this.layout.corruptDir, `${key}.${Date.now()}`);
    if (this.isForgiven(key)) {
      this.forget(key);
      await rename(this.pathOf(key), movedTo).catch(() => {});
      this.corruptFound++;
      this.forgivenCount++;
      this.log('corrupt chunk %k moved aside by the self-scrub (digest %k)', key, digestSeen);
      return false;
    }
    this.corrupt.set(key, digestSeen);
    if (this.corrupt.size > CORRUPT_MARKS_MAX) this.corrupt.delete(this.corrupt.keys().next().value!);
    this.forget(key);
    await rename(this.pathOf(key), movedTo).catch(() => {});
    this.corruptFound++;
    this.log('corrupt chunk %k moved aside (digest %k)', key, digestSeen);
    this.corruptionListeners.emit({ key, digestSeen, movedTo });
    return true;
  }
}
