import { LRUCache } from 'lru-cache';
import { LOCAL_READ_BUFFER_BYTES, type SwarmClient } from '../../client/index.js';
import { BufferPool, CHUNK_BYTES_MAX, type ChunkKey } from '../../core/index.js';

/** Chunks cached at most, whatever their size (the byte bound is cacheBytesMax). */
const CACHED_CHUNKS_MAX = 4_096;
/**
 * Idle buffers kept for reuse (more go to the garbage collector): a read-ahead's
 * worth for reads (fewer, and a cold sequential read after the cache was emptied
 * faults fresh pages in; more, and the idle memory outweighs the cache), a few
 * for dirty chunks. With the default cache they keep the mount under 300 MB.
 */
const READ_BUFFERS_IDLE_MAX = 8;
const DIRTY_BUFFERS_IDLE_MAX = 4;

/**
 * Verified chunks kept in memory for reads, the fetches of chunks under way
 * (one per key, however many ask), and the buffer pools whose buffers pass
 * through the cache: a pooled buffer the cache holds goes back to its pool
 * when the cache lets go of it.
 */
export class ChunkCache {
  /**
   * Buffers for chunks read whole from local cells (shared: hashed on a
   * thread); the cache is the one holder of those lent to it. A buffer
   * comes back when the cache lets go of its chunk; READ_BUFFERS_IDLE_MAX
   * are kept idle for the next reads.
   */
  readonly readBuffers: BufferPool;
  /**
   * Buffers for dirty chunks of the largest size: fresh memory for every
   * chunk costs page faults and garbage collection on the event loop. Lent to the cache once
   * stored, like read ones.
   */
  readonly dirtyBuffers = new BufferPool(CHUNK_BYTES_MAX, DIRTY_BUFFERS_IDLE_MAX, 'plain');
  /** Lookups answered from memory (for the mount's metrics: plain counts, nothing per lookup but an addition). */
  hits = 0;
  /** Chunks fetched whole from the swarm because memory did not have them (read-ahead included). */
  misses = 0;
  private readonly cache: LRUCache<string, Buffer>;
  private readonly fetching = new Map<string, Promise<Buffer>>();
  /** Cached chunks whose upload may still be sending them: not reused before it settles. */
  private readonly unsettled = new WeakMap<Buffer, Promise<unknown>>();

  constructor(private readonly components: { swarm: SwarmClient }, init: { cacheBytesMax: number }) {
    this.readBuffers = new BufferPool(LOCAL_READ_BUFFER_BYTES, READ_BUFFERS_IDLE_MAX, 'aligned');
    this.cache = new LRUCache({
      max: CACHED_CHUNKS_MAX,
      maxSize: init.cacheBytesMax,
      sizeCalculation: (b) => Math.max(1, b.length),
      // Chunks in the pools' buffers go back to them when dropped (anything else is ignored).
      dispose: (b) => {
        const sending = this.unsettled.get(b);
        const give = () => {
          this.readBuffers.give(b);
          this.dirtyBuffers.give(b);
        };
        if (sending) void sending.then(give, give);
        else give();
      },
    });
  }

  get(key: ChunkKey): Buffer | undefined {
    const data = this.cache.get(key);
    if (data) this.hits++;
    return data;
  }

  has(key: ChunkKey): boolean {
    return this.cache.has(key);
  }

  /** True while the chunk is being fetched whole. */
  isFetching(key: ChunkKey): boolean {
    return this.fetching.has(key);
  }

  set(key: ChunkKey, data: Buffer): void {
    this.cache.set(key, data);
  }

  /**
   * Keeps a chunk just stored from a dirty buffer: a pooled one is lent to
   * the cache, and not reused until `settled` (its last copy sent).
   */
  keepStored(key: ChunkKey, data: Buffer, pooled: Buffer | undefined, settled: Promise<unknown>): void {
    const cached = pooled ? this.dirtyBuffers.lend(pooled, data.length) : data;
    if (pooled) this.unsettled.set(cached, settled);
    this.cache.set(key, cached);
  }

  /** The chunk, from the cache or the swarm (verified there), joining a fetch of it under way. */
  async fetch(key: ChunkKey): Promise<Buffer> {
    const cached = this.cache.get(key);
    if (cached) {
      this.hits++;
      return cached;
    }
    let p = this.fetching.get(key);
    if (!p) {
      this.misses++;
      p = this.components.swarm.getChunk(key, this.readBuffers).then(
        (data) => {
          this.cache.set(key, data);
          this.fetching.delete(key);
          return data;
        },
        (err: unknown) => {
          this.fetching.delete(key);
          throw err;
        },
      );
      this.fetching.set(key, p);
    }
    return p;
  }

  /** Bytes of chunks held now. */
  get bytes(): number {
    return this.cache.calculatedSize;
  }

  clear(): void {
    this.cache.clear();
  }
}
