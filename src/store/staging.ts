import { randomBytes } from 'node:crypto';
import { open, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CHUNK_BYTES_MAX, openDirect, readAllDirect, writeDirect, type ChunkKey } from '../core/index.js';
import { stagedNameOf } from './layout.js';

/*
 * Staging: a client on this machine leaves a chunk as a file of its own in a
 * cell's incoming directory (stageChunk), and asks the cell to adopt it
 * (CHUNK_ADOPT, ChunkStore.adopt). Both ends of that hand-over are here.
 */

/**
 * Writes a chunk as a new file in `incomingDir` and answers its name. Past
 * the page cache where it can be, from `copy` (an aligned buffer holding the
 * chunk at its start), else through the page cache from `data`.
 */
export async function stageChunk(incomingDir: string, key: ChunkKey, data: Buffer, copy: { aligned: Buffer; bytes: Buffer } | null): Promise<string> {
  const name = stagedNameOf(key, randomBytes(6).toString('hex'));
  const file = path.join(incomingDir, name);
  if (!(copy && (await writeDirect(file, copy.bytes, copy.aligned)))) await writeFile(file, data);
  return name;
}

/** Removes a staged file the cell did not adopt (if it did, it removed the file: then nothing happens). */
export function unstageChunk(incomingDir: string, name: string): void {
  void unlink(path.join(incomingDir, name)).catch(() => {});
}

/**
 * The size of a staged file a cell may take as it is (neither read nor
 * written again): a file of its own (one link), from a process of the
 * cell's user, no larger than a chunk. Null for any other.
 */
export async function sizeToTake(file: string): Promise<number | null> {
  const st = await stat(file).catch(() => null);
  // See docs/decisions/0004-trusted-adopts.md.
  return st?.isFile() && st.nlink === 1 && st.uid === process.getuid?.() && st.size <= CHUNK_BYTES_MAX ? st.size : null;
}

/**
 * Reads a staged file for a cell to adopt. `last`: the cell may make the file
 * itself its chunk (asked to `take` it, or holding its last link; a file of
 * the cell's own user only: no one else may write to what becomes its
 * chunk); otherwise the cell's link is dropped as soon as the file is open,
 * so that the cell that opens it last finds itself alone. The bytes go into
 * `aligned` (read past the page cache, as the client wrote them) when they
 * fit. Throws if the file cannot be read.
 */
export async function readStaged(file: string, take: boolean, aligned: Buffer | null): Promise<{ data: Buffer; last: boolean }> {
  const fh = await open(file, 'r');
  let direct = null;
  try {
    const st = await fh.stat();
    const last = (take || st.nlink === 1) && st.uid === process.getuid?.();
    const into = aligned && st.size < aligned.length ? aligned : null;
    // Opened again before the link goes.
    if (into) direct = await openDirect(file);
    if (!last) await unlink(file).catch(() => {});
    if (!into) return { data: await fh.readFile(), last };
    return { data: into.subarray(0, direct ? await readAllDirect(direct, into) : (await fh.read(into, 0, st.size, 0)).bytesRead), last };
  } finally {
    await Promise.all([fh.close(), direct?.close()]);
  }
}

/** Removes staged files older than maxAgeMs (by mtime) from an incoming directory: their clients never asked for them to be adopted. How many. */
export async function sweepStaged(incomingDir: string, maxAgeMs: number): Promise<number> {
  let removed = 0;
  for (const name of await readdir(incomingDir).catch(() => [] as string[])) {
    const file = path.join(incomingDir, name);
    const st = await stat(file).catch(() => null);
    if (st && Date.now() - st.mtimeMs > maxAgeMs && (await unlink(file).then(() => true, () => false))) removed++;
  }
  return removed;
}
