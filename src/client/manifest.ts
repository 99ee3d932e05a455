import { isChunkKey } from '../core/index.js';
import { ChunkList } from './chunk-list.js';

/**
 * A file's manifest: its size, how it was cut, and its chunks in order. It is
 * stored as a content-addressed object itself; its key is the file's id.
 */
export interface Manifest {
  size: number;
  chunkBytes: number;
  /** Its chunks, with their leaf roots where known (range reads; see LEAF_BYTES); unset indices are holes. */
  chunks: ChunkList;
  /**
   * A mount's chunk map names its file's inode. Garbage collection treats a
   * manifest without one (from `cellsync put`) as a root, kept for good; a
   * chunk map lives only while an inode record names it.
   */
  inode?: string;
}

/**
 * Two encodings, both JSON (docs/decisions/0027-largest-file-and-sparse-chunk-lists.md):
 * - version 1, a file with no hole: `chunks` a key per chunk, `roots`
 *   (optional) a leaf root or null per chunk. Written as before, so that a
 *   file stored again keeps its id and older readers read it.
 * - version 2, a file with holes: `chunks` lists keys and, for each run of
 *   holes, its length (a positive integer); `roots` (optional) has one entry
 *   per key. A 16 TiB sparse file's manifest is a few bytes.
 * Version 1 manifests with nulls for holes (written before version 2) still read.
 */
interface EncodedV1 {
  version: 1;
  size: number;
  chunkBytes: number;
  chunks: (string | null)[];
  roots?: (string | null)[];
  inode?: string;
}

interface EncodedV2 {
  version: 2;
  size: number;
  chunkBytes: number;
  chunks: (string | number)[];
  roots?: (string | null)[];
  inode?: string;
}

/** The number of chunks a file of `size` bytes is cut into. */
export function chunkCountOf(size: number, chunkBytes: number): number {
  return Math.ceil(size / chunkBytes);
}

/** Encodes a manifest; `withRoots` false leaves the leaf roots out (a smaller map, read by whole chunks only). */
export function encodeManifest(m: Manifest, withRoots = true): Buffer {
  const count = chunkCountOf(m.size, m.chunkBytes);
  const keys: string[] = [];
  const roots: (string | null)[] = [];
  const runs: (string | number)[] = [];
  let next = 0;
  for (const { index, key, root } of m.chunks.stored()) {
    if (index >= count) break;
    if (index > next) runs.push(index - next);
    runs.push(key);
    keys.push(key);
    roots.push(root);
    next = index + 1;
  }
  if (count > next) runs.push(count - next);
  const hasRoots = withRoots && roots.some((r) => r !== null);
  const head = { size: m.size, chunkBytes: m.chunkBytes };
  const encoded: EncodedV1 | EncodedV2 =
    keys.length === count ? { version: 1, ...head, chunks: keys, roots: hasRoots ? roots : undefined } : { version: 2, ...head, chunks: runs, roots: hasRoots ? roots : undefined };
  return Buffer.from(JSON.stringify({ ...encoded, inode: m.inode }));
}

/** Parses and checks a manifest (version 1 or 2): its chunks must fit its size. Null when it is not one. */
export function decodeManifest(data: Buffer): Manifest | null {
  let v: unknown;
  try {
    v = JSON.parse(data.toString('utf8'));
  } catch {
    return null;
  }
  const m = v as Partial<EncodedV1 | EncodedV2>;
  if (!Number.isSafeInteger(m.size) || m.size! < 0 || !Number.isSafeInteger(m.chunkBytes) || m.chunkBytes! <= 0) return null;
  if (m.inode !== undefined && (typeof m.inode !== 'string' || !/^[0-9a-f]{16,24}$/.test(m.inode))) return null;
  if (!Array.isArray(m.chunks) || (m.roots !== undefined && (!Array.isArray(m.roots) || !m.roots.every((r) => r === null || isChunkKey(r))))) return null;
  const count = chunkCountOf(m.size!, m.chunkBytes!);
  const chunks = m.version === 1 ? decodeV1(m.chunks, m.roots, count) : m.version === 2 ? decodeV2(m.chunks, m.roots, count) : null;
  if (!chunks) return null;
  const out: Manifest = { size: m.size!, chunkBytes: m.chunkBytes!, chunks };
  if (m.inode !== undefined) out.inode = m.inode;
  return out;
}

function decodeV1(keys: unknown[], roots: (string | null)[] | undefined, count: number): ChunkList | null {
  if (keys.length !== count || (roots && roots.length !== count)) return null;
  const list = new ChunkList();
  for (const [index, key] of keys.entries()) {
    if (key === null) continue;
    if (!isChunkKey(key)) return null;
    list.set(index, key, roots?.[index] ?? null);
  }
  return list;
}

function decodeV2(runs: unknown[], roots: (string | null)[] | undefined, count: number): ChunkList | null {
  const list = new ChunkList();
  let index = 0;
  let stored = 0;
  for (const run of runs) {
    if (typeof run === 'number') {
      if (!Number.isSafeInteger(run) || run <= 0) return null;
      index += run;
    } else {
      if (!isChunkKey(run) || index >= count) return null;
      list.set(index++, run, roots?.[stored] ?? null);
      stored++;
    }
    if (index > count) return null;
  }
  if (index !== count || (roots && roots.length !== stored)) return null;
  return list;
}
