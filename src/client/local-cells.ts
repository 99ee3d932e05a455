import path from 'node:path';
import { LRUCache } from 'lru-cache';
import { logger, machineId, type Addr, type BufferPool, type CellId, type ChunkKey, type Clock } from '../core/index.js';
import type { RecordEnvelope } from '../namespace/index.js';
import { Messages, type LocalGrant } from '../wire/index.js';
import type { AlignedCopy, LeafListWanted, LocalDisk, ReplacedRecord } from './local-disk.js';

const log = logger('client');

/** A chunk left for a cell to adopt: a file name in its incoming directory. */
export interface StagedFile {
  incomingDir: string;
  name: string;
  /** Always true since trusted adopts: the cell makes this file, which is its own, its chunk (CHUNK_ADOPT's take). */
  take: boolean;
}

export interface LocalCellsComponents {
  /** The cells' disks as this client reads and writes them (store/'s LocalCellDisks). */
  disk: LocalDisk;
  /** Asks a cell for its LOCAL_GRANT and resolves to the answer's body. */
  requestGrant: (addr: Addr) => Promise<Buffer>;
  clock: Clock;
}

export interface LocalCellsInit {
  /**
   * A mount's own directory: a cell whose directories are inside it is not
   * used (the mount reading its own mount point would wait for itself).
   */
  ownMount?: string;
}

/** A cell that did not answer LOCAL_GRANT (or is on another machine) is asked again after this long (ms). */
const NO_GRANT_TTL_MS = 30_000;
/** A grant is asked for again after this long (ms), in the background: a cell restarted on another directory moves its files. */
const GRANT_TTL_MS = 60_000;
/** Grants remembered, one per cell. */
const GRANTS_MAX = 1_024;
/** Bytes of leaf hash lists remembered, checked against their chunk's leaf root: 32 KiB per 4 MiB chunk, 4 GiB of chunks. */
const LEAF_LISTS_BYTES_MAX = 32 * 1024 * 1024;

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
 * arrives, the network is used. This decides which cells and when; the
 * files and databases are read and written through `disk` (LocalDisk).
 */
export class LocalCells {
  private readonly grants = new LRUCache<CellId, { grant: LocalGrant | null; untilMs: number }>({ max: GRANTS_MAX });
  private readonly asking = new Map<CellId, Promise<void>>();
  private readonly leafLists = new LRUCache<ChunkKey, { root: string; hashes: Buffer }>({ maxSize: LEAF_LISTS_BYTES_MAX, sizeCalculation: (l) => Math.max(1, l.hashes.length) });
  private readonly disk: LocalDisk;

  constructor(private readonly components: LocalCellsComponents, private readonly init: LocalCellsInit = {}) {
    this.disk = components.disk;
  }

  /** What the cell granted, or null (not on this machine, or not known yet). Asked for when unknown or old. */
  grantOf(cell: { id: CellId; addr: Addr }): LocalGrant | null {
    const known = this.grants.get(cell.id);
    if (!known || this.components.clock.now() > known.untilMs) void this.asked(cell);
    return known?.grant ?? null;
  }

  /**
   * For a client about to read (a mount starting): asks the cells whose
   * grant is not known yet and waits for their answers, and starts the
   * hashing thread, so that local reads happen from the first read on.
   */
  async prepare(cells: { id: CellId; addr: Addr }[]): Promise<void> {
    this.disk.start();
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
    const ownMount = this.init.ownMount;
    try {
      grant = Messages.LOCAL_GRANT.response.decode(await this.components.requestGrant(cell.addr), undefined);
      if (grant?.machine !== machineId() || (ownMount && [grant.chunkDir, grant.incomingDir].some((d) => isWithin(d, ownMount)))) grant = null;
    } catch (err) {
      // No answer is no news: a grant held stays (reads check every byte anyway).
      log('no local grant from %s (%s)', cell.addr, (err as Error).message);
      grant = had;
    }
    this.grants.set(cell.id, { grant, untilMs: this.components.clock.now() + (grant ? GRANT_TTL_MS : NO_GRANT_TTL_MS) });
  }

  /**
   * The whole chunk from a granted directory, verified against its key; null
   * if it is not there or does not match. With `pool` (of LOCAL_READ_BUFFER_BYTES
   * buffers) the chunk is read into one of its buffers and lent from it.
   */
  chunk(chunkDir: string, key: ChunkKey, pool?: BufferPool): Promise<Buffer | null> {
    return this.disk.readChunk(chunkDir, key, pool);
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
    return this.disk.readLeaves(grant.chunkDir, key, hashes, first, count);
  }

  /**
   * Prepares range reads of chunks a random reader is about to read (the
   * rest of its file), in the background: their files are opened on the
   * thread pool, and their leaf hashes read and checked on the hashing
   * thread, while the reader's reads go on. Without it each chunk's first
   * read paid for both on the event loop, one after the other: finding the
   * file in a directory the kernel no longer had cached, and decoding and
   * hashing 32 KiB of leaf hashes. Resolves when done;
   * callers need not wait.
   */
  warm(chunks: { grant: LocalGrant; key: ChunkKey; root: string }[]): Promise<void> {
    const done = [this.disk.openAhead(chunks.map(({ grant, key }) => ({ chunkDir: grant.chunkDir, key })))];
    const lists = new Map<string, LeafListWanted[]>();
    for (const { grant, key, root } of chunks) {
      if (grant.metaPath && !this.leafLists.has(key)) {
        const wanted = lists.get(grant.metaPath) ?? [];
        wanted.push({ key, root });
        lists.set(grant.metaPath, wanted);
      }
    }
    for (const [metaPath, wanted] of lists) {
      done.push(
        this.disk.leafHashLists(metaPath, wanted, ({ key, root }, hashes) => {
          if (!this.leafLists.has(key)) this.leafLists.set(key, { root, hashes });
        }),
      );
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
      hashes = this.disk.leafHashes(grant.metaPath, { key, root });
    } catch (err) {
      log('cannot read leaf hashes in %s (%s): range reads ask the cell', grant.metaPath, (err as Error).message);
    }
    if (hashes) this.leafLists.set(key, { root, hashes });
    return hashes;
  }

  /**
   * Merges records into a granted cell's record database, as the cell does
   * with a REC_PUT (LocalDisk.mergeRecords): what they replaced once they
   * are committed there (for restoreRecords); null if the cell named no
   * database or it cannot be written (then the network carries them).
   */
  mergeRecords(grant: LocalGrant, records: RecordEnvelope[]): ReplacedRecord[] | null {
    return grant.recordsPath ? this.disk.mergeRecords(grant.recordsPath, records) : null;
  }

  /** Records read from a granted cell's record database, as its REC_GET answers; null if it named none or it cannot be read. */
  readRecords(grant: LocalGrant, keys: string[]): (RecordEnvelope | null)[] | null {
    return grant.recordsPath ? this.disk.readRecords(grant.recordsPath, keys) : null;
  }

  /** Every record under a prefix in a granted cell's record database (as REC_SCAN); null as readRecords. */
  scanRecords(grant: LocalGrant, prefix: string): RecordEnvelope[] | null {
    return grant.recordsPath ? this.disk.scanRecords(grant.recordsPath, prefix) : null;
  }

  /** Undoes mergeRecords in a granted cell's record database: false if it cannot be done. */
  restoreRecords(grant: LocalGrant, undos: ReplacedRecord[]): boolean {
    return !!grant.recordsPath && this.disk.restoreRecords(grant.recordsPath, undos);
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
        try {
          staged.set(c.id, { incomingDir, name: await this.disk.stage(incomingDir, key, data, copy), take: true });
        } catch (err) {
          log('cannot hand chunk %k to %s (%s): it goes over the network', key, incomingDir, (err as Error).message);
        }
      }),
    );
    return staged;
  }

  /** A chunk about to be written, copied once into an aligned buffer of shared memory (LocalDisk.copyOf). Give it back with release(). */
  copyOf(data: Buffer): AlignedCopy | null {
    return this.disk.copyOf(data);
  }

  /** The key and leaf hashes of a copy, computed off the event loop where worth it (see OffThreadHasher). */
  hashesOf(copy: AlignedCopy): Promise<{ key: ChunkKey; leafHashes: Buffer }> {
    return this.disk.hashesOf(copy);
  }

  release(copy: AlignedCopy | null): void {
    this.disk.release(copy);
  }

  /** Forgets the leaf hashes it read (a cell's database is read again); chunk files stay open. */
  dropCaches(): void {
    this.leafLists.clear();
  }

  /** Closes the cells' disks: the hashing thread, databases and chunk files. */
  async close(): Promise<void> {
    await this.disk.close();
  }

  /** Removes a staged file the cell did not adopt (if it did, it removed the file: then nothing happens). */
  unstage(file: StagedFile): void {
    this.disk.unstage(file.incomingDir, file.name);
  }
}

function isWithin(dir: string, parent: string): boolean {
  const rel = path.relative(parent, dir);
  return !rel.startsWith('..') && !path.isAbsolute(rel);
}
