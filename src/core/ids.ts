import { hash, randomBytes } from 'node:crypto';

/** A cell or client id: 64 random bits, written as 16 lowercase hex digits. */
export type CellId = string;

export const CELL_ID_BYTES = 8;

export function newCellId(): CellId {
  return randomBytes(CELL_ID_BYTES).toString('hex');
}

export function isCellId(s: unknown): s is CellId {
  return typeof s === 'string' && /^[0-9a-f]{16}$/.test(s);
}

/** A chunk key: SHA-256 of the bytes, 64 lowercase hex digits. */
export type ChunkKey = string;

export function chunkKeyOf(data: Uint8Array): ChunkKey {
  return hash('sha256', data, 'hex');
}

/**
 * Range reads: a chunk is also seen as leaves of LEAF_BYTES (the last one
 * shorter). A file's chunk map records, next to each chunk's key, the root
 * SHA-256 over its leaves' SHA-256s, so a reader can check a few leaves
 * without the whole chunk (the key stays SHA-256 of the bytes). A page: a
 * random 4 KiB read reads and hashes 4 KiB, not 32
 * (docs/decisions/0007-leaf-size-4kib.md); a 4 MiB chunk has 32 KiB of leaf hashes.
 */
export const LEAF_BYTES = 4 * 1024;
const DIGEST_BYTES = 32;

/** SHA-256 of every leaf, concatenated (32 bytes per leaf). */
export function leafHashesOf(data: Uint8Array): Buffer {
  const count = Math.ceil(data.length / LEAF_BYTES);
  const out = Buffer.allocUnsafe(count * DIGEST_BYTES);
  // One-shot hash(): a hash object per 4 KiB leaf costs more than the hashing of so small a leaf.
  for (let i = 0; i < count; i++) out.set(hash('sha256', data.subarray(i * LEAF_BYTES, Math.min(data.length, (i + 1) * LEAF_BYTES)), 'buffer'), i * DIGEST_BYTES);
  return out;
}

/** The root a chunk map records for a chunk: SHA-256 of its leaf hashes. */
export function leafRootOf(leafHashes: Uint8Array): string {
  return hash('sha256', leafHashes, 'hex');
}

/**
 * Whether bytes are exactly the leaves [first, first + k) of a chunk, where
 * k is as many as exist of the `count` asked for: each leaf must match its
 * hash, and none may be missing (a short answer must not read as zeros).
 */
export function leavesMatch(leafHashes: Buffer, first: number, count: number, bytes: Uint8Array): boolean {
  const leaves = leafHashes.length / DIGEST_BYTES;
  const expected = Math.max(0, Math.min(first + count, leaves) - first);
  if (Math.ceil(bytes.length / LEAF_BYTES) !== expected) return false;
  for (let i = 0; i < expected; i++) {
    const want = leafHashes.subarray((first + i) * DIGEST_BYTES, (first + i + 1) * DIGEST_BYTES);
    if (!hash('sha256', bytes.subarray(i * LEAF_BYTES, (i + 1) * LEAF_BYTES), 'buffer').equals(want)) return false;
  }
  return true;
}

export function isChunkKey(s: unknown): s is ChunkKey {
  return typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);
}

/** What a cell keeps about a chunk besides its bytes. */
export interface ChunkMeta {
  /** Copies the swarm keeps of it (R). */
  replicas: number;
  /** A file manifest: a root from which fsck finds every chunk of a file. */
  isManifest: boolean;
}

/** "host:port" */
export type Addr = string;

export function parseAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = i > 0 ? addr.slice(0, i) : '';
  const port = Number(addr.slice(i + 1));
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`bad address "${addr}": expected host:port, e.g. 127.0.0.1:7400`);
  }
  return { host, port };
}

export function formatAddr(host: string, port: number): Addr {
  return `${host}:${port}`;
}
