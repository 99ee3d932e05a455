import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { link, open, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import {
  AlignedBuffers,
  LEAF_BYTES,
  alignUp,
  readDirect,
  readDirectSync,
  writeDirect,
  chunkFileOf,
  chunkKeyOf,
  leafFileOf,
  leafRootOf,
  leavesMatch,
  logger,
  machineId,
  systemClock,
  type Addr,
  type BufferPool,
  type CellId,
  type ChunkKey,
  type Clock,
} from '../core/index.js';
import { decodeJson, parseLocalGrant, type LocalGrant } from '../wire/index.js';
import { OffThreadHasher } from './hasher.js';

const log = logger('client');

/** A chunk left for a cell to adopt: a file name in its incoming directory. */
export interface StagedFile {
  incomingDir: string;
  name: string;
  /** The one cell of a chunk that makes the file itself its chunk (CHUNK_ADOPT's take); the others copy it. */
  take: boolean;
}

/** A cell that did not answer LOCAL_GRANT (or is on another machine) is asked again after this long (ms). */
const NO_GRANT_TTL_MS = 30_000;
/** A grant is asked for again after this long (ms), in the background: a cell restarted on another directory moves its files. */
const GRANT_TTL_MS = 60_000;
/** Grants remembered, one per cell. */
const GRANTS_MAX = 1_024;
/** Leaf hash lists remembered (1 KiB each for 1 MiB chunks), checked against their chunk's leaf root. */
const LEAF_LISTS_MAX = 4_096;
/** Leaf files are read up to this size: 2,048 leaves, chunks up to 64 MiB. */
const LEAF_FILE_BYTES_MAX = 2_048 * 32;

/**
 * Short-circuit reads and writes with cells on this machine. A cell here
 * grants its chunk directory and an incoming directory (LOCAL_GRANT).
 * Reads of its chunks open the files there instead of crossing UDP twice
 * through the kernel (as HDFS's short-circuit reads do); every byte is
 * checked as an answer from the network would be (the chunk key, or the leaf
 * root and leaf hashes), and a file that is missing or does not match
 * returns null: the caller then asks the cell over the network, and the
 * cell finds the corruption itself. Writes leave the chunk once as a file,
 * hard-linked into each cell's incoming directory, and the cells adopt it
 * (CHUNK_ADOPT), checking it against its key as they check a put. Grants are
 * asked for in the background: until one arrives, the network is used.
 */
export class LocalCells {
  private readonly grants = new LRUCache<CellId, { grant: LocalGrant | null; untilMs: number }>({ max: GRANTS_MAX });
  private readonly asking = new Map<CellId, Promise<void>>();
  private readonly leafLists = new LRUCache<ChunkKey, { root: string; hashes: Buffer }>({ max: LEAF_LISTS_MAX });
  private readonly hasher = new OffThreadHasher();
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
      grant = decodeJson(await this.requestGrant(cell.addr), parseLocalGrant);
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

  /** Leaves [first, first + count) of a chunk (those that exist) from a granted directory, checked against the leaf root; null on any miss. */
  leaves(chunkDir: string, key: ChunkKey, root: string, first: number, count: number): Buffer | null {
    const hashes = this.leafList(chunkDir, key, root);
    const bytes = hashes && readAt(chunkFileOf(chunkDir, key), first * LEAF_BYTES, count * LEAF_BYTES, this.direct);
    return hashes && bytes && leavesMatch(hashes, first, count, bytes) ? bytes : null;
  }

  private leafList(chunkDir: string, key: ChunkKey, root: string): Buffer | null {
    const known = this.leafLists.get(key);
    if (known) return known.root === root ? known.hashes : null;
    const read = readAt(leafFileOf(chunkDir, key), 0, LEAF_FILE_BYTES_MAX);
    if (!read || leafRootOf(read) !== root) return null;
    const hashes = Buffer.from(read); // not the whole read buffer: thousands are kept
    this.leafLists.set(key, { root, hashes });
    return hashes;
  }

  /**
   * Leaves a chunk as a file in the incoming directory of each of `cells`
   * that granted one: written once, hard-linked into the others (written
   * again where a link fails, e.g. across file systems). The file per cell
   * that got one; the others get the chunk over the network. The cell the
   * file was written for takes it; the others copy it.
   */
  async stage(key: ChunkKey, data: Buffer, cells: { id: CellId; addr: Addr }[]): Promise<Map<CellId, StagedFile>> {
    const name = `${key}.${randomBytes(6).toString('hex')}`;
    const staged = new Map<CellId, StagedFile>();
    let first: string | null = null;
    for (const c of cells) {
      const incomingDir = this.grantOf(c)?.incomingDir;
      if (!incomingDir) continue;
      const file = path.join(incomingDir, name);
      try {
        if (first) await link(first, file).catch(() => this.write(file, data));
        else await this.write(file, data);
        staged.set(c.id, { incomingDir, name, take: first === null });
        first ??= file;
      } catch (err) {
        log('cannot hand chunk %k to %s (%s): it goes over the network', key, incomingDir, (err as Error).message);
      }
    }
    return staged;
  }

  /** A staged file, written past the page cache where it can be: the cells read it so, and keep it or copy it. */
  private async write(file: string, data: Buffer): Promise<void> {
    const aligned = this.direct.take();
    try {
      if (aligned && (await writeDirect(file, data, aligned))) return;
    } finally {
      if (aligned) this.direct.put(aligned);
    }
    await writeFile(file, data);
  }

  /** Stops the hashing thread. */
  close(): Promise<void> {
    return this.hasher.close();
  }

  /** Removes a staged file the cell did not adopt (if it did, it removed the file: then nothing happens). */
  unstage(file: StagedFile): void {
    void unlink(path.join(file.incomingDir, file.name)).catch(() => {});
  }
}

/**
 * Up to `length` bytes of a file at `position` (fewer at its end), or null,
 * read synchronously, as the cells read ranges: a range is a few leaves, ~10
 * µs from the page cache, where the same reads through the thread pool cost
 * ~150 µs more per random read here (thread hand-offs: 4 KiB random reads
 * went from ~1,700 to ~2,650 a second with the cells' files in the page
 * cache, ~1,400 to ~1,800 with cold caches). From a cold disk it holds the
 * event loop for a disk read or two, as long as hashing a chunk does.
 */
function readAt(file: string, position: number, length: number, direct?: AlignedBuffers): Buffer | null {
  // A chunk's leaves past the page cache, as they were written; a leaf list (small, read again) through it.
  const aligned = direct?.take();
  if (aligned) {
    try {
      const n = readDirectSync(file, aligned, position, length);
      if (n !== null) return Buffer.from(aligned.subarray(0, n));
    } catch {
      return null;
    } finally {
      direct!.put(aligned);
    }
  }
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
const ONE_READ_BYTES = 1 << 20;
/** Aligned buffers for direct I/O: as many as reads ahead and uploads usually run at once. */
const DIRECT_BUFFERS = 16;
/** The buffer size for a BufferPool passed to `chunk`: one byte more than a read, to see that a file is longer. */
export const LOCAL_READ_BUFFER_BYTES = ONE_READ_BYTES + 1;

/**
 * A file's bytes, or null: an open and one read for up to a default chunk,
 * the close not waited for. readFile adds an fstat and more reads: the
 * mount's CPU per MiB read sequentially was 3.5-4.1 ms with it, 3.0-3.2
 * without. With a pool, the read goes into one of its buffers. The read is
 * direct where it can be (into an aligned buffer, then copied).
 */
async function readWhole(file: string, direct: AlignedBuffers, pool?: BufferPool): Promise<Buffer | null> {
  const aligned = direct.take();
  if (aligned) {
    try {
      const n = await readDirect(file, aligned);
      if (n !== null && n < aligned.length) {
        if (n < ONE_READ_BYTES / 2 || !pool || pool.bufferBytes !== LOCAL_READ_BUFFER_BYTES) return Buffer.from(aligned.subarray(0, n));
        const buf = pool.take();
        aligned.copy(buf, 0, 0, n);
        return pool.lend(buf, n);
      }
    } catch {
      return null;
    } finally {
      direct.put(aligned);
    }
  }
  const fh = await open(file, 'r').catch(() => null);
  if (!fh) return null;
  if (pool && pool.bufferBytes !== LOCAL_READ_BUFFER_BYTES) pool = undefined;
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
