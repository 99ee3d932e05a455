import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChunkKey } from './ids.js';

/*
 * Where a cell keeps a chunk under its chunk directory, and its metadata.
 * This is part of the protocol: a client on the same machine that a cell
 * granted local reads (LOCAL_GRANT) opens these files itself, and checks
 * every byte against the chunk key or the leaf root exactly as it checks an
 * answer from the network.
 */

/** The chunk's bytes: <chunkDir>/<first two hex digits>/<key>. */
export function chunkFileOf(chunkDir: string, key: ChunkKey): string {
  return path.join(chunkDir, key.slice(0, 2), key);
}

/**
 * A chunk's record in its cell's metadata database (an lmdb environment,
 * lmdb-js's default encoding, keyed by chunk key): R, the manifest flag, and
 * its leaf hashes (see LEAF_BYTES), 32 bytes per leaf, if known. Local
 * readers open it read-only (lmdb lets other processes read while the cell
 * writes) and check the hashes against the leaf root before using them.
 */
export type StoredChunkMeta = [replicas: number, isManifest: boolean, leafHashes?: Uint8Array];

let machine: string | undefined;

/**
 * This machine while it runs: its host name and the kernel's boot id. Two
 * processes with the same machine id see the same files (unless one is in
 * another mount namespace: then local reads find no file and use the network).
 */
export function machineId(): string {
  if (machine === undefined) {
    let boot = '';
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      // Not Linux: the host name alone.
    }
    machine = `${os.hostname()}/${boot}`;
  }
  return machine;
}
