import path from 'node:path';
// Not core/index.js: the hashing thread loads this module too, and needs no more.
import { LEAF_BYTES, type ChunkKey } from '../core/ids.js';

/*
 * A cell's data directory as it is on disk. This is part of the protocol: a
 * client on the same machine that a cell granted local reads (LOCAL_GRANT)
 * opens these files itself (LocalCellDisks), and checks every byte against
 * the chunk key or the leaf root exactly as it checks an answer from the
 * network. Only store/ reads and writes them.
 *
 *   <data>/chunks/<first two hex digits>/<key>   a chunk's bytes (chunkFileOf)
 *   <data>/chunks/../<key>.leaves                leaf hashes of chunks stored by older cells (leafFileOf)
 *   <data>/meta.lmdb                             chunk metadata and leaf hashes (StoredChunkMeta)
 *   <data>/records.lmdb                          the cell's namespace records (RecordStore)
 *   <data>/incoming/<key>.<random>               chunks staged by clients here, for the cell to adopt
 *   <data>/tmp/                                  chunk writes under way (temp files)
 *   <data>/corrupt/<key>.<ms>                    corrupt (or unreadable) chunk files moved aside
 *   <data>/corrupt/stray.<path>.<ms>             what was in the chunk tree and is no chunk file (chunk-tree.ts)
 *   <data>/corrupt/<name>.lmdb.<ms>              a damaged database set aside (lmdb-file.ts)
 */

/** The directories and databases of the cell whose data directory is `dataDir`. */
export function cellLayoutOf(dataDir: string) {
  return {
    chunkDir: path.join(dataDir, 'chunks'),
    incomingDir: path.join(dataDir, 'incoming'),
    tmpDir: path.join(dataDir, 'tmp'),
    corruptDir: path.join(dataDir, 'corrupt'),
    metaPath: path.join(dataDir, 'meta.lmdb'),
    recordsPath: path.join(dataDir, 'records.lmdb'),
  };
}

/** The chunk's bytes: <chunkDir>/<first two hex digits>/<key>. */
export function chunkFileOf(chunkDir: string, key: ChunkKey): string {
  return path.join(chunkDir, key.slice(0, 2), key);
}

/**
 * Where cells before leaf hashes moved into the metadata database kept them:
 * a file beside the chunk. Still read for chunks stored then, and removed
 * with them.
 */
export function leafFileOf(chunkDir: string, key: ChunkKey): string {
  return chunkFileOf(chunkDir, key) + '.leaves';
}

/** Leaves of a chunk of `size` bytes (see LEAF_BYTES): its leaf hash list is 32 bytes per leaf. */
export function leafCountOf(size: number): number {
  return Math.ceil(size / LEAF_BYTES);
}

/**
 * A chunk's record in its cell's metadata database (an lmdb environment,
 * lmdb-js's default encoding, keyed by chunk key): R, the manifest flag, and
 * its leaf hashes (see LEAF_BYTES), 32 bytes per leaf, if known. Local
 * readers open it read-only (lmdb lets other processes read while the cell
 * writes) and check the hashes against the leaf root before using them.
 */
export type StoredChunkMeta = [replicas: number, isManifest: boolean, leafHashes?: Uint8Array];

/** A staged chunk's file name in an incoming directory: its key, then random hex so that writers never collide. */
export function stagedNameOf(key: ChunkKey, random: string): string {
  return `${key}.${random}`;
}
