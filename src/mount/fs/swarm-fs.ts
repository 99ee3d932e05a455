import type { SwarmClient } from '../../client/index.js';
import type { Dirent } from '../../namespace/index.js';
import { Attributes } from './attributes.js';
import { ChunkCache } from './chunk-cache.js';
import { Commits } from './commit.js';
import type { FsComponents, FsContext } from './context.js';
import type { Caller } from './inodes.js';
import { DirtyChunks } from './dirty-chunks.js';
import { NamespaceOps } from './namespace-ops.js';
import { OpenFiles } from './open-files.js';
import type { FsOptions, FsStat, FsStatfs } from './options.js';
import { Patches } from './patches.js';
import { ReadPath } from './read-path.js';
import { Resolver } from './resolver.js';
import { Uploads } from './uploads.js';
import { WriteBack } from './write-back.js';

/**
 * POSIX file system semantics over the swarm: path resolution, inodes and
 * directory entries as quorum-replicated records, file contents as chunks
 * with per-file write-back buffers, read-modify-write of partial chunks,
 * read-ahead and a cache of verified chunks. Close-to-open consistency:
 * open() reads the inode fresh, flush/close writes everything back.
 * Errors are CellErrors whose codes the mount maps to errno.
 *
 * This class only composes the parts, each in its own file: the resolver
 * (paths, attribute/entry/listing caches), namespace operations,
 * attributes, open files and their handles, the read path, write-back
 * (dirty chunks, patches, uploads), commits, and the chunk cache.
 *
 * Naming: a method ending in `Now` (getattrNow, readNow, resolveNow,
 * chunkNow, leavesNow, patchNow, ...) is the synchronous fast path of the
 * one without: answered or done at once from what is in memory, without a
 * promise in between, or undefined/null/false when it cannot be, and the
 * caller then takes the asynchronous path.
 */
export class SwarmFs {
  readonly swarm: SwarmClient;
  readonly opts: FsOptions;
  private readonly resolver: Resolver;
  private readonly cache: ChunkCache;
  private readonly commits: Commits;
  private readonly namespace: NamespaceOps;
  private readonly attributes: Attributes;
  private readonly openFiles: OpenFiles;
  private readonly readPath: ReadPath;
  private readonly writeBack: WriteBack;

  constructor(components: FsComponents, init: FsOptions) {
    this.swarm = components.swarm;
    this.opts = init;
    const ctx: FsContext = { swarm: components.swarm, clock: components.clock, opts: init, files: new Map() };
    const resolver = new Resolver(ctx);
    const cache = new ChunkCache({ swarm: ctx.swarm }, init);
    const dirty = new DirtyChunks({ cache }, init);
    const uploads = new Uploads({ swarm: ctx.swarm, cache, dirty }, init);
    const patches = new Patches({ cache, dirty, uploads });
    const commits = new Commits(ctx, { resolver, cache, dirty, patches, uploads });
    const writeBack = new WriteBack(ctx, { dirty, patches, uploads, commits });
    const openFiles = new OpenFiles(ctx, { resolver, cache, dirty, patches, commits, writeBack });
    this.resolver = resolver;
    this.cache = cache;
    this.commits = commits;
    this.writeBack = writeBack;
    this.openFiles = openFiles;
    this.namespace = new NamespaceOps(ctx, { resolver, commits });
    this.attributes = new Attributes(ctx, { resolver, openFiles, commits });
    this.readPath = new ReadPath(ctx, { cache, dirty, patches });
  }

  /** Makes the root directory if the swarm has none, learns which cells this machine can read from directly, and starts the periodic commit (closeAll stops it). */
  async init(): Promise<void> {
    this.commits.start();
    await Promise.all([this.namespace.makeRoot(), this.swarm.prepareLocal()]);
  }

  // ---- attributes ----

  getattr(path: string): Promise<FsStat> {
    return this.attributes.getattr(path);
  }

  getattrNow(path: string): FsStat | undefined {
    return this.attributes.getattrNow(path);
  }

  fgetattr(fd: number): Promise<FsStat> {
    return this.attributes.fgetattr(fd);
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.attributes.chmod(path, mode);
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    return this.attributes.chown(path, uid, gid);
  }

  /** Sets either time or both; null keeps it (UTIME_OMIT). */
  utimens(path: string, atimeMs: number | null, mtimeMs: number | null): Promise<void> {
    return this.attributes.utimens(path, atimeMs, mtimeMs);
  }

  setxattr(path: string, name: string, value: Buffer, flags = 0): Promise<void> {
    return this.attributes.setxattr(path, name, value, flags);
  }

  getxattr(path: string, name: string): Promise<Buffer> {
    return this.attributes.getxattr(path, name);
  }

  getxattrNow(path: string, name: string): Buffer | undefined {
    return this.attributes.getxattrNow(path, name);
  }

  listxattr(path: string): Promise<string[]> {
    return this.attributes.listxattr(path);
  }

  removexattr(path: string, name: string): Promise<void> {
    return this.attributes.removexattr(path, name);
  }

  statfs(): Promise<FsStatfs> {
    return this.attributes.statfs();
  }

  // ---- names ----

  readdir(path: string): Promise<string[]> {
    return this.namespace.readdir(path);
  }

  /** readdir with each name's entry: its ino and type. */
  readdirEntries(path: string): Promise<[string, Dirent][]> {
    return this.namespace.entries(path);
  }

  // What is made belongs to `caller` (who asked, when the mount can tell), else to the mount's user.

  mkdir(path: string, mode: number, caller?: Caller): Promise<void> {
    return this.namespace.mkdir(path, mode, caller);
  }

  /** A FIFO, socket or device node (or an empty regular file): `mode` has its type bits, `rdev` its device number. */
  mknod(path: string, mode: number, rdev: number, caller?: Caller): Promise<void> {
    return this.namespace.mknod(path, mode, rdev, caller);
  }

  rmdir(path: string): Promise<void> {
    return this.namespace.rmdir(path);
  }

  unlink(path: string): Promise<void> {
    return this.namespace.unlink(path);
  }

  symlink(target: string, path: string, caller?: Caller): Promise<void> {
    return this.namespace.symlink(target, path, caller);
  }

  readlink(path: string): Promise<string> {
    return this.namespace.readlink(path);
  }

  link(src: string, dest: string): Promise<void> {
    return this.namespace.link(src, dest);
  }

  rename(src: string, dest: string): Promise<void> {
    return this.namespace.rename(src, dest);
  }

  // ---- open files ----

  create(path: string, mode: number, caller?: Caller): Promise<number> {
    return this.openFiles.create(path, mode, caller);
  }

  open(path: string, flags: number): Promise<number> {
    return this.openFiles.open(path, flags);
  }

  /** Reads what readNow could not (the mount tries that first), fetching what it must. */
  async read(fd: number, out: Buffer, length: number, position: number): Promise<number> {
    return this.readPath.read(this.openFiles.fileOf(fd), out, length, position);
  }

  readNow(fd: number, out: Buffer, length: number, position: number): number | null {
    return this.readPath.readNow(this.openFiles.fileOf(fd), out, length, position);
  }

  /** Writes `length` bytes of `data` (FUSE's buffer, copied before anything is awaited). */
  async write(fd: number, data: Buffer, length: number, position: number): Promise<number> {
    const { f, append } = this.openFiles.writerOf(fd);
    return this.writeBack.write(f, append, data, length, position);
  }

  truncate(path: string, size: number): Promise<void> {
    return this.openFiles.truncate(path, size);
  }

  async ftruncate(fd: number, size: number): Promise<void> {
    return this.openFiles.ftruncate(fd, size);
  }

  /** Writes the file back: close-to-open, flush returns once it is durable (W copies). */
  flush(fd: number): Promise<void> {
    return this.openFiles.flush(fd);
  }

  fsync(fd: number): Promise<void> {
    return this.openFiles.flush(fd);
  }

  release(fd: number): Promise<void> {
    return this.openFiles.release(fd);
  }

  /**
   * Empties what the mount keeps of the swarm, as `drop_caches` does for the
   * kernel's caches: verified chunks, attributes, entries, listings and leaf
   * hashes. Open files, their unwritten data and the chunk files held open
   * for range reads stay (the kernel keeps open files too). The next reads
   * come from the cells' disks: for measuring cold reads without a remount,
   * whose fresh process would be measured too.
   */
  /** The chunk cache's counts, for the mount's metrics: lookups answered from memory, chunks fetched, bytes held. */
  cacheStats(): { hits: number; misses: number; bytes: number } {
    return { hits: this.cache.hits, misses: this.cache.misses, bytes: this.cache.bytes };
  }

  dropCaches(): void {
    this.cache.clear();
    this.resolver.dropCaches();
    this.swarm.dropCaches();
  }

  /** Every handle released, every buffer written back (unmount). */
  async closeAll(): Promise<void> {
    this.commits.stop();
    await this.openFiles.releaseAll();
    await this.resolver.records.drain();
  }
}
