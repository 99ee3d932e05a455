import { isCellError, leafHashesOf, type ChunkKey, type ChunkMeta } from '../core/index.js';

/*
 * Rebuilding a cell's chunk metadata database (meta.lmdb) from its chunk
 * files, after a damaged one was set aside: each chunk is read and verified
 * (a corrupt one is moved aside as on any read), its leaf hashes computed
 * again, and its manifest flag recovered from its bytes. R is not in the
 * bytes: the cell's default applies, as for a chunk whose metadata a crash
 * lost, and a copy put again with its R raises it (ChunkStore.mergeMeta).
 */

/** What the rebuild needs of the store. */
export interface MetaRebuildTarget {
  /** The chunks held now. */
  keys(): ChunkKey[];
  /** A chunk's verified bytes; throws CHUNK_CORRUPT or CHUNK_NOT_FOUND as ChunkStore.get does. */
  get(key: ChunkKey): Promise<Buffer>;
  /** The metadata stored now (written since the rebuild began, or the defaults). */
  meta(key: ChunkKey): ChunkMeta;
  putMeta(key: ChunkKey, meta: ChunkMeta, leafHashes: Buffer): void;
  isClosed(): boolean;
}

/** Chunks rebuilt between two turns of the event loop. */
const CHUNKS_PER_TURN = 8;

/** Runs rebuildChunkMeta, logging how it ended; resolves then (never rejects). */
export function startMetaRebuild(log: (format: string, ...args: unknown[]) => void, target: MetaRebuildTarget): Promise<void> {
  return rebuildChunkMeta(target).then(
    ({ chunks, manifests }) => log('chunk metadata rebuilt: %d chunks, %d manifests', chunks, manifests),
    (err: Error) => log('chunk metadata not rebuilt: %s', err.message),
  );
}

/** Rebuilds every chunk's metadata; how many chunks it wrote, and how many of them are manifests. */
export async function rebuildChunkMeta(target: MetaRebuildTarget): Promise<{ chunks: number; manifests: number }> {
  let chunks = 0;
  let manifests = 0;
  for (const [i, key] of target.keys().entries()) {
    if (target.isClosed()) break;
    if (i % CHUNKS_PER_TURN === 0) await new Promise((r) => setImmediate(r));
    let bytes: Buffer;
    try {
      bytes = await target.get(key);
    } catch (err) {
      // Corrupt (moved aside and reported by the read) or gone: nothing to describe.
      if (isCellError(err)) continue;
      throw err;
    }
    const cur = target.meta(key);
    const isManifest = cur.isManifest || looksLikeManifest(bytes);
    target.putMeta(key, { replicas: cur.replicas, isManifest }, leafHashesOf(bytes));
    chunks++;
    if (isManifest) manifests++;
  }
  return { chunks, manifests };
}

/** A manifest is small JSON (client/manifest.ts): at most a message's worth. */
const MANIFEST_BYTES_MAX = 4 * 1024 * 1024 + 64 * 1024;

/**
 * Whether a chunk's bytes are a file manifest: the JSON object
 * {version: 1, size, chunkBytes, chunks: [...]} client/manifest.ts writes
 * (store/ cannot import client/; the shape is checked, not every field).
 * Taking a file's chunk for a manifest only makes gc keep it and fsck read it.
 */
export function looksLikeManifest(bytes: Buffer): boolean {
  if (bytes.length > MANIFEST_BYTES_MAX || bytes[0] !== 0x7b /* { */) return false;
  try {
    const m = JSON.parse(bytes.toString('utf8')) as { version?: unknown; size?: unknown; chunks?: unknown };
    return m.version === 1 && typeof m.size === 'number' && Array.isArray(m.chunks);
  } catch {
    return false;
  }
}
