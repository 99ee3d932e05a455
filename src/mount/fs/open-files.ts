import { ChunkList, decodeManifest } from '../../client/index.js';
import { CellError, fsError, logger } from '../../core/index.js';
import { newIno, type Inode } from '../../namespace/index.js';
import type { ChunkCache } from './chunk-cache.js';
import type { Commits } from './commit.js';
import type { FsContext } from './context.js';
import type { DirtyChunks } from './dirty-chunks.js';
import { inheritGroup, inheritReplicas, newInode, type Caller } from './inodes.js';
import { isClean, newOpenFile, withLock, type OpenFile } from './open-file.js';
import type { Patches } from './patches.js';
import type { Resolver } from './resolver.js';
import type { WriteBack } from './write-back.js';

const log = logger('mount:fs:open');

const O_ACCMODE = 3;
const O_RDONLY = 0;
const O_APPEND = 0o2000;
/** File handles are numbered 1..FD_MAX, reused once released. */
const FD_MAX = 0x7fffffff;

interface Handle {
  ino: string;
  writable: boolean;
  /** Opened with O_APPEND: every write goes to the end of the file as this mount knows it, not where the kernel says. */
  append: boolean;
}

/**
 * The handles and open files of this mount: open, create, flush, release
 * and truncate. One OpenFile per inode, shared by its handles; an open
 * file not changed here is brought up to date with the swarm when opened
 * again and as its attributes age.
 */
export class OpenFiles {
  private readonly handles = new Map<number, Handle>();
  private nextFd = 1;

  constructor(
    private readonly ctx: FsContext,
    private readonly parts: { resolver: Resolver; cache: ChunkCache; dirty: DirtyChunks; patches: Patches; commits: Commits; writeBack: WriteBack },
  ) {}

  fileOf(fd: number): OpenFile {
    const h = this.handles.get(fd);
    const f = h && this.ctx.files.get(h.ino);
    if (!f) throw fsError('BAD_HANDLE', `fd ${fd}`);
    return f;
  }

  /** The file of a handle opened for writing, and whether it appends. */
  writerOf(fd: number): { f: OpenFile; append: boolean } {
    const h = this.handles.get(fd);
    if (!h?.writable) throw fsError('BAD_HANDLE', `fd ${fd}`);
    return { f: this.fileOf(fd), append: h.append };
  }

  /**
   * A new file exists only in this mount until its first commit (flush or
   * close), which writes its inode, its entry and its directory in one
   * record write: creating a small file costs one round trip to the swarm.
   * `caller` owns it (the mount's user when unknown).
   */
  async create(path: string, mode: number, caller: Caller = this.ctx.opts): Promise<number> {
    const { resolver } = this.parts;
    const { parent, name, dir } = await resolver.resolveParent(path);
    if (await resolver.lookup(parent, name)) throw fsError('ENTRY_EXISTS', path);
    const inode = newInode('file', mode, caller, this.ctx.clock.wallNow());
    inheritGroup(inode, dir);
    inheritReplicas(inode, dir);
    const ino = newIno('file', parent);
    const f = await this.openInode(ino, inode);
    const fd = this.addHandle(ino, true);
    f.created = { parent, name, atMs: inode.ctimeMs };
    f.changed = true;
    resolver.addPending(parent, name, { ino, type: 'file' });
    return fd;
  }

  async open(path: string, flags: number): Promise<number> {
    const r = await this.parts.resolver.resolve(path, true);
    const writable = (flags & O_ACCMODE) !== O_RDONLY;
    if (r.inode.type === 'dir' && writable) throw fsError('IS_A_DIRECTORY', path);
    const wasOpen = this.ctx.files.get(r.ino);
    const f = await this.openInode(r.ino, r.inode);
    if (f === wasOpen) await this.refresh(f, true);
    return this.addHandle(r.ino, writable, (flags & O_APPEND) !== 0);
  }

  /** Writes the file back: remaining chunks, its chunk map, its inode. Close-to-open: flush returns once it is durable (W copies). */
  async flush(fd: number): Promise<void> {
    const f = this.fileOf(fd);
    await withLock(f, () => this.parts.commits.commit(f));
  }

  async release(fd: number): Promise<void> {
    const f = this.fileOf(fd);
    this.handles.delete(fd);
    try {
      await withLock(f, () => this.parts.commits.commit(f));
    } finally {
      await this.close(f);
    }
  }

  /** Every handle released, as at an unmount (failures are logged). */
  async releaseAll(): Promise<void> {
    for (const fd of [...this.handles.keys()]) await this.release(fd).catch((err) => log('release on close failed: %s', (err as Error).message));
  }

  async truncate(path: string, size: number): Promise<void> {
    if (size < 0) throw fsError('INVALID_ARGUMENT', path);
    const r = await this.parts.resolver.resolve(path, true);
    if (r.inode.type === 'dir') throw fsError('IS_A_DIRECTORY', path);
    const f = await this.openInode(r.ino, r.inode);
    try {
      await withLock(f, async () => {
        // A truncate that fails must not stay behind in a file held open here, for its next commit to write.
        const before = isClean(f) ? { inode: f.inode, size: f.size, chunks: f.chunks.copy(), inline: f.inline } : null;
        try {
          await this.parts.writeBack.setSize(f, size);
          await this.parts.commits.commit(f);
        } catch (err) {
          if (before) this.revert(f, before);
          throw err;
        }
      });
    } finally {
      await this.close(f);
    }
  }

  /** Back to the version the swarm has, dropping what was changed here since (a failed truncate). */
  private revert(f: OpenFile, to: Pick<OpenFile, 'inode' | 'size' | 'chunks' | 'inline'>): void {
    this.parts.dirty.dropAll(f);
    this.parts.patches.dropAll(f);
    Object.assign(f, to);
    f.changed = false;
    f.changedSeenMs = null;
    f.storedSinceCommit.clear();
  }

  async ftruncate(fd: number, size: number): Promise<void> {
    if (size < 0) throw fsError('INVALID_ARGUMENT', `fd ${fd}`);
    const f = this.fileOf(fd);
    await withLock(f, () => this.parts.writeBack.setSize(f, size));
  }

  /** True if an open file's inode is to be read again: it has nothing unwritten, and was last read over the attribute TTL ago. */
  needsRefresh(f: OpenFile, always = false): boolean {
    return isClean(f) && (always || this.ctx.clock.now() - f.checkedAtMs >= this.ctx.opts.attrTtlMs);
  }

  /**
   * Brings a file open here, and not changed here, up to date with the swarm:
   * another mount may have written it since (close-to-open consistency for a
   * new open, and attributes that age as for any file: `tail -f` of a file
   * another mount appends to). A file with changes of its own keeps them.
   */
  async refresh(f: OpenFile, always: boolean): Promise<void> {
    if (!this.needsRefresh(f, always)) return;
    await withLock(f, async () => {
      if (!isClean(f)) return;
      const inode = await this.parts.resolver.loadInode(f.ino, true);
      f.checkedAtMs = this.ctx.clock.now();
      if (!inode || !isClean(f)) return;
      if (inode.manifest !== f.inode.manifest || inode.inline !== f.inode.inline || inode.size !== f.inode.size) {
        Object.assign(f, await this.chunkMapOf(f.ino, inode));
        f.inline = inode.inline !== undefined ? Buffer.from(inode.inline, 'base64') : null;
        f.size = inode.size;
      }
      f.inode = inode;
    });
  }

  private async openInode(ino: string, inode: Inode): Promise<OpenFile> {
    const existing = this.ctx.files.get(ino);
    if (existing) {
      existing.refs++;
      return existing;
    }
    const map = await this.chunkMapOf(ino, inode);
    const raced = this.ctx.files.get(ino);
    if (raced) {
      raced.refs++;
      return raced;
    }
    const f = newOpenFile(ino, inode, map, this.ctx.clock.now());
    this.ctx.files.set(ino, f);
    return f;
  }

  private async chunkMapOf(ino: string, inode: Inode): Promise<{ chunks: ChunkList; chunkBytes: number }> {
    if (!inode.manifest) return { chunks: new ChunkList(), chunkBytes: this.ctx.opts.chunkBytes };
    const m = decodeManifest(await this.parts.cache.fetch(inode.manifest));
    if (!m) throw new CellError('CHUNK_CORRUPT', `the chunk map of inode ${ino} is damaged`);
    return { chunks: m.chunks, chunkBytes: m.chunkBytes };
  }

  private addHandle(ino: string, writable: boolean, append = false): number {
    if (this.handles.size >= this.ctx.opts.handlesMax) throw fsError('TOO_MANY_OPEN', `inode ${ino}`);
    while (this.handles.has(this.nextFd)) this.nextFd = (this.nextFd % FD_MAX) + 1;
    const fd = this.nextFd;
    this.nextFd = (this.nextFd % FD_MAX) + 1;
    this.handles.set(fd, { ino, writable, append });
    return fd;
  }

  /** One reference to the file gone; the last drops what it holds unwritten (a commit has run before, if it could). */
  private async close(f: OpenFile): Promise<void> {
    f.refs--;
    if (f.refs > 0) return;
    await Promise.allSettled(f.uploads.values());
    this.parts.dirty.dropAll(f);
    this.parts.patches.dropAll(f);
    if (f.created) this.parts.resolver.dropPending(f.created.parent, f.created.name);
    this.ctx.files.delete(f.ino);
  }
}
