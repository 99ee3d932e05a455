import { randomBytes } from 'node:crypto';
import { link, open, readFile, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import {
  LEAF_BYTES,
  chunkFileOf,
  chunkKeyOf,
  leafFileOf,
  leafRootOf,
  leavesMatch,
  logger,
  machineId,
  type Addr,
  type CellId,
  type ChunkKey,
} from '../core/index.js';
import { decodeJson, parseLocalGrant, type LocalGrant } from '../wire/index.js';

const log = logger('client');

/** A chunk left for a cell to adopt: a file name in its incoming directory. */
export interface StagedFile {
  incomingDir: string;
  name: string;
}

/** A cell that did not answer LOCAL_GRANT (or is on another machine) is asked again after this long (ms). */
const NO_GRANT_TTL_MS = 30_000;
/** Grants remembered, one per cell. */
const GRANTS_MAX = 1_024;
/** Leaf hash lists remembered (1 KiB each for 1 MiB chunks), checked against their chunk's leaf root. */
const LEAF_LISTS_MAX = 4_096;
/** Chunk files kept open for range reads: an open and a close cost two thread-pool round trips per read. */
const OPEN_FILES_MAX = 128;

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
  private readonly grants = new LRUCache<CellId, { grant: LocalGrant | null }>({ max: GRANTS_MAX });
  private readonly asking = new Set<CellId>();
  private readonly leafLists = new LRUCache<ChunkKey, { root: string; hashes: Buffer }>({ max: LEAF_LISTS_MAX });
  /** Open chunk files by path. A file the cell removes stays readable through its handle: its bytes are still checked. */
  private readonly openFiles = new LRUCache<string, Promise<FileHandle>>({
    max: OPEN_FILES_MAX,
    // A handle with reads in flight closes when they finish.
    dispose: (fh) => void fh.then((h) => h.close()).catch(() => {}),
  });

  /** `requestGrant` asks a cell for its LOCAL_GRANT and resolves to the answer's body. */
  constructor(private readonly requestGrant: (addr: Addr) => Promise<Buffer>) {}

  /** What the cell granted, or null (not on this machine, or not known yet: then it is asked). */
  grantOf(cell: { id: CellId; addr: Addr }): LocalGrant | null {
    const known = this.grants.get(cell.id);
    if (known) return known.grant;
    if (!this.asking.has(cell.id)) {
      this.asking.add(cell.id);
      void this.ask(cell).finally(() => this.asking.delete(cell.id));
    }
    return null;
  }

  private async ask(cell: { id: CellId; addr: Addr }): Promise<void> {
    let grant: LocalGrant | null = null;
    try {
      grant = decodeJson(await this.requestGrant(cell.addr), parseLocalGrant);
      if (grant?.machine !== machineId()) grant = null;
    } catch (err) {
      log('no local grant from %s (%s)', cell.addr, (err as Error).message);
    }
    this.grants.set(cell.id, { grant }, grant ? {} : { ttl: NO_GRANT_TTL_MS });
  }

  /** The whole chunk from a granted directory, verified against its key; null if it is not there or does not match. */
  async chunk(chunkDir: string, key: ChunkKey): Promise<Buffer | null> {
    const data = await readFile(chunkFileOf(chunkDir, key)).catch(() => null);
    return data && chunkKeyOf(data) === key ? data : null;
  }

  /** Leaves [first, first + count) of a chunk (those that exist) from a granted directory, checked against the leaf root; null on any miss. */
  async leaves(chunkDir: string, key: ChunkKey, root: string, first: number, count: number): Promise<Buffer | null> {
    // The leaf hashes (first read of this chunk) and the leaves are read at once.
    const [hashes, bytes] = await Promise.all([this.leafList(chunkDir, key, root), this.readAt(chunkFileOf(chunkDir, key), first * LEAF_BYTES, count * LEAF_BYTES)]);
    if (hashes && bytes && leavesMatch(hashes, first, count, bytes)) return bytes;
    this.openFiles.delete(chunkFileOf(chunkDir, key));
    return null;
  }

  private async leafList(chunkDir: string, key: ChunkKey, root: string): Promise<Buffer | null> {
    const known = this.leafLists.get(key);
    if (known) return known.root === root ? known.hashes : null;
    const hashes = await readFile(leafFileOf(chunkDir, key)).catch(() => null);
    if (!hashes || leafRootOf(hashes) !== root) return null;
    this.leafLists.set(key, { root, hashes });
    return hashes;
  }

  /** Up to `length` bytes of a file at `position` (fewer at its end), through a kept handle; null if it cannot be read. */
  private async readAt(file: string, position: number, length: number): Promise<Buffer | null> {
    let fh = this.openFiles.get(file);
    if (!fh) {
      fh = open(file, 'r');
      this.openFiles.set(file, fh);
    }
    try {
      const bytes = Buffer.allocUnsafe(length);
      const { bytesRead } = await (await fh).read(bytes, 0, length, position);
      return bytes.subarray(0, bytesRead);
    } catch {
      if (this.openFiles.get(file) === fh) this.openFiles.delete(file);
      return null;
    }
  }

  /**
   * Leaves a chunk as a file in the incoming directory of each of `cells`
   * that granted one: written once, hard-linked into the others (written
   * again where a link fails, e.g. across file systems). The file per cell
   * that got one; the others get the chunk over the network.
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
        if (first) await link(first, file).catch(() => writeFile(file, data));
        else await writeFile(file, data);
        first ??= file;
        staged.set(c.id, { incomingDir, name });
      } catch (err) {
        log('cannot hand chunk %k to %s (%s): it goes over the network', key, incomingDir, (err as Error).message);
      }
    }
    return staged;
  }

  /** Removes a staged file the cell did not adopt (if it did, it removed the file: then nothing happens). */
  unstage(file: StagedFile): void {
    void unlink(path.join(file.incomingDir, file.name)).catch(() => {});
  }

  /** Closes the files kept open. */
  close(): void {
    this.openFiles.clear();
  }
}
