import type { ChunkList } from '../../client/index.js';
import type { ChunkKey } from '../../core/index.js';
import type { Inode } from '../../namespace/index.js';

/** A file open in this mount: shared by every handle on it, so they see each other's writes. */
export interface OpenFile {
  ino: string;
  inode: Inode;
  chunkBytes: number;
  /** Its stored chunks, with their leaf roots where known (range reads; see LEAF_BYTES). */
  chunks: ChunkList;
  /** Small files: their whole content (until written as chunks). */
  inline: Buffer | null;
  /** Chunks changed and not yet stored, by index. */
  dirty: Map<number, DirtyChunk>;
  /** Writes into stored chunks that were not dirty, by index: never a chunk that is also dirty. */
  patches: Map<number, ChunkPatches>;
  uploads: Map<number, Promise<void>>;
  size: number;
  changed: boolean;
  /** Chunks this mount stored for the file since its last commit; any other chunk it names is claimed at the commit. */
  storedSinceCommit: Set<ChunkKey>;
  /** When the periodic check first saw it changed since its last commit (monotonic ms), or null. */
  changedSeenMs: number | null;
  unlinked: boolean;
  refs: number;
  /** A file created here and not yet written back: its entry exists only in this mount until the first commit (atMs: wall time). */
  created: { parent: string; name: string; atMs: number } | null;
  /** Serializes writes, truncates and commits of this file (see withLock). */
  lock: Promise<void>;
  /** Holders of and waiters for the lock: 0 means a write may proceed without waiting. */
  lockers: number;
  /** Where the last read of it ended (bytes), or -1; and how many reads in a row started near where the one before ended. */
  lastReadEnd: number;
  adjacentReads: number;
  /** Reads not next to the one before (a random reader), counted up to the one that warms the file's chunks. */
  randomReads: number;
  /** When its inode was last read from the swarm (monotonic ms): an unchanged open file is brought up to date after attrTtlMs. */
  checkedAtMs: number;
}

/**
 * Writes into a stored chunk that is not dirty, kept as they came until the
 * chunk is needed whole (a read of it, its store, a cut), when it is read
 * once and they are applied in order. Reading the chunk at each such write
 * made a random writer read a whole chunk per write, one at a time, and
 * store about as many (docs/decisions/0005-patches-for-random-writes.md).
 */
export interface ChunkPatches {
  parts: { at: number; bytes: Buffer }[];
  bytes: number;
}

/**
 * A chunk's bytes as changed here. The buffer may be shorter than the chunk
 * (the rest is zeros) and grows as writes reach further. Once an upload has
 * started, the buffer is sent as it is, without a copy: it is sealed, and a
 * later write works on a copy.
 */
export interface DirtyChunk {
  buf: Buffer;
  version: number;
  sealed: boolean;
  /** The pool buffer `buf` is a view of, if it came from the pool. */
  pooled?: Buffer;
}

/** An open file as its chunk map and inode describe it, with nothing changed yet. */
export function newOpenFile(
  ino: string,
  inode: Inode,
  map: { chunks: ChunkList; chunkBytes: number },
  checkedAtMs: number,
): OpenFile {
  return {
    ino,
    inode,
    chunkBytes: map.chunkBytes,
    chunks: map.chunks,
    inline: inode.inline !== undefined ? Buffer.from(inode.inline, 'base64') : null,
    dirty: new Map(),
    patches: new Map(),
    uploads: new Map(),
    size: inode.size,
    changed: false,
    storedSinceCommit: new Set(),
    changedSeenMs: null,
    unlinked: false,
    refs: 1,
    created: null,
    lock: Promise.resolve(),
    lockers: 0,
    lastReadEnd: -1,
    adjacentReads: 0,
    randomReads: 0,
    checkedAtMs,
  };
}

/** Runs fn with the file's lock held: writes, truncates and commits of one file never interleave. */
export async function withLock<T>(f: OpenFile, fn: () => Promise<T>): Promise<T> {
  const prev = f.lock;
  let release!: () => void;
  f.lock = new Promise<void>((r) => (release = r));
  f.lockers++;
  await prev;
  try {
    return await fn();
  } finally {
    f.lockers--;
    release();
  }
}

/** An open file with nothing of its own unwritten: what the swarm has is what it is. */
export function isClean(f: OpenFile): boolean {
  return !f.changed && !f.created && !f.unlinked && f.dirty.size === 0 && f.patches.size === 0;
}

/** The bytes of chunk `index` inside the file as it is now (0 past its end). */
export function chunkLength(f: OpenFile, index: number): number {
  return Math.max(0, Math.min(f.chunkBytes, f.size - index * f.chunkBytes));
}

/** An open file's bytes outside holes: every chunk stored or dirty, counted at its length (holes are not walked: a sparse file may have millions). */
export function storedBytesOf(f: OpenFile): number {
  if (f.inline) return f.size;
  let n = 0;
  for (const { index } of f.chunks.stored()) if (!f.dirty.has(index)) n += chunkLength(f, index);
  for (const index of f.dirty.keys()) n += chunkLength(f, index);
  return n;
}
