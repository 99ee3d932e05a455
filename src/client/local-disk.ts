import type { BufferPool, ChunkKey } from '../core/index.js';
import type { RecordEnvelope } from '../namespace/index.js';

/** A chunk's bytes in an aligned buffer of shared memory (LocalDisk.copyOf). */
export interface AlignedCopy {
  /** The whole buffer, given back by release(). */
  aligned: Buffer;
  /** The chunk's bytes, at its start. */
  bytes: Buffer;
}

/** What merging a record replaced in a cell's database: the version written, and the record before it (null: none). */
export interface ReplacedRecord {
  k: string;
  v: string;
  prev: RecordEnvelope | null;
}

/** A chunk whose leaf hashes are wanted, with the leaf root its file's chunk map records. */
export interface LeafListWanted {
  key: ChunkKey;
  root: string;
}

/**
 * What a client needs from the disks of cells on this machine, at the
 * directories and databases a cell granted (LOCAL_GRANT): chunk files read
 * and checked, leaf hashes, chunks staged for adoption, records merged.
 * Only store/ knows the cells' on-disk format: it implements this
 * (LocalCellDisks), and the composition root (connect/) hands it to
 * SwarmClient. Which cells are on this machine, and when to use them, is
 * the client's (LocalCells).
 */
export interface LocalDisk {
  /** Readies local reads ahead of the first one (starts the hashing thread). */
  start(): void;
  /**
   * The whole chunk from a cell's chunk directory, verified against its key;
   * null if it is not there or does not match. With `pool` (of
   * LOCAL_READ_BUFFER_BYTES buffers) it is lent from one of its buffers.
   */
  readChunk(chunkDir: string, key: ChunkKey, pool?: BufferPool): Promise<Buffer | null>;
  /** Leaves [first, first + count) of a chunk (those that exist), read at once, checked against `leafHashes`; null on any miss. */
  readLeaves(chunkDir: string, key: ChunkKey, leafHashes: Buffer, first: number, count: number): Buffer | null;
  /** A chunk's leaf hashes from a cell's metadata database, if they hash to the root; else null. Throws if the database cannot be read. */
  leafHashes(metaPath: string, wanted: LeafListWanted): Buffer | null;
  /** Opens chunk files for readLeaves in the background; resolves when done. */
  openAhead(chunks: { chunkDir: string; key: ChunkKey }[]): Promise<void>;
  /** Leaf hashes of many chunks of one cell, read and checked off the event loop: `found` for each one there. */
  leafHashLists(metaPath: string, wanted: LeafListWanted[], found: (chunk: LeafListWanted, hashes: Buffer) => void): Promise<void>;
  /** Merges records into a cell's record database as the cell would: what it replaced once committed there, null if it cannot be done. */
  mergeRecords(recordsPath: string, records: RecordEnvelope[]): ReplacedRecord[] | null;
  /** Records of a cell's record database, read as the cell answers REC_GET (null for a key it lacks): null if the database cannot be read. */
  readRecords(recordsPath: string, keys: string[]): (RecordEnvelope | null)[] | null;
  /** Every record under a prefix in a cell's record database, tombstones included (as REC_SCAN): null if it cannot be read. */
  scanRecords(recordsPath: string, prefix: string): RecordEnvelope[] | null;
  /** Undoes merges in a cell's record database (keys still at the version written go back to what they replaced): false if it cannot be done. */
  restoreRecords(recordsPath: string, undos: ReplacedRecord[]): boolean;
  /** Leaves a chunk as a file of its own in a cell's incoming directory, for the cell to adopt: its name there. Throws if it cannot. */
  stage(incomingDir: string, key: ChunkKey, data: Buffer, copy: AlignedCopy | null): Promise<string>;
  /** Removes a staged file the cell did not adopt. */
  unstage(incomingDir: string, name: string): void;
  /** A chunk about to be written, copied into an aligned buffer of shared memory (for stage and hashesOf), or null. */
  copyOf(data: Buffer): AlignedCopy | null;
  /** A copy's key and leaf hashes, computed off the event loop where worth it. */
  hashesOf(copy: AlignedCopy): Promise<{ key: ChunkKey; leafHashes: Buffer }>;
  /** Gives a copy's buffer back. */
  release(copy: AlignedCopy | null): void;
  close(): Promise<void>;
}
