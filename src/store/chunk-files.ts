import { closeSync, openSync, readSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { CHUNK_BYTES_MAX, LOCAL_READ_BUFFER_BYTES, readDirect, readDirectSync, type AlignedBuffers, type BufferPool } from '../core/index.js';

/*
 * Reading chunk files (store/layout.ts), by their cell (ChunkStore) and by
 * clients on the same machine (LocalCellDisks): past the page cache where
 * the file system allows (core/direct-io.ts), through aligned buffers that
 * each reader keeps for reuse.
 */

/** A chunk file's bytes, read past the page cache where it can be. Throws as readFile does (ENOENT for a missing file). */
export async function readChunkFile(file: string, direct: AlignedBuffers): Promise<Buffer> {
  const aligned = direct.take();
  try {
    const n = aligned && (await readDirect(file, aligned));
    // The bytes leave with the answer, after the buffer is reused: a copy.
    if (aligned && n !== null && n < aligned.length) return Buffer.from(aligned.subarray(0, n));
    return await readFile(file);
  } finally {
    if (aligned) direct.put(aligned);
  }
}

/** Fills `bytes` from a chunk file at `position`, past the page cache where it can be: the bytes read, or -1. */
export function readChunkRange(file: string, bytes: Buffer, position: number, direct: AlignedBuffers): number {
  const aligned = direct.take();
  try {
    const n = aligned && readDirectSync(file, aligned, position, bytes.length);
    if (aligned && typeof n === 'number') return aligned.copy(bytes, 0, 0, n);
  } catch {
    return -1;
  } finally {
    if (aligned) direct.put(aligned);
  }
  return readAt(file, bytes, position);
}

/**
 * Reads bytes.length bytes at position, synchronously through the page
 * cache: a range is a few leaves (at most ~160 KiB), far cheaper to read
 * from the page cache than the thread pool's hand-offs for open, read and
 * close cost. -1 if it failed.
 */
export function readAt(file: string, bytes: Buffer, position: number): number {
  let fd = -1;
  try {
    fd = openSync(file, 'r');
    return readSync(fd, bytes, 0, bytes.length, position);
  } catch {
    return -1;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Files up to this size (a default chunk) are read in one read. */
export const ONE_READ_BYTES = CHUNK_BYTES_MAX;

/**
 * A file's bytes, or null: an open and one read for up to a default chunk,
 * the close not waited for (readFile adds an fstat and more reads, all on
 * the event loop's time). With a pool (of LOCAL_READ_BUFFER_BYTES buffers),
 * the read goes into one of its buffers, lent from it. The read is direct
 * where it can be: straight into the pool's buffer if it takes direct reads
 * (BufferPool 'aligned'), else into an aligned buffer and copied, a copy of
 * every byte read.
 */
export async function readChunkFileLent(file: string, direct: AlignedBuffers, pool?: BufferPool): Promise<Buffer | null> {
  if (pool && pool.bufferBytes !== LOCAL_READ_BUFFER_BYTES) pool = undefined;
  const whole = pool?.take();
  const view = whole && pool!.directView(whole);
  const into = view ?? direct.take();
  if (into) {
    let lent = false;
    try {
      const n = await readDirect(file, into);
      // Longer than a default chunk: read plainly below, as a whole file.
      if (n !== null && n <= ONE_READ_BYTES) {
        if (n < ONE_READ_BYTES / 2 || !pool) return Buffer.from(into.subarray(0, n));
        if (!view) into.copy(whole!, 0, 0, n);
        lent = true;
        return pool.lend(whole!, n);
      }
    } catch {
      return null;
    } finally {
      if (!view) direct.put(into);
      if (!lent && whole) pool!.put(whole);
    }
  } else if (whole) pool!.put(whole);
  const fh = await open(file, 'r').catch(() => null);
  if (!fh) return null;
  const buf = pool?.take() ?? Buffer.allocUnsafeSlow(LOCAL_READ_BUFFER_BYTES);
  let lent = false;
  try {
    const { bytesRead } = await fh.read(buf, 0, LOCAL_READ_BUFFER_BYTES, 0);
    if (bytesRead > ONE_READ_BYTES) return await fh.readFile();
    // A short chunk (a file's end) gets a buffer of its size: caches count bytes by length.
    if (bytesRead < ONE_READ_BYTES / 2) return Buffer.from(buf.subarray(0, bytesRead));
    lent = true;
    return pool ? pool.lend(buf, bytesRead) : buf.subarray(0, bytesRead);
  } catch {
    return null;
  } finally {
    if (!lent) pool?.put(buf);
    void fh.close().catch(() => {});
  }
}
