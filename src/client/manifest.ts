import { isChunkKey, type ChunkKey } from '../core/index.js';

/**
 * A file's manifest: its size, how it was cut, and its chunks in order. It is
 * stored as a content-addressed object itself; its key is the file's id.
 */
export interface Manifest {
  version: 1;
  size: number;
  chunkBytes: number;
  /** null = a hole (all zeros, never stored): sparse files. */
  chunks: (ChunkKey | null)[];
  /** Per chunk, the SHA-256 over its leaves' hashes (see LEAF_BYTES), for range reads; null or absent = whole-chunk reads only. */
  roots?: (string | null)[];
  /**
   * A mount's chunk map names its file's inode. Garbage collection treats a
   * manifest without one (from `cellsync put`) as a root, kept for good; a
   * chunk map lives only while an inode record names it.
   */
  inode?: string;
}

export function encodeManifest(m: Manifest): Buffer {
  return Buffer.from(JSON.stringify(m));
}

/** Parses and checks a manifest: the chunk count must fit the size. Null when it is not one. */
export function decodeManifest(data: Buffer): Manifest | null {
  let v: unknown;
  try {
    v = JSON.parse(data.toString('utf8'));
  } catch {
    return null;
  }
  const m = v as Partial<Manifest>;
  if (m.version !== 1 || !Number.isSafeInteger(m.size) || m.size! < 0 || !Number.isSafeInteger(m.chunkBytes) || m.chunkBytes! <= 0) return null;
  if (!Array.isArray(m.chunks) || !m.chunks.every((k) => k === null || isChunkKey(k))) return null;
  if (m.chunks.length !== Math.ceil(m.size! / m.chunkBytes!)) return null;
  if (m.roots !== undefined && (!Array.isArray(m.roots) || m.roots.length !== m.chunks.length || !m.roots.every((r) => r === null || isChunkKey(r)))) return null;
  if (m.inode !== undefined && (typeof m.inode !== 'string' || !/^[0-9a-f]{16,24}$/.test(m.inode))) return null;
  return m as Manifest;
}
