import { lstat, readdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { MESSAGE_BYTES_MAX, isChunkKey, type ChunkKey } from '../core/index.js';

/*
 * The chunk tree as it is on disk (store/layout.ts: <chunks>/<first two hex
 * digits>/<key>), and what in it is not a chunk file: a directory or a
 * special file where a chunk should be, a name that is no chunk key or sits
 * under the wrong fan-out directory, a file larger than any chunk. Such
 * entries are moved aside into the corrupt directory and counted: a chunk
 * never counts as held because something has its name.
 */

/** A chunk (or a manifest, the largest object stored) is at most one message's body. */
const CHUNK_FILE_BYTES_MAX = MESSAGE_BYTES_MAX;
const FAN_OUT = /^[0-9a-f]{2}$/;

export interface ChunkTree {
  /** Valid chunk files: key to size. */
  chunks: Map<ChunkKey, number>;
  /** What was not a chunk file, described ("ab/<name>: a directory") and moved aside. */
  strays: string[];
  /** The strays in one line, or null if there were none. */
  report: string | null;
}

/** How often a scan says how far it got (ms): a million files take a while. */
const SCAN_PROGRESS_MS = 1_000;

/** Walks the chunk tree; every stray entry is moved into asideDir. onProgress hears the chunk files counted, about once a second. */
export async function scanChunkTree(chunkDir: string, asideDir: string, onProgress?: (chunks: number) => void): Promise<ChunkTree> {
  const tree: ChunkTree = { chunks: new Map(), strays: [], report: null };
  let saidAt = Date.now();
  const stray = async (rel: string, what: string) => {
    tree.strays.push(`${rel}: ${what}`);
    await rename(path.join(chunkDir, rel), strayAsidePath(asideDir, rel)).catch(() => undefined);
  };
  for (const sub of await readdir(chunkDir, { withFileTypes: true })) {
    if (!sub.isDirectory() || !FAN_OUT.test(sub.name)) {
      await stray(sub.name, sub.isDirectory() ? 'a directory that is no fan-out directory' : 'not a directory');
      continue;
    }
    // Leaf hashes kept by older cells beside their chunks (layout.ts, leafFileOf).
    const names = (await readdir(path.join(chunkDir, sub.name)).catch(() => [] as string[])).filter((n) => !(n.endsWith('.leaves') && isChunkKey(n.slice(0, -'.leaves'.length))));
    // A fan-out directory's entries are looked at together: one at a time, a large store took seconds more to open.
    const stats = await Promise.all(names.map((n) => lstat(path.join(chunkDir, sub.name, n)).catch(() => null)));
    for (const [i, name] of names.entries()) {
      const rel = path.join(sub.name, name);
      const st = stats[i];
      if (!st) continue;
      const why = chunkFileProblem(name, sub.name, st);
      if (why) await stray(rel, why);
      else tree.chunks.set(name, st.size);
    }
    if (onProgress && Date.now() - saidAt >= SCAN_PROGRESS_MS) {
      saidAt = Date.now();
      onProgress(tree.chunks.size);
    }
  }
  const n = tree.strays.length;
  if (n > 0) tree.report = `${n} entries in ${chunkDir} were not chunk files (${tree.strays.slice(0, 3).join('; ')}${n > 3 ? '; ...' : ''}): moved to ${asideDir}`;
  return tree;
}

/** Why an entry of a fan-out directory is not a chunk file, or null if it is one. */
function chunkFileProblem(name: string, fanOut: string, st: { isFile(): boolean; isDirectory(): boolean; size: number }): string | null {
  if (!isChunkKey(name)) return 'not a chunk key';
  if (!name.startsWith(fanOut)) return 'under the wrong fan-out directory';
  if (!st.isFile()) return st.isDirectory() ? 'a directory' : 'not a regular file';
  if (st.size > CHUNK_FILE_BYTES_MAX) return `${st.size} bytes, larger than any chunk`;
  return null;
}

/** Where a stray entry goes: stray.<its path with the slash as a dot>.<ms> in the corrupt directory. */
function strayAsidePath(asideDir: string, rel: string): string {
  return path.join(asideDir, `stray.${rel.replace(/\//g, '.')}.${Date.now()}`);
}
