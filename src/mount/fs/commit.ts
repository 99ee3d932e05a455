import { ChunkList, chunkCountOf, encodeManifest } from '../../client/index.js';
import { CHUNK_BYTES_MAX, CellError, fsError, logger, type TimerHandle } from '../../core/index.js';
import { direntKey, inodeKey, type Dirent, type Inode } from '../../namespace/index.js';
import type { ChunkCache } from './chunk-cache.js';
import type { FsContext } from './context.js';
import type { DirtyChunks } from './dirty-chunks.js';
import { replicasOf } from './inodes.js';
import { storedBytesOf, withLock, type OpenFile } from './open-file.js';
import type { Patches } from './patches.js';
import type { Resolver } from './resolver.js';
import type { Uploads } from './uploads.js';

const log = logger('mount:fs:commit');

/**
 * An open file changed and not committed for about this long is committed
 * (ms), as the kernel writes back dirty pages after 30 s: it bounds what a
 * crashed mount loses, and how long the chunks it stored wait for a record
 * to name them (garbage collection spares chunks for its grace period only).
 */
const COMMIT_AFTER_MS = 30_000;
const COMMIT_CHECK_MS = 10_000;
/**
 * Leaf roots double a chunk map's size; beyond this many stored chunks
 * (16 GiB at 1 MiB) a map leaves them out, so it still fits one chunk up to
 * ~60,000 stored chunks, and that file is read by whole chunks only.
 */
const LEAF_ROOTS_CHUNKS_MAX = 16_384;

/**
 * Writing a file back: its remaining chunks, its chunk map (or its bytes in
 * the inode, if small), its inode, and for a file created here its entry
 * and its directory, in one record write. Also the periodic commit of files
 * left open and changed.
 */
export class Commits {
  private timer: TimerHandle | null = null;

  constructor(
    private readonly ctx: FsContext,
    private readonly parts: { resolver: Resolver; cache: ChunkCache; dirty: DirtyChunks; patches: Patches; uploads: Uploads },
  ) {}

  /** Starts committing open files changed COMMIT_AFTER_MS ago or more, in the background. */
  start(): void {
    this.timer ??= this.ctx.clock.setInterval(() => this.commitOld(), COMMIT_CHECK_MS);
  }

  stop(): void {
    this.timer?.clear();
    this.timer = null;
  }

  private commitOld(): void {
    const now = this.ctx.clock.now();
    for (const f of this.ctx.files.values()) {
      if (!f.changed || f.unlinked) f.changedSeenMs = null;
      else if (f.changedSeenMs === null) f.changedSeenMs = now;
      else if (now - f.changedSeenMs >= COMMIT_AFTER_MS - COMMIT_CHECK_MS) {
        f.changedSeenMs = null;
        withLock(f, () => this.commit(f)).catch((err: Error) => log('periodic commit of inode %s failed: %s', f.ino, err.message));
      }
    }
  }

  /** Writes back a file that exists only in this mount, before a change that needs its records in the swarm. */
  async materialize(ino: string): Promise<void> {
    const f = this.ctx.files.get(ino);
    if (f?.created) await withLock(f, () => this.commit(f));
  }

  /** Commits the file if it changed; the caller holds its lock. Durable (W copies) when it resolves. */
  async commit(f: OpenFile): Promise<void> {
    if (!f.changed || f.unlinked) return;
    const { resolver, cache, dirty, patches, uploads } = this.parts;
    const { swarm, opts } = this.ctx;
    await patches.store(f);
    await Promise.all(f.uploads.values());
    const inode: Inode = { ...f.inode, size: f.size };
    if (f.size <= opts.inlineBytesMax) {
      const content = Buffer.alloc(f.size);
      if (f.size > 0) {
        const src = await patches.content(f, 0);
        src.copy(content, 0, 0, Math.min(f.size, src.length));
      }
      inode.inline = content.toString('base64');
      delete inode.manifest;
      delete inode.storedBytes;
      dirty.dropAll(f);
      f.chunks = new ChunkList();
      f.inline = content;
    } else {
      // An inline file grown by a truncate or a write past its first chunk: its bytes become its first chunk.
      if (f.inline && f.inline.length > 0) dirty.make(f, 0, f.inline, 0);
      await uploads.startAll(f);
      await Promise.all(f.uploads.values());
      if (f.dirty.size > 0) throw new CellError('NOT_ENOUGH_CELLS', `could not store every chunk of inode ${f.ino}`);
      f.chunks.cut(chunkCountOf(f.size, f.chunkBytes));
      f.inline = null;
      // Chunks kept from an earlier version (an edit in place) were stored long ago: had another mount replaced
      // this file meanwhile, garbage collection could have freed them. Claim them before naming them again.
      const carried = [...f.chunks.keys()].filter((k) => !f.storedSinceCommit.has(k));
      const missing = carried.length > 0 ? await swarm.claimChunks(carried) : [];
      if (missing.length > 0) {
        throw new CellError('CHUNK_NOT_FOUND', `inode ${f.ino}: ${missing.length} chunk(s) of the version this mount opened are gone (replaced elsewhere and collected)`);
      }
      const map = encodeManifest({ size: f.size, chunkBytes: f.chunkBytes, chunks: f.chunks, inode: f.ino }, f.chunks.storedCount <= LEAF_ROOTS_CHUNKS_MAX);
      // One chunk names every stored chunk of a file: more than that holds is more than a file can have written.
      if (map.length > CHUNK_BYTES_MAX) throw fsError('FILE_TOO_BIG', `inode ${f.ino}: ${f.chunks.storedCount} stored chunks are more than one chunk map can name`);
      const replicas = replicasOf(inode, opts.replicas);
      const put = await swarm.putChunk(map, { replicas, isManifest: true }, Math.min(opts.writeQuorum, replicas));
      await put.quorum;
      cache.set(put.key, map);
      inode.manifest = put.key;
      inode.storedBytes = storedBytesOf(f);
      delete inode.inline;
    }
    f.inode = inode;
    const created = f.created;
    const records = [resolver.envelope(inodeKey(f.ino), inode)];
    const entry: Dirent = { ino: f.ino, type: 'file' };
    if (created) records.push(resolver.envelope(direntKey(created.parent, created.name), entry), ...(await resolver.touchedDir(created.parent, created.atMs)));
    await resolver.write(records);
    resolver.noteInode(f.ino, inode);
    if (created) {
      f.created = null;
      resolver.dropPending(created.parent, created.name);
      resolver.noteEntry(created.parent, created.name, entry);
    }
    f.changed = false;
    f.changedSeenMs = null;
    f.storedSinceCommit.clear();
    log('committed inode %s: %d bytes', f.ino, f.size);
  }
}
