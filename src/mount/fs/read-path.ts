import { LEAF_BYTES, logger, type ChunkKey } from '../../core/index.js';
import type { ChunkCache } from './chunk-cache.js';
import type { FsContext } from './context.js';
import type { DirtyChunks } from './dirty-chunks.js';
import type { OpenFile } from './open-file.js';
import type { Patches } from './patches.js';
import { chunkSpans, copyOut, leafSpan } from './spans.js';

const log = logger('mount:fs:read');

/** Chunks fetched ahead of a sequential reader: spread over the cells that hold them, enough to keep several cells' disks busy at once. */
const READ_AHEAD_CHUNKS = 8;
/** A read this close to where the last one ended continues a sequential reader (see isSequential): two of libfuse's 128 KiB requests. */
const SEQUENTIAL_SLACK_BYTES = 256 * 1024;
/** The random read of a file that prepares range reads of its other chunks (one alone, e.g. a header read, does not)... */
const WARM_AFTER_RANDOM_READS = 2;
/** ...of at most this many chunks. */
const WARM_CHUNKS_MAX = 128;

/** Bytes read from a chunk, and the chunk offset they start at (a range of leaves, or the whole chunk at 0). */
interface Source {
  bytes: Buffer;
  offset: number;
}

/**
 * Reads of open files: whole chunks for a sequential reader, fetched ahead
 * of it; the leaves a random read needs, from a cell on this machine at once
 * where one holds them, and the file's other chunks prepared for range reads
 * in the background once a random reader shows itself.
 */
export class ReadPath {
  constructor(
    private readonly ctx: FsContext,
    private readonly parts: { cache: ChunkCache; dirty: DirtyChunks; patches: Patches },
  ) {}

  /** Reads what readNow could not (the mount tries that first), fetching what it must. */
  async read(f: OpenFile, out: Buffer, length: number, position: number): Promise<number> {
    const end = Math.min(f.size, position + length);
    const sequential = this.isSequential(f, position);
    let copied = 0;
    for (const { index, within, n, offset } of chunkSpans(position, end - position, f.chunkBytes)) {
      // A random read of a chunk not in memory fetches only the leaves it needs; anything else, the whole chunk.
      const leaves = sequential ? null : await this.leaves(f, index, within, n);
      const src = leaves?.bytes ?? (await this.parts.patches.content(f, index));
      copyOut(src, within - (leaves?.offset ?? 0), n, out, offset);
      copied += n;
    }
    this.afterRead(f, position, copied, sequential);
    return copied;
  }

  /**
   * The read done at once when every chunk it touches is in memory (a
   * sequential reader's usual case, thanks to read-ahead) or, for a random
   * read, its leaves can be read at once from a cell on this machine. The
   * mount answers these without a promise in between. Null when something
   * must be fetched.
   */
  readNow(f: OpenFile, out: Buffer, length: number, position: number): number | null {
    const end = Math.min(f.size, position + length);
    const sequential = this.isSequential(f, position);
    const sources: Source[] = [];
    for (const { index, within, n } of chunkSpans(position, end - position, f.chunkBytes)) {
      const whole = this.parts.dirty.chunkNow(f, index);
      const src = whole ? { bytes: whole, offset: 0 } : sequential ? null : this.leavesNow(f, index, within, n);
      if (!src) return null;
      sources.push(src);
    }
    let i = 0;
    for (const { within, n, offset } of chunkSpans(position, end - position, f.chunkBytes)) {
      const src = sources[i++]!;
      copyOut(src.bytes, within - src.offset, n, out, offset);
    }
    const copied = Math.max(0, end - position);
    this.afterRead(f, position, copied, sequential);
    return copied;
  }

  /**
   * A read of a sequential reader: the second in a row (at least) to start
   * near where the one before ended, or at the file's start. The kernel's
   * read-ahead sends a sequential reader's requests a few at a time, and
   * libfuse's threads may hand them over out of order, hence "near". One
   * such read alone is not enough: random reads land next to the last one
   * now and then, and each time would read whole chunks and 8 MiB ahead.
   */
  private isSequential(f: OpenFile, position: number): boolean {
    return isAdjacent(f, position) && f.adjacentReads >= 1;
  }

  private afterRead(f: OpenFile, position: number, length: number, sequential: boolean): void {
    f.adjacentReads = isAdjacent(f, position) ? f.adjacentReads + 1 : 0;
    // After this read is answered (a timer, not a microtask: the slow path answers in a later microtask),
    // as working out and starting up to WARM_CHUNKS_MAX chunks' preparation takes a while.
    if (f.adjacentReads === 0 && ++f.randomReads === WARM_AFTER_RANDOM_READS) this.ctx.clock.setTimeout(() => this.warmRanges(f), 0);
    f.lastReadEnd = Math.max(position + length, sequential ? f.lastReadEnd : 0);
    if (sequential && length > 0) this.readAhead(f, Math.floor((position + length - 1) / f.chunkBytes));
  }

  /**
   * The leaves of a stored chunk covering [within, within + n), checked
   * against the chunk's leaf root, with the chunk offset they start at; null
   * when the chunk is in memory, has no known root, or the range read failed
   * (the caller then reads the whole chunk).
   */
  private async leaves(f: OpenFile, index: number, within: number, n: number): Promise<Source | null> {
    const stored = this.storedForRange(f, index);
    if (!stored || this.parts.cache.has(stored.key)) return null;
    const { key, root } = stored;
    const { first, count } = leafSpan(within, n);
    try {
      return { bytes: await this.ctx.swarm.getChunkLeaves(key, root, first, count), offset: first * LEAF_BYTES };
    } catch (err) {
      log('range read of chunk %s failed (%s); reading it whole', key.slice(0, 12), (err as Error).message);
      return null;
    }
  }

  /** The leaves `leaves` would fetch, read at once from a cell on this machine (SwarmClient.chunkLeavesNow), or null. */
  private leavesNow(f: OpenFile, index: number, within: number, n: number): Source | null {
    const stored = this.storedForRange(f, index);
    if (!stored) return null;
    const { first, count } = leafSpan(within, n);
    const bytes = this.ctx.swarm.chunkLeavesNow(stored.key, stored.root, first, count);
    return bytes && { bytes, offset: first * LEAF_BYTES };
  }

  /** Chunk `index` as stored, if a range of it can be read: its key and leaf root (known, not changed here, not being fetched whole). */
  private storedForRange(f: OpenFile, index: number): { key: ChunkKey; root: string } | null {
    const key = f.chunks.get(index);
    const root = f.chunks.rootOf(index);
    if (!key || !root || f.dirty.has(index) || f.patches.has(index) || (f.inline && index === 0) || this.parts.cache.isFetching(key)) return null;
    return { key, root };
  }

  /**
   * A random reader comes back for most of its file's chunks: their range
   * reads are prepared now, in the background (SwarmClient.warmRanges), up
   * to WARM_CHUNKS_MAX stored chunks from the one just read on (then from
   * the file's start).
   */
  private warmRanges(f: OpenFile): void {
    const chunks: { key: ChunkKey; root: string }[] = [];
    const from = Math.floor(Math.max(0, f.lastReadEnd - 1) / f.chunkBytes);
    for (const wrapped of [false, true]) {
      for (const { index } of f.chunks.stored()) {
        if (chunks.length >= WARM_CHUNKS_MAX) break;
        if (index < from !== wrapped) continue;
        const stored = this.storedForRange(f, index);
        if (stored && !this.parts.cache.has(stored.key)) chunks.push(stored);
      }
    }
    if (chunks.length > 0) this.ctx.swarm.warmRanges(chunks);
  }

  /** Sequential reading of chunk i fetches the next chunks in the background. */
  private readAhead(f: OpenFile, index: number): void {
    for (let i = index + 1; i <= index + READ_AHEAD_CHUNKS; i++) {
      const key = f.chunks.get(i);
      // The debug line is what tests watch for: a chunk in memory ahead of its reader.
      if (key && !f.dirty.has(i) && !this.parts.cache.has(key)) this.parts.cache.fetch(key).then(() => log('chunk %k read ahead', key), () => {});
    }
  }
}

function isAdjacent(f: OpenFile, position: number): boolean {
  return f.lastReadEnd === -1 ? position === 0 : Math.abs(position - f.lastReadEnd) <= SEQUENTIAL_SLACK_BYTES;
}
