import { closeSync, existsSync } from 'node:fs';
import { LRUCache } from 'lru-cache';
import {
  AlignedBuffers,
  DIRECT_BYTES_MIN,
  LEAF_BYTES,
  alignUp,
  leavesMatch,
  logger,
  openDirectFd,
  openDirectSync,
  readAtDirectSync,
  systemClock,
  type BufferPool,
  type ChunkKey,
  type Clock,
  type TimerHandle,
} from '../core/index.js';
import { ONE_READ_BYTES, readAt, readChunkFileLent } from './chunk-files.js';
import { ChunkMetaReader, type LeafListWanted } from './chunk-meta-reader.js';
import { OffThreadHasher } from './hasher.js';
import { chunkFileOf } from './layout.js';
import { RecordStore, type Replaced, type VersionedRecord } from './record-store.js';
import { stageChunk, unstageChunk } from './staging.js';

const log = logger('store', 'local');

/** A chunk's bytes in an aligned buffer of shared memory (LocalCellDisks.copyOf). */
export interface AlignedCopy {
  /** The whole buffer, given back by release(). */
  aligned: Buffer;
  /** The chunk's bytes, at its start. */
  bytes: Buffer;
}

export interface LocalCellDisksComponents {
  /** For the timer that closes idle chunk files. */
  clock: Clock;
}

/** Chunk files kept open for range reads (a quarter of the usual limit of 1,024 descriptors), and for how long unused (ms). */
const RANGE_FILES_MAX = 256;
const RANGE_FILE_IDLE_MS = 30_000;
/** Chunk files opened ahead of a random reader at once (openAhead): half of those kept open, for other readers' files. */
const WARM_FILES_MAX = RANGE_FILES_MAX / 2;
/** Leaf hash lists asked of the hashing thread in one message: the first come back while the others are read. */
const WARM_LISTS_PER_REQUEST = 16;
/** Cells' record databases kept open: more than a machine runs cells. */
const RECORD_DBS_MAX = 64;
/**
 * A record database is closed this long after it was opened (ms), used or
 * not, and opened again at its next use (a few ms): the pages it mapped while
 * records were read and merged leave this process's resident memory (a tree
 * of 100,000 files made through a mount had 250 MB of them mapped).
 */
const RECORD_DB_OPEN_MS = 2_000;
/** A record database that could not be written is not tried again for this long (ms): the network carries records meanwhile. */
const UNWRITABLE_RECORDS_TTL_MS = 30_000;
/** Aligned buffers for direct I/O: as many as reads ahead and uploads usually run at once. */
const DIRECT_BUFFERS = 16;

/**
 * The disks of cells on this machine as a client reads and writes them
 * itself, given the directories and databases a cell granted (LOCAL_GRANT):
 * the store's side of the client's short-circuit (client/local-cells.ts
 * decides which cells and when; this knows the format, store/layout.ts).
 * Reads of chunk files go past the page cache through reused aligned
 * buffers, each checked as an answer from the network would be (the chunk
 * key, or leaf hashes); a file that is missing or does not match gives null.
 * Chunks to write are staged as files for the cells to adopt; namespace
 * records are merged straight into a cell's record database.
 */
export class LocalCellDisks {
  private readonly hasher = new OffThreadHasher();
  /**
   * Chunk files open for range reads, by path (readLeaves). Closed when
   * dropped, and once idle for a while: a file the cell removes keeps its
   * space while it is open here.
   */
  private readonly rangeFiles = new LRUCache<string, number>({ max: RANGE_FILES_MAX, ttl: RANGE_FILE_IDLE_MS, updateAgeOnGet: true, dispose: (fd) => closeSync(fd) });
  /** Chunk files being opened by openAhead(). */
  private readonly warming = new Set<string>();
  private closed = false;
  private readonly purgeTimer: TimerHandle;
  /** Cells' metadata databases, for leaf hashes. */
  private readonly meta = new ChunkMetaReader();
  /** Cells' record databases open here for mergeRecords, by path (closed when dropped); false for one that could not be written. */
  private readonly recordDbs = new LRUCache<string, RecordStore>({
    max: RECORD_DBS_MAX,
    ttl: RECORD_DB_OPEN_MS,
    ttlAutopurge: true,
    dispose: (db) => db.close(),
  });
  /** Record databases found not writable here, retried after UNWRITABLE_RECORDS_TTL_MS. */
  private readonly unwritableDbs = new LRUCache<string, true>({ max: RECORD_DBS_MAX, ttl: UNWRITABLE_RECORDS_TTL_MS });
  /** Chunk files are read and written through these, past the page cache (core/direct-io.ts). */
  private readonly direct = new AlignedBuffers(alignUp(ONE_READ_BYTES + 1), DIRECT_BUFFERS);

  constructor(components: LocalCellDisksComponents = { clock: systemClock }) {
    this.purgeTimer = components.clock.setInterval(() => this.rangeFiles.purgeStale(), RANGE_FILE_IDLE_MS);
  }

  /** Starts the hashing thread ahead of the first read (it takes a moment to come up). */
  start(): void {
    this.hasher.start();
  }

  /**
   * The whole chunk from a cell's chunk directory, verified against its key;
   * null if it is not there or does not match. With `pool` (of
   * LOCAL_READ_BUFFER_BYTES buffers) the chunk is read into one of its
   * buffers and lent from it.
   */
  async readChunk(chunkDir: string, key: ChunkKey, pool?: BufferPool): Promise<Buffer | null> {
    const data = await readChunkFileLent(chunkFileOf(chunkDir, key), this.direct, pool);
    if (data && (await this.hasher.keyOf(data)) === key) return data;
    if (data) pool?.give(data);
    return null;
  }

  /**
   * Leaves [first, first + count) of a chunk (those that exist) from a cell's
   * chunk directory, checked against `leafHashes`; null on any miss.
   */
  readLeaves(chunkDir: string, key: ChunkKey, leafHashes: Buffer, first: number, count: number): Buffer | null {
    const file = chunkFileOf(chunkDir, key);
    const bytes = this.readRange(file, first * LEAF_BYTES, count * LEAF_BYTES);
    if (bytes && leavesMatch(leafHashes, first, count, bytes)) return bytes;
    // The file may have been replaced since it was opened (a corrupt copy healed): open it again next time.
    this.rangeFiles.delete(file);
    return null;
  }

  /**
   * Up to `length` bytes of a chunk file at `position` (fewer at its end),
   * or null, read synchronously and directly through a descriptor kept open:
   * a random reader comes back to the same chunks, and an open per read
   * would cost more than the read. A range is one disk read; through the
   * thread pool it would add two thread hand-offs to every random read. It
   * holds the event loop for that disk read, about as long as hashing a
   * chunk does (docs/decisions/0019-synchronous-now-paths.md).
   */
  private readRange(file: string, position: number, length: number): Buffer | null {
    const aligned = this.direct.take();
    if (!aligned) return readAtNew(file, position, length);
    try {
      let fd = this.rangeFiles.get(file);
      if (fd === undefined) {
        const opened = openDirectSync(file);
        if (opened === null) return readAtNew(file, position, length);
        this.rangeFiles.set(file, (fd = opened));
      }
      const n = readAtDirectSync(fd, aligned, position, length);
      const bytes = Buffer.allocUnsafe(n);
      aligned.copy(bytes, 0, 0, n);
      return bytes;
    } catch {
      return null;
    } finally {
      this.direct.put(aligned);
    }
  }

  /** A chunk's leaf hashes as its cell stored them in the metadata database at `metaPath`, if they hash to `root`; else null. Throws if the database cannot be read. */
  leafHashes(metaPath: string, wanted: LeafListWanted): Buffer | null {
    return this.meta.leafList(metaPath, wanted);
  }

  /**
   * Opens chunk files for readLeaves in the background, on the thread pool
   * (finding a file in a directory the kernel no longer has cached would
   * otherwise hold the event loop). Resolves when done; callers need not wait.
   */
  openAhead(chunks: { chunkDir: string; key: ChunkKey }[]): Promise<void> {
    const done: Promise<void>[] = [];
    for (const { chunkDir, key } of chunks) {
      const file = chunkFileOf(chunkDir, key);
      if (this.rangeFiles.has(file) || this.warming.has(file) || this.warming.size >= WARM_FILES_MAX) continue;
      this.warming.add(file);
      done.push(
        openDirectFd(file).then((fd) => {
          this.warming.delete(file);
          if (fd === null) return;
          if (this.rangeFiles.has(file) || this.closed) closeSync(fd);
          else this.rangeFiles.set(file, fd);
        }),
      );
    }
    return Promise.all(done).then(() => undefined);
  }

  /**
   * The leaf hashes of chunks of the cell whose metadata database is at
   * `metaPath`, read and checked against their roots on the hashing thread,
   * in batches: `found` is called for each one there as its batch comes
   * back. Nothing is found while the thread is not up or busy.
   */
  leafHashLists(metaPath: string, wanted: LeafListWanted[], found: (chunk: LeafListWanted, hashes: Buffer) => void): Promise<void> {
    const done: Promise<void>[] = [];
    for (let i = 0; i < wanted.length; i += WARM_LISTS_PER_REQUEST) {
      const batch = wanted.slice(i, i + WARM_LISTS_PER_REQUEST);
      done.push(
        this.hasher.leafListsOf(metaPath, batch).then((hashes) =>
          batch.forEach((chunk, j) => {
            if (hashes[j]) found(chunk, hashes[j]!);
          }),
        ),
      );
    }
    return Promise.all(done).then(() => undefined);
  }

  /**
   * Merges records into a cell's record database, as the cell does with a
   * REC_PUT: one lmdb transaction, which the cell's own merges wait for and
   * then see (lmdb lets processes on one machine share a database). A
   * create's commit, in a mount, then costs one local transaction instead of
   * a round trip to two cells, most of which is waking processes
   * (docs/decisions/0016-local-record-writes.md). What it replaced once
   * they are committed there (as durable as the cell's own commits), for an
   * undo (restoreRecords); null if there is no database there or it cannot
   * be written (then the network carries them).
   */
  mergeRecords(recordsPath: string, records: VersionedRecord[]): Replaced[] | null {
    const db = this.recordDb(recordsPath);
    try {
      return db ? db.merge(records) : null;
    } catch (err) {
      this.unwritable(recordsPath, err);
      return null;
    }
  }

  /** Undoes merges made by mergeRecords (RecordStore.restore): false if the database cannot be written. */
  restoreRecords(recordsPath: string, undos: Replaced[]): boolean {
    const db = this.recordDb(recordsPath);
    try {
      db?.restore(undos);
      return !!db;
    } catch (err) {
      this.unwritable(recordsPath, err);
      return false;
    }
  }

  /**
   * Records of a cell's record database read here, as the cell answers a
   * REC_GET (each read starts a new snapshot, so it sees every commit made
   * before it, the cell's and other mounts'): a quorum read then waits on
   * no process (docs/decisions/0042-local-record-reads.md). null if there
   * is no database there or it cannot be read (then the network asks).
   */
  readRecords(recordsPath: string, keys: string[]): (VersionedRecord | null)[] | null {
    const db = this.recordDb(recordsPath);
    try {
      return db ? keys.map((k) => db.get(k)) : null;
    } catch (err) {
      this.unwritable(recordsPath, err);
      return null;
    }
  }

  /** Every record under a prefix in a cell's record database, tombstones included, as REC_SCAN pages give them; null as readRecords. */
  scanRecords(recordsPath: string, prefix: string): VersionedRecord[] | null {
    const db = this.recordDb(recordsPath);
    try {
      return db ? db.scan(prefix, null, Number.MAX_SAFE_INTEGER) : null;
    } catch (err) {
      this.unwritable(recordsPath, err);
      return null;
    }
  }

  /** A cell's record database open here, or null if there is none or it cannot be written. */
  private recordDb(recordsPath: string): RecordStore | null {
    if (this.unwritableDbs.has(recordsPath)) return null;
    let db = this.recordDbs.get(recordsPath);
    if (db) return db;
    // lmdb-js makes a database that does not exist: never for another process's.
    if (!existsSync(recordsPath)) return null;
    try {
      this.recordDbs.set(recordsPath, (db = new RecordStore(recordsPath)));
      return db;
    } catch (err) {
      this.unwritable(recordsPath, err);
      return null;
    }
  }

  /** Not ours to write (another user's cell), or broken: the network from now on. */
  private unwritable(recordsPath: string, err: unknown): void {
    log('cannot write records into %s (%s): they go over the network', recordsPath, (err as Error).message);
    this.recordDbs.delete(recordsPath);
    this.unwritableDbs.set(recordsPath, true);
  }

  /** Stages a chunk in a cell's incoming directory for it to adopt (see stageChunk): the file's name there. */
  stage(incomingDir: string, key: ChunkKey, data: Buffer, copy: AlignedCopy | null): Promise<string> {
    return stageChunk(incomingDir, key, data, copy);
  }

  /** Removes a staged file the cell did not adopt. */
  unstage(incomingDir: string, name: string): void {
    unstageChunk(incomingDir, name);
  }

  /**
   * A chunk about to be written, copied once into an aligned buffer of
   * shared memory: stage() writes the cells' files from it, and hashesOf()
   * hashes it on the hashing thread. Null for a chunk too small for direct
   * I/O, or too large, or when no buffer is free. Give it back with release().
   */
  copyOf(data: Buffer): AlignedCopy | null {
    if (data.length < DIRECT_BYTES_MIN) return null;
    const aligned = this.direct.take();
    if (!aligned) return null;
    if (alignUp(data.length) > aligned.length) {
      this.direct.put(aligned);
      return null;
    }
    aligned.set(data);
    return { aligned, bytes: aligned.subarray(0, data.length) };
  }

  /** The key and leaf hashes of a copy, computed off the event loop where worth it (see OffThreadHasher). */
  async hashesOf(copy: AlignedCopy): Promise<{ key: ChunkKey; leafHashes: Buffer }> {
    const { key, leafHashes } = await this.hasher.hashesOf(copy.bytes, true);
    return { key, leafHashes: leafHashes! };
  }

  release(copy: AlignedCopy | null): void {
    if (copy) this.direct.put(copy.aligned);
  }

  /** Stops the hashing thread and closes the cells' databases and chunk files. */
  async close(): Promise<void> {
    this.closed = true;
    this.purgeTimer.clear();
    this.rangeFiles.clear();
    this.meta.close();
    this.recordDbs.clear();
    this.unwritableDbs.clear();
    await this.hasher.close();
  }
}

/** Up to `length` bytes of a file at `position` (fewer at its end), or null, read synchronously through the page cache. */
function readAtNew(file: string, position: number, length: number): Buffer | null {
  const bytes = Buffer.allocUnsafe(length);
  const n = readAt(file, bytes, position);
  return n < 0 ? null : bytes.subarray(0, n);
}
