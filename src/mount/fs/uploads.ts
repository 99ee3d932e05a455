import type { SwarmClient } from '../../client/index.js';
import type { ChunkKey } from '../../core/index.js';
import type { ChunkCache } from './chunk-cache.js';
import type { DirtyChunks } from './dirty-chunks.js';
import { replicasOf } from './inodes.js';
import { chunkLength, type OpenFile } from './open-file.js';

/** Chunk uploads running at once per file while it is written (pipelining). */
const UPLOADS_PER_FILE_MAX = 8;

/** Stores dirty chunks in the background, a few per file at once, each readable from memory until its key is known. */
export class Uploads {
  constructor(
    private readonly components: { swarm: SwarmClient; cache: ChunkCache; dirty: DirtyChunks },
    private readonly init: { replicas: number; writeQuorum: number },
  ) {}

  /** Starts storing dirty chunk `index` (once UPLOADS_PER_FILE_MAX allow); nothing if it is not dirty or already being stored. */
  async start(f: OpenFile, index: number): Promise<void> {
    if (f.uploads.size >= UPLOADS_PER_FILE_MAX) await Promise.race(f.uploads.values());
    const d = f.dirty.get(index);
    if (!d || f.uploads.has(index)) return;
    const { cache, dirty } = this.components;
    const version = d.version;
    d.sealed = true;
    // A buffer shorter than the chunk is stored short: the rest reads as zeros.
    const data = d.buf.subarray(0, Math.min(chunkLength(f, index), d.buf.length));
    const upload = (async () => {
      const { key, root, settled } = await this.storeChunk(data, replicasOf(f.inode, this.init.replicas));
      if (key) f.storedSinceCommit.add(key);
      if (f.dirty.get(index) === d) {
        if (d.version !== version) return;
        f.chunks.set(index, key, root);
        dirty.stored(f, index, d);
        // Unchanged since it was stored, and no longer dirty: the buffer now belongs to the read cache.
        if (key) {
          cache.keepStored(key, data, d.pooled, settled);
          return;
        }
      }
      // Replaced by a copy, dropped, or a hole: its buffer goes back once the last copy is sent.
      const pooled = d.pooled;
      if (pooled) void settled.then(() => cache.dirtyBuffers.putLater(pooled), () => cache.dirtyBuffers.putLater(pooled));
    })();
    const tracked = upload.finally(() => f.uploads.delete(index));
    tracked.catch(() => {});
    f.uploads.set(index, tracked);
  }

  /** Starts storing every dirty chunk of the file. */
  async startAll(f: OpenFile): Promise<void> {
    for (const index of [...f.dirty.keys()]) await this.start(f, index);
  }

  /** Stores bytes as a chunk (or a hole, if all zeros) with R `replicas`; resolves with its key and leaf root once W copies (at most R) are acknowledged. */
  private async storeChunk(data: Buffer, replicas: number): Promise<{ key: ChunkKey | null; root: string | null; settled: Promise<unknown> }> {
    const zeros = this.components.dirty.zeros;
    if (data.length <= zeros.length && zeros.compare(data, 0, data.length, 0, data.length) === 0) {
      return { key: null, root: null, settled: Promise.resolve() };
    }
    const put = await this.components.swarm.putChunk(data, { replicas, isManifest: false }, Math.min(this.init.writeQuorum, replicas));
    await put.quorum;
    return { key: put.key, root: put.root, settled: put.settled };
  }
}
