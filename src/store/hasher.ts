import { Worker } from 'node:worker_threads';
import { chunkKeyOf, leafHashesOf, logger, type ChunkKey } from '../core/index.js';
import type { LeafListWanted } from './chunk-meta-reader.js';
import type { HashRequest } from './hash-worker.js';

const log = logger('store');
/** Requests waiting for the thread; beyond this, buffers are hashed on the event loop. */
const WAITING_MAX = 64;
/** Buffers smaller than this are hashed on the event loop: hashing them costs about as much as a message to the thread and back. */
const OFF_LOOP_BYTES_MIN = 128 * 1024;

/** A chunk's key and, where asked for, its leaf hashes. */
export interface ChunkHashes {
  key: ChunkKey;
  leafHashes: Buffer | null;
}

/**
 * The chunk key (SHA-256), and leaf hashes if asked, of buffers in shared
 * memory, computed on a worker thread that reads them in place: nothing is
 * copied, and the event loop, where every FUSE request of the mount waits
 * its turn, is not held while a chunk is hashed. Other buffers, small ones,
 * or any when the thread failed, are hashed on the event loop.
 */
export class OffThreadHasher {
  private worker: Worker | null = null;
  /** The thread takes a while to start: until it is up, buffers are hashed on the event loop. */
  private online = false;
  private failed = false;
  private nextId = 0;
  /** Requests sent to the thread, by id: each resolves to the thread's answer, or null if the thread ended first. */
  private readonly waiting = new Map<number, (answer: unknown) => void>();
  /** Buffers the thread has hashed. */
  hashedOffThread = 0;

  async keyOf(data: Buffer): Promise<ChunkKey> {
    return (await this.hashesOf(data, false)).key;
  }

  async hashesOf(data: Buffer, leaves: boolean): Promise<ChunkHashes> {
    const here = (): ChunkHashes => ({ key: chunkKeyOf(data), leafHashes: leaves ? leafHashesOf(data) : null });
    if (!(data.buffer instanceof SharedArrayBuffer) || data.length < OFF_LOOP_BYTES_MIN) return here();
    const answer = await this.ask<{ key: ChunkKey; leafHashes: Uint8Array | null }>({ id: 0, kind: 'hash', memory: data.buffer, offset: data.byteOffset, length: data.length, leaves });
    if (!answer) return here();
    this.hashedOffThread++;
    return { key: answer.key, leafHashes: answer.leafHashes && asBuffer(answer.leafHashes) };
  }

  /**
   * The leaf hashes of chunks of the cell whose metadata database is at
   * `metaPath`, read and checked against their roots on the thread
   * (ChunkMetaReader.leafList); null for each one not there or not matching,
   * and for all when the thread is not up or busy.
   */
  async leafListsOf(metaPath: string, chunks: LeafListWanted[]): Promise<(Buffer | null)[]> {
    const answer = await this.ask<{ lists: (Uint8Array | null)[] }>({ id: 0, kind: 'leafLists', metaPath, chunks });
    return answer?.lists.map((l) => l && asBuffer(l)) ?? chunks.map(() => null);
  }

  /** Sends a request to the thread (starting it if need be) and waits for its answer; null without sending when it is not up or too many wait. */
  private async ask<T>(request: HashRequest): Promise<T | null> {
    if (this.failed || this.waiting.size >= WAITING_MAX) return null;
    this.start();
    const worker = this.worker;
    if (!worker || !this.online) return null;
    const id = this.nextId++;
    return new Promise<T | null>((resolve) => {
      this.waiting.set(id, resolve as (answer: unknown) => void);
      if (this.waiting.size === 1) worker.ref();
      worker.postMessage({ ...request, id });
    });
  }

  /** Starts the thread (unless it is started, failed or closed) without waiting for it. */
  start(): void {
    if (this.worker || this.failed) return;
    const worker = new Worker(new URL('./hash-worker.js', import.meta.url));
    worker.once('online', () => (this.online = true));
    worker.on('message', (m: { id: number }) => this.answer(m.id, m));
    worker.on('error', (err) => log('hashing thread failed (%s); hashing on the event loop', err.message));
    // However it ends (an error, or terminated by close), what waits is hashed on the event loop.
    worker.once('exit', () => {
      this.failed = true;
      for (const id of [...this.waiting.keys()]) this.answer(id, null);
    });
    worker.unref();
    this.worker = worker;
  }

  private answer(id: number, answer: unknown): void {
    const resolve = this.waiting.get(id);
    if (!resolve) return;
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.worker?.unref();
    resolve(answer);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.failed = true;
    for (const id of [...this.waiting.keys()]) this.answer(id, null);
    await worker?.terminate();
  }
}

/** A Uint8Array from the thread as a Buffer over the same memory. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}
