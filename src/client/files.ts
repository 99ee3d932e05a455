import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { CellError, isCellError, type ChunkKey } from '../core/index.js';
import { ChunkList } from './chunk-list.js';
import { chunkCountOf, decodeManifest, encodeManifest, type Manifest } from './manifest.js';
import type { SwarmClient } from './swarm-client.js';

/** Chunks read ahead of the writer, and chunks waiting for their write quorum: bounds memory to a few chunk sizes. */
const WINDOW_CHUNKS = 8;
/**
 * A long put claims the chunks it stored so far this often (ms): none is
 * named until the manifest at its end, and garbage collection spares
 * chunks for its grace period (at least 5 min) after they were stored or claimed.
 */
const CLAIM_EVERY_MS = 60_000;

export interface PutFileOptions {
  replicas: number;
  writeQuorum: number;
  chunkBytes: number;
}

export interface PutFileResult {
  id: ChunkKey;
  size: number;
  chunks: number;
}

/**
 * Cuts a file into chunks and stores each on R cells, streaming: at most a
 * window of chunks is in memory, whatever the file's size. Returns once W
 * copies of every chunk and of the manifest are acknowledged, and the other
 * copies have been tried.
 */
export async function putFile(client: SwarmClient, path: string, opts: PutFileOptions): Promise<PutFileResult> {
  const fh = await open(path, 'r');
  const chunks: ChunkKey[] = [];
  const quorums: Promise<number>[] = [];
  const settling = new Set<Promise<number>>();
  let size = 0;
  let claimedAtMs = Date.now();
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(opts.chunkBytes);
      let filled = 0;
      while (filled < buf.length) {
        const { bytesRead } = await fh.read(buf, filled, buf.length - filled, null);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled === 0) break;
      size += filled;
      const put = await client.putChunk(buf.subarray(0, filled), { replicas: opts.replicas, isManifest: false }, opts.writeQuorum);
      chunks.push(put.key);
      quorums.push(put.quorum);
      settling.add(put.settled);
      void put.settled.finally(() => settling.delete(put.settled)).catch(() => {});
      if (quorums.length >= WINDOW_CHUNKS) await quorums.shift();
      while (settling.size > 2 * WINDOW_CHUNKS) await Promise.race(settling);
      if (filled < buf.length) break;
      if (Date.now() - claimedAtMs >= CLAIM_EVERY_MS) {
        claimedAtMs = Date.now();
        // The last chunks may still be on their way: only those whose quorum came are claimed.
        const stored = chunks.slice(0, chunks.length - quorums.length);
        const missing = await client.claimChunks([...new Set(stored)]);
        if (missing.length > 0) throw new CellError('CHUNK_NOT_FOUND', `${missing.length} chunk(s) this put stored are gone: try again`);
      }
    }
    await Promise.all(quorums);
  } finally {
    await fh.close();
  }
  const manifest: Manifest = { size, chunkBytes: opts.chunkBytes, chunks: ChunkList.of(chunks) };
  const m = await client.putChunk(encodeManifest(manifest), { replicas: opts.replicas, isManifest: true }, opts.writeQuorum);
  await m.quorum;
  await Promise.allSettled([...settling, m.settled]);
  return { id: m.key, size, chunks: chunks.length };
}

export async function readManifest(client: SwarmClient, id: ChunkKey): Promise<Manifest> {
  const bytes = await client.getChunk(id).catch((err: unknown) => {
    if (isCellError(err, 'CHUNK_NOT_FOUND')) throw new CellError('CHUNK_NOT_FOUND', `no file with id ${id} in this swarm (put prints the id of each file it stores)`);
    // Some cells said they do not hold it and the others did not answer: most likely an unknown id, not an outage.
    const notHeldBy = (err as { notHeldBy?: string[] }).notHeldBy ?? [];
    if (isCellError(err, 'NO_CELL_REACHABLE') && notHeldBy.length > 0) {
      throw new CellError(
        'CHUNK_NOT_FOUND',
        `no file with id ${id}: the cells that answered (${notHeldBy.join(', ')}) do not hold it, and the others did not answer; check the id (put prints it), or try again when every cell is up`,
      );
    }
    throw err;
  });
  const manifest = decodeManifest(bytes);
  if (!manifest) throw new CellError('BAD_REQUEST', `${id} is not a file id (its object is not a manifest)`);
  return manifest;
}

/**
 * Writes a file's bytes to out, in order, reading a window of chunks ahead.
 * Every chunk is verified against its key, and the manifest against the id.
 */
export async function getFile(client: SwarmClient, id: ChunkKey, out: Writable): Promise<Manifest> {
  const manifest = await readManifest(client, id);
  const fetches: Promise<Buffer>[] = [];
  let nextFetch = 0;
  const count = chunkCountOf(manifest.size, manifest.chunkBytes);
  const fill = () => {
    while (nextFetch < count && fetches.length < WINDOW_CHUNKS) {
      const index = nextFetch++;
      const key = manifest.chunks.get(index);
      const holeBytes = Math.min(manifest.chunkBytes, manifest.size - index * manifest.chunkBytes);
      const p = key === null ? Promise.resolve(Buffer.alloc(holeBytes)) : client.getChunk(key);
      p.catch(() => {});
      fetches.push(p);
    }
  };
  let written = 0;
  fill();
  while (fetches.length > 0) {
    const data = await fetches.shift()!;
    fill();
    written += data.length;
    if (!out.write(data)) await drained(out);
  }
  if (written !== manifest.size) throw new CellError('BAD_REQUEST', `file ${id.slice(0, 12)} has ${written} bytes, its manifest says ${manifest.size}`);
  return manifest;
}

/** Resolves when `out` takes more; throws if it is gone (the reader of a pipe went away: EPIPE). */
async function drained(out: Writable): Promise<void> {
  const gone = () => Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
  if (out.destroyed) throw gone();
  await new Promise<void>((resolve, reject) => {
    const done = (err?: unknown) => {
      out.off('drain', done).off('close', closed).off('error', done);
      if (err) reject(err);
      else resolve();
    };
    const closed = () => done(gone());
    out.on('drain', done).on('close', closed).on('error', done);
  });
}
