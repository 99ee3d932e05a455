import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { open, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import {
  AlignedBuffers,
  DIRECT_BYTES_MIN,
  CHUNK_BYTES_MAX,
  LEAF_BYTES,
  alignUp,
  chunkFileOf,
  leavesMatch,
  logger,
  machineId,
  openDirectFd,
  openDirectSync,
  readAtDirectSync,
  readDirect,
  systemClock,
  writeDirect,
  type Addr,
  type BufferPool,
  type CellId,
  type ChunkKey,
  type Clock,
} from '../core/index.js';
import { RecordStore, type VersionedRecord } from '../store/index.js';
import { Messages, type LocalGrant } from '../wire/index.js';
import { CellMetaReader, type LeafListWanted } from './cell-meta.js';
import { OffThreadHasher } from './hasher.js';

const log = logger('client');

/** A chunk left for a cell to adopt: a file name in its incoming directory. */
export interface StagedFile {
  incomingDir: string;
  name: string;
  /** The one cell of a chunk that makes the file itself its chunk (CHUNK_ADOPT's take); the others copy it. */
  take: boolean;
}

/** A chunk's bytes in an aligned buffer of shared memory (LocalCells.copyOf). */
export interface AlignedCopy {
  /** The whole buffer, given back by release(). */
  aligned: Buffer;
  /** The chunk's bytes, at its start. */
  bytes: Buffer;
}

/** A cell that did not answer LOCAL_GRANT (or is on another machine) is asked again after this long (ms). */
const NO_GRANT_TTL_MS = 30_000;
/** A grant is asked for again after this long (ms), in the background: a cell restarted on another directory moves its files. */
const GRANT_TTL_MS = 60_000;
/** Grants remembered, one per cell. */
const GRANTS_MAX = 1_024;
/** Bytes of leaf hash lists remembered, checked against their chunk's leaf root: 32 KiB per 4 MiB chunk, 4 GiB of chunks. */
const LEAF_LISTS_BYTES_MAX = 32 * 1024 * 1024;
/** Chunk files kept open for range reads (a quarter of the usual limit of 1,024 descriptors), and for how long unused (ms). */
const RANGE_FILES_MAX = 256;
const RANGE_FILE_IDLE_MS = 30_000;
/** Chunk files opened ahead of a random reader at once (warm): half of those kept open, for other readers' files. */
const WARM_FILES_MAX = RANGE_FILES_MAX / 2;
/** Leaf hash lists asked of the hashing thread in one message: the first come back while the others are read. */
const WARM_LISTS_PER_REQUEST = 16;
/** Cells' record databases kept open: more than a machine runs cells. */
const RECORD_DBS_MAX = 64;

/**
 * Short-circuit reads and writes with cells on this machine. A cell here
 * grants its chunk directory, an incoming directory and its databases
 * (LOCAL_GRANT). Reads of its chunks open the files there instead of
 * crossing UDP twice through the kernel (as HDFS's short-circuit reads do);
 * every byte is checked as an answer from the network would be (the chunk
 * key, or leaf hashes from the cell's metadata database checked against the
 * leaf root), and a file that is missing or does not match returns null:
 * the caller then asks the cell over the network, and the cell finds the
 * corruption itself. Writes leave the chunk as a file of its own in each
 * cell's incoming directory, and the cells adopt it (CHUNK_ADOPT).
 * Namespace records are merged straight into the cell's record database
 * (mergeRecords). Grants are asked for in the background: until one
 * arrives, the network is used.
 */
export class LocalCells {
  private readonly grants = new LRUCache<CellId, { grant: LocalGrant | null; untilMs: number }>({ max: GRANTS_MAX });
  private readonly asking = new Map<CellId, Promise<void>>();
  private readonly leafLists = new LRUCache<ChunkKey, { root: string; hashes: Buffer }>({ maxSize: LEAF_LISTS_BYTES_MAX, sizeCalculation: (l) => Math.max(1, l.hashes.length) });
  private readonly hasher = new OffThreadHasher();
  /**
   * Chunk files open for range reads, by path (readRange). Closed when
   * dropped, and once idle for a while: a file the cell removes keeps its
   * space while it is open here.
   */
  private readonly rangeFiles = new LRUCache<string, number>({ max: RANGE_FILES_MAX, ttl: RANGE_FILE_IDLE_MS, updateAgeOnGet: true, dispose: (fd) => closeSync(fd) });
  /** Chunk files being opened by warm(). */
  private readonly warming = new Set<string>();
  private closed = false;
  private readonly purgeTimer = setInterval(() => this.rangeFiles.purgeStale(), RANGE_FILE_IDLE_MS).unref();
  /** Cells' metadata databases, for leaf hashes. */
  private readonly meta = new CellMetaReader();
  /** Cells' record databases open here for mergeRecords, by path (closed when dropped); false for one that could not be written. */
  private readonly recordDbs = new LRUCache<string, RecordStore | false>({ max: RECORD_DBS_MAX, dispose: (db) => void (db && db.close()) });
  /** Chunk files are read and written through these, past the page cache (core/direct-io.ts). */
  private readonly direct = new AlignedBuffers(alignUp(ONE_READ_BYTES + 1), DIRECT_BUFFERS);

  /**
   * `requestGrant` asks a cell for its LOCAL_GRANT and resolves to the
   * answer's body. A mount passes its own directory as `ownMount`: a cell
   * whose directories are inside it is not used (the mount reading its own
   * mount point would wait for itself).
   */
  constructor(
    private readonly requestGrant: (addr: Addr) => Promise<Buffer>,
    private readonly ownMount?: string,
    private readonly clock: Clock = systemClock,
  ) {}

  /** What the cell granted, or null (not on this machine, or not known yet). Asked for when unknown or old. */
  grantOf(cell: { id: CellId; addr: Addr }): LocalGrant | null {
    const known = this.grants.get(cell.id);
    if (!known || this.clock.now() > known.untilMs) void this.asked(cell);
    return known?.grant ?? null;
  }

  /**
   * For a client about to read (a mount starting): asks the cells whose
   * grant is not known yet and waits for their answers, and starts the
   * hashing thread, so that local reads happen from the first read on.
   */
  async prepare(cells: { id: CellId; addr: Addr }[]): Promise<void> {
    this.hasher.start();
    await Promise.all(cells.filter((c) => !this.grants.has(c.id)).map((c) => this.asked(c)));
  }

  /** The ask under way for a cell, or a new one. */
  private asked(cell: { id: CellId; addr: Addr }): Promise<void> {
    let asking = this.asking.get(cell.id);
    if (!asking) {
      asking = this.ask(cell, this.grants.get(cell.id)?.grant ?? null).finally(() => this.asking.delete(cell.id));
      this.asking.set(cell.id, asking);
    }
    return asking;
  }

  private async ask(cell: { id: CellId; addr: Addr }, had: LocalGrant | null): Promise<void> {
    let grant: LocalGrant | null;
    try {
      grant = Messages.LOCAL_GRANT.response.decode(await this.requestGrant(cell.addr), undefined);
      if (grant?.machine !== machineId() || (this.ownMount && [grant.chunkDir, grant.incomingDir].some((d) => isWithin(d, this.ownMount!)))) grant = null;
    } catch (err) {
      // No answer is no news: a grant held stays (reads check every byte anyway).
      log('no local grant from %s (%s)', cell.addr, (err as Error).message);
      grant = had;
    }
    this.grants.set(cell.id, { grant, untilMs: this.clock.now() + (grant ? GRANT_TTL_MS : NO_GRANT_TTL_MS) });
  }

  /**
   * The whole chunk from a granted directory, verified against its key; null
   * if it is not there or does not match. With `pool` (of LOCAL_READ_BUFFER_BYTES
   * buffers) the chunk is read into one of its buffers and lent from it.
   */
  async chunk(chunkDir: string, key: ChunkKey, pool?: BufferPool): Promise<Buffer | null> {
    const data = await readWhole(chunkFileOf(chunkDir, key), this.direct, pool);
    if (data && (await this.hasher.keyOf(data)) === key) return data;
    if (data) pool?.give(data);
    return null;
  }

  /**
   * Leaves [first, first + count) of a chunk (those that exist) from a
   * granted cell's files, checked against its leaf hashes; null on any miss.
   * The leaf hashes come from the cell's metadata database, checked against
   * the leaf root, or from an answer of the cell (learnLeaves).
   */
  leaves(grant: LocalGrant, key: ChunkKey, root: string, first: number, count: number): Buffer | null {
    const hashes = this.leafList(grant, key, root);
    if (!hashes) return null;
    const file = chunkFileOf(grant.chunkDir, key);
    const bytes = this.readRange(file, first * LEAF_BYTES, count * LEAF_BYTES);
    if (bytes && leavesMatch(hashes, first, count, bytes)) return bytes;
    // The file may have been replaced since it was opened (a corrupt copy healed): open it again next time.
    this.rangeFiles.delete(file);
    return null;
  }

  /**
   * Up to `length` bytes of a chunk file at `position` (fewer at its end),
   * or null, read synchronously and directly through a descriptor kept open:
   * a random reader comes back to the same chunks (an open was ~45 µs of
   * each random read). A range is one disk read, where the same read through
   * the thread pool cost ~150 µs more per random read here (thread
   * hand-offs). It holds the event loop for that disk read, about as long
   * as hashing a chunk does.
   */
  private readRange(file: string, position: number, length: number): Buffer | null {
    const aligned = this.direct.take();
    if (!aligned) return readAt(file, position, length);
    try {
      let fd = this.rangeFiles.get(file);
      if (fd === undefined) {
        const opened = openDirectSync(file);
        if (opened === null) return readAt(file, position, length);
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

  /**
   * Prepares range reads of chunks a random reader is about to read (the
   * rest of its file), in the background: their files are opened on the
   * thread pool, and their leaf hashes read and checked on the hashing
   * thread, while the reader's reads go on. Without it each chunk's first
   * read paid for both on the event loop, one after the other (~300 µs:
   * finding the file in a directory the kernel no longer had cached, and
   * decoding and hashing 32 KiB of leaf hashes). Resolves when done;
   * callers need not wait.
   */
  warm(chunks: { grant: LocalGrant; key: ChunkKey; root: string }[]): Promise<void> {
    const done: Promise<void>[] = [];
    const lists = new Map<string, LeafListWanted[]>();
    for (const { grant, key, root } of chunks) {
      const file = chunkFileOf(grant.chunkDir, key);
      if (!this.rangeFiles.has(file) && !this.warming.has(file) && this.warming.size < WARM_FILES_MAX) {
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
      if (grant.metaPath && !this.leafLists.has(key)) {
        const wanted = lists.get(grant.metaPath) ?? [];
        wanted.push({ key, root });
        lists.set(grant.metaPath, wanted);
      }
    }
    for (const [metaPath, wanted] of lists) {
      for (let i = 0; i < wanted.length; i += WARM_LISTS_PER_REQUEST) {
        const batch = wanted.slice(i, i + WARM_LISTS_PER_REQUEST);
        done.push(
          this.hasher.leafListsOf(metaPath, batch).then((hashes) =>
            batch.forEach(({ key, root }, j) => {
              if (hashes[j] && !this.leafLists.has(key)) this.leafLists.set(key, { root, hashes: hashes[j]! });
            }),
          ),
        );
      }
    }
    return Promise.all(done).then(() => undefined);
  }

  /** A chunk's leaf hashes, already checked against its leaf root (a CHUNK_RANGE answer): its range reads from local files need nothing more. */
  learnLeaves(key: ChunkKey, root: string, hashes: Buffer): void {
    // A copy: the hashes sit in a larger buffer, and thousands are kept.
    if (this.leafLists.get(key)?.root !== root) this.leafLists.set(key, { root, hashes: Buffer.from(hashes) });
  }

  private leafList(grant: LocalGrant, key: ChunkKey, root: string): Buffer | null {
    const known = this.leafLists.get(key);
    if (known) return known.root === root ? known.hashes : null;
    if (!grant.metaPath) return null;
    let hashes: Buffer | null = null;
    try {
      hashes = this.meta.leafList(grant.metaPath, { key, root });
    } catch (err) {
      log('cannot read leaf hashes in %s (%s): range reads ask the cell', grant.metaPath, (err as Error).message);
    }
    if (hashes) this.leafLists.set(key, { root, hashes });
    return hashes;
  }

  /**
   * Merges records into a granted cell's record database, as the cell does
   * with a REC_PUT: one lmdb transaction, which the cell's own merges wait
   * for and then see (lmdb lets processes on one machine share a database).
   * A create's commit, in a mount, then costs ~0.1 ms instead of a round
   * trip to two cells (~1 ms here, most of it waking processes). True once
   * they are committed there (as durable as the cell's own commits); false
   * if the cell named no database or it cannot be written (then the network
   * carries them).
   */
  mergeRecords(grant: LocalGrant, records: VersionedRecord[]): boolean {
    const file = grant.recordsPath;
    let db = file && this.recordDbs.get(file);
    if (!file || db === false) return false;
    try {
      if (!db) {
        // lmdb-js makes a database that does not exist: never for another process's.
        if (!existsSync(file)) return false;
        this.recordDbs.set(file, (db = new RecordStore(file)));
      }
      db.merge(records);
      return true;
    } catch (err) {
      // Not ours to write (another user's cell), or broken: the network from now on.
      log('cannot write records into %s (%s): they go over the network', file, (err as Error).message);
      this.recordDbs.set(file, false, { ttl: NO_GRANT_TTL_MS });
      return false;
    }
  }

  /**
   * Leaves a chunk as a file of its own in the incoming directory of each of
   * `cells` that granted one, for that cell to take as its copy (see
   * ChunkStore.adopt): the files per cell that got one; the others get the
   * chunk over the network. Written past the page cache where it can be,
   * all from `copy` (see copyOf), else through the page cache from `data`.
   */
  async stage(key: ChunkKey, data: Buffer, cells: { id: CellId; addr: Addr }[], copy: AlignedCopy | null): Promise<Map<CellId, StagedFile>> {
    const staged = new Map<CellId, StagedFile>();
    await Promise.all(
      cells.map(async (c) => {
        const incomingDir = this.grantOf(c)?.incomingDir;
        if (!incomingDir) return;
        const name = `${key}.${randomBytes(6).toString('hex')}`;
        const file = path.join(incomingDir, name);
        try {
          if (!(copy && (await writeDirect(file, copy.bytes, copy.aligned)))) await writeFile(file, data);
          staged.set(c.id, { incomingDir, name, take: true });
        } catch (err) {
          log('cannot hand chunk %k to %s (%s): it goes over the network', key, incomingDir, (err as Error).message);
        }
      }),
    );
    return staged;
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

  /** The key and leaf hashes of a copy, computed off the event loop where worth it (~7 ms for 4 MiB; see OffThreadHasher). */
  async hashesOf(copy: AlignedCopy): Promise<{ key: ChunkKey; leafHashes: Buffer }> {
    const { key, leafHashes } = await this.hasher.hashesOf(copy.bytes, true);
    return { key, leafHashes: leafHashes! };
  }

  release(copy: AlignedCopy | null): void {
    if (copy) this.direct.put(copy.aligned);
  }

  /** Forgets the leaf hashes it read (a cell's database is read again); chunk files stay open. */
  dropCaches(): void {
    this.leafLists.clear();
  }

  /** Stops the hashing thread and closes the cells' databases and chunk files. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.purgeTimer);
    this.rangeFiles.clear();
    this.meta.close();
    this.recordDbs.clear();
    await this.hasher.close();
  }

  /** Removes a staged file the cell did not adopt (if it did, it removed the file: then nothing happens). */
  unstage(file: StagedFile): void {
    void unlink(path.join(file.incomingDir, file.name)).catch(() => {});
  }
}

/** Up to `length` bytes of a file at `position` (fewer at its end), or null, read synchronously through the page cache. */
function readAt(file: string, position: number, length: number): Buffer | null {
  let fd = -1;
  try {
    fd = openSync(file, 'r');
    const bytes = Buffer.allocUnsafe(length);
    return bytes.subarray(0, readSync(fd, bytes, 0, length, position));
  } catch {
    return null;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

function isWithin(dir: string, parent: string): boolean {
  const rel = path.relative(parent, dir);
  return !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** Files up to this size (a default chunk) are read in one read. */
const ONE_READ_BYTES = CHUNK_BYTES_MAX;
/** Aligned buffers for direct I/O: as many as reads ahead and uploads usually run at once. */
const DIRECT_BUFFERS = 16;
/** The buffer size for a BufferPool passed to `chunk`: one byte more than a read, to see that a file is longer. */
export const LOCAL_READ_BUFFER_BYTES = ONE_READ_BYTES + 1;

/**
 * A file's bytes, or null: an open and one read for up to a default chunk,
 * the close not waited for. readFile adds an fstat and more reads: the
 * mount's CPU per MiB read sequentially was 3.5-4.1 ms with it, 3.0-3.2
 * without. With a pool, the read goes into one of its buffers. The read is
 * direct where it can be: straight into the pool's buffer if it takes
 * direct reads (BufferPool 'aligned'), else into an aligned buffer and
 * copied (0.36 ms per MiB of the mount's CPU, ~15% of a sequential read's).
 */
async function readWhole(file: string, direct: AlignedBuffers, pool?: BufferPool): Promise<Buffer | null> {
  if (pool && pool.bufferBytes !== LOCAL_READ_BUFFER_BYTES) pool = undefined;
  const whole = pool?.take();
  const view = whole && pool!.directView(whole);
  const into = view ?? direct.take();
  if (into) {
    let lent = false;
    try {
      const n = await readDirect(file, into);
      // Longer than a default chunk: read plainly below, as a whole file.
      if (n !== null && n <= ONE_READ_BYTES) {
        if (n < ONE_READ_BYTES / 2 || !pool) return Buffer.from(into.subarray(0, n));
        if (!view) into.copy(whole!, 0, 0, n);
        lent = true;
        return pool.lend(whole!, n);
      }
    } catch {
      return null;
    } finally {
      if (!view) direct.put(into);
      if (!lent && whole) pool!.put(whole);
    }
  } else if (whole) pool!.put(whole);
  const fh = await open(file, 'r').catch(() => null);
  if (!fh) return null;
  const buf = pool?.take() ?? Buffer.allocUnsafeSlow(LOCAL_READ_BUFFER_BYTES);
  let lent = false;
  try {
    const { bytesRead } = await fh.read(buf, 0, LOCAL_READ_BUFFER_BYTES, 0);
    if (bytesRead > ONE_READ_BYTES) return await fh.readFile();
    // A short chunk (a file's end) gets a buffer of its size: caches count bytes by length.
    if (bytesRead < ONE_READ_BYTES / 2) return Buffer.from(buf.subarray(0, bytesRead));
    lent = true;
    return pool ? pool.lend(buf, bytesRead) : buf.subarray(0, bytesRead);
  } catch {
    return null;
  } finally {
    if (!lent) pool?.put(buf);
    void fh.close().catch(() => {});
  }
}
