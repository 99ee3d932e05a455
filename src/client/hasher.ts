import { Worker } from 'node:worker_threads';
import { chunkKeyOf, leafHashesOf, logger, type ChunkKey } from '../core/index.js';

const log = logger('client');
/** Requests waiting for the thread; beyond this, buffers are hashed on the event loop. */
const WAITING_MAX = 64;
/** Buffers smaller than this are hashed on the event loop (~0.2 ms for 128 KiB with leaf hashes): a message to the thread and back costs about as much here. */
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
 * its turn, is not held for the ~0.7 ms a MiB takes (~1.8 ms with leaf
 * hashes). Other buffers, small ones, or any when the thread failed, are
 * hashed on the event loop.
 */
export class OffThreadHasher {
  private worker: Worker | null = null;
  /** Starting the thread takes ~80 ms here: until it is up, buffers are hashed on the event loop. */
  private online = false;
  private failed = false;
  private nextId = 0;
  private readonly waiting = new Map<number, (hashes: ChunkHashes | null) => void>();
  /** Buffers the thread has hashed. */
  hashedOffThread = 0;

  async keyOf(data: Buffer): Promise<ChunkKey> {
    return (await this.hashesOf(data, false)).key;
  }

  async hashesOf(data: Buffer, leaves: boolean): Promise<ChunkHashes> {
    const here = (): ChunkHashes => ({ key: chunkKeyOf(data), leafHashes: leaves ? leafHashesOf(data) : null });
    if (!(data.buffer instanceof SharedArrayBuffer) || data.length < OFF_LOOP_BYTES_MIN || this.failed || this.waiting.size >= WAITING_MAX) return here();
    this.start();
    const worker = this.worker;
    if (!worker || !this.online) return here();
    const id = this.nextId++;
    const hashes = await new Promise<ChunkHashes | null>((resolve) => {
      this.waiting.set(id, resolve);
      if (this.waiting.size === 1) worker.ref();
      worker.postMessage({ id, memory: data.buffer, offset: data.byteOffset, length: data.length, leaves });
    });
    return hashes ?? here();
  }

  /** Starts the thread (unless it is started, failed or closed) without waiting for it. */
  start(): void {
    if (this.worker || this.failed) return;
    const worker = new Worker(new URL('./hash-worker.js', import.meta.url));
    worker.once('online', () => (this.online = true));
    worker.on('message', (m: { id: number; key: ChunkKey; leafHashes: Uint8Array | null }) =>
      this.answer(m.id, { key: m.key, leafHashes: m.leafHashes && Buffer.from(m.leafHashes.buffer, m.leafHashes.byteOffset, m.leafHashes.length) }),
    );
    worker.on('error', (err) => log('hashing thread failed (%s); hashing on the event loop', err.message));
    // However it ends (an error, or terminated by close), what waits is hashed on the event loop.
    worker.once('exit', () => {
      this.failed = true;
      for (const id of [...this.waiting.keys()]) this.answer(id, null);
    });
    worker.unref();
    this.worker = worker;
  }

  private answer(id: number, hashes: ChunkHashes | null): void {
    const resolve = this.waiting.get(id);
    if (!resolve) return;
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.worker?.unref();
    if (hashes) this.hashedOffThread++;
    resolve(hashes);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.failed = true;
    for (const id of [...this.waiting.keys()]) this.answer(id, null);
    await worker?.terminate();
  }
}
