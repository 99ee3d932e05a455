import { isLiveStorage, setChunksReplicas } from '../../client/index.js';
import { fsError, logger } from '../../core/index.js';
import { NAME_BYTES_MAX, type Inode } from '../../namespace/index.js';
import type { Commits } from './commit.js';
import type { FsContext } from './context.js';
import { S_IFMT, statLinksOf } from './inodes.js';
import { storedBytesOf, withLock } from './open-file.js';
import type { OpenFiles } from './open-files.js';
import type { FsStat, FsStatfs } from './options.js';
import { REPLICAS_XATTR, parseReplicasXattr, replicasXattrOf } from './replicas-xattr.js';
import { refuseLossy, type Resolved, type Resolver } from './resolver.js';

const log = logger('mount:fs:attributes');

const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
/** What statfs reports as the block size, and as the count of files (the swarm sets no limit on inodes). */
const STATFS_BLOCK_BYTES = 4096;
const STATFS_FILES = 1_000_000_000;

/** Attributes of inodes: stat, mode, owner, times, extended attributes, and the file system's capacity. */
export class Attributes {
  constructor(
    private readonly ctx: FsContext,
    private readonly parts: { resolver: Resolver; openFiles: OpenFiles; commits: Commits },
  ) {}

  async getattr(path: string): Promise<FsStat> {
    const r = await this.parts.resolver.resolve(path);
    const open = this.ctx.files.get(r.ino);
    if (open) await this.parts.openFiles.refresh(open, false);
    return this.statOf(r.ino, open?.inode ?? r.inode);
  }

  /**
   * getattr answered from what this mount holds, without a promise in
   * between (as readNow does for reads), or undefined when the swarm must
   * be asked. Three of a small file's eight FUSE requests are getattrs that
   * this answers (the kernel's lookups of a new name, of the file just
   * created, of its directory). A missing name throws as getattr does.
   */
  getattrNow(path: string): FsStat | undefined {
    const r = this.parts.resolver.resolveNow(path);
    const open = r && this.ctx.files.get(r.ino);
    if (!r || (open && this.parts.openFiles.needsRefresh(open))) return undefined;
    return this.statOf(r.ino, open?.inode ?? r.inode);
  }

  async fgetattr(fd: number): Promise<FsStat> {
    const f = this.parts.openFiles.fileOf(fd);
    await this.parts.openFiles.refresh(f, false);
    return this.statOf(f.ino, f.inode);
  }

  private statOf(ino: string, inode: Inode): FsStat {
    const open = this.ctx.files.get(ino);
    return {
      ino,
      type: inode.type,
      mode: inode.mode,
      uid: inode.uid,
      gid: inode.gid,
      size: open ? open.size : inode.size,
      // A symlink's target lives in its inode record, as a fast symlink's in an ext4 inode: no blocks.
      storedBytes: inode.type === 'symlink' ? 0 : open?.changed ? storedBytesOf(open) : (inode.storedBytes ?? inode.size),
      nlink: statLinksOf(inode),
      rdev: inode.rdev ?? 0,
      atimeMs: inode.atimeMs,
      mtimeMs: inode.mtimeMs,
      ctimeMs: inode.ctimeMs,
    };
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.updateInode(path, (i) => {
      i.mode = (i.mode & S_IFMT) | (mode & 0o7777);
    });
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.updateInode(path, (i) => {
      // -1 (as unsigned 32-bit) means "leave unchanged".
      if (uid !== -1 && uid !== 0xffffffff) i.uid = uid;
      if (gid !== -1 && gid !== 0xffffffff) i.gid = gid;
    });
  }

  /** Sets either time or both; null keeps it (UTIME_OMIT). */
  async utimens(path: string, atimeMs: number | null, mtimeMs: number | null): Promise<void> {
    await this.updateInode(path, (i) => {
      if (atimeMs !== null) i.atimeMs = atimeMs;
      if (mtimeMs !== null) i.mtimeMs = mtimeMs;
    });
  }

  /**
   * Sets an extended attribute; `flags` as setxattr(2): XATTR_CREATE fails
   * on an existing name (EEXIST), XATTR_REPLACE on a missing one (ENODATA).
   * Only the user, trusted and security namespaces are kept: system.* (POSIX
   * ACLs) is refused as on a file system without ACLs, so that `cp -p` falls
   * back to chmod instead of storing an ACL that nothing applies.
   */
  async setxattr(path: string, name: string, value: Buffer, flags = 0): Promise<void> {
    if (name === REPLICAS_XATTR) return this.setReplicas(path, parseReplicasXattr(value, path), flags);
    if (!/^(user|trusted|security)\../.test(name)) throw fsError('NOT_SUPPORTED', `${path}: ${name}`);
    refuseLossy(name, path);
    await this.updateInode(path, (i) => {
      const exists = i.xattrs?.[name] !== undefined;
      if (flags & XATTR_CREATE && exists) throw fsError('ENTRY_EXISTS', `${path}: ${name}`);
      if (flags & XATTR_REPLACE && !exists) throw fsError('NO_ATTRIBUTE', `${path}: ${name}`);
      i.xattrs = { ...i.xattrs, [name]: value.toString('base64') };
    });
  }

  /**
   * An inode's R (REPLICAS_XATTR): a directory's is given to what is made in
   * it from now on; a file's chunks get it recorded on their cells, whose
   * heal then makes or frees copies. Files and directories only (EPERM, as
   * ext4 refuses user.* attributes on symlinks and special files).
   */
  private async setReplicas(path: string, replicas: number, flags: number): Promise<void> {
    let manifest: string | undefined;
    await this.updateInode(path, (i) => {
      if (i.type !== 'file' && i.type !== 'dir') throw fsError('NOT_PERMITTED', `${path}: ${REPLICAS_XATTR}`);
      if (flags & XATTR_CREATE && i.replicas !== undefined) throw fsError('ENTRY_EXISTS', `${path}: ${REPLICAS_XATTR}`);
      if (flags & XATTR_REPLACE && i.replicas === undefined) throw fsError('NO_ATTRIBUTE', `${path}: ${REPLICAS_XATTR}`);
      i.replicas = replicas;
      manifest = i.manifest;
    });
    if (manifest === undefined) return;
    // The record is written: a cell that misses this keeps the old R until setr runs again (info shows each copy's R).
    const set = await setChunksReplicas(this.ctx.swarm, [manifest], replicas);
    if (set.unreachableCells.length > 0) log('%s: R %d not recorded on %s', path, replicas, set.unreachableCells.join(', '));
  }

  async getxattr(path: string, name: string): Promise<Buffer> {
    return xattrOf(await this.parts.resolver.resolve(path), name, path);
  }

  /** getxattr from what this mount holds, or undefined (see getattrNow): the kernel asks for security.capability at every first write of a file. */
  getxattrNow(path: string, name: string): Buffer | undefined {
    const r = this.parts.resolver.resolveNow(path);
    return r && xattrOf(r, name, path);
  }

  async listxattr(path: string): Promise<string[]> {
    return Object.keys((await this.parts.resolver.resolve(path)).inode.xattrs ?? {});
  }

  async removexattr(path: string, name: string): Promise<void> {
    let found = false;
    await this.updateInode(path, (i) => {
      // Without an R of its own, what is made here takes the mount's; chunks stored keep the R they have.
      if (name === REPLICAS_XATTR) {
        found = i.replicas !== undefined;
        delete i.replicas;
        return;
      }
      found = i.xattrs?.[name] !== undefined;
      if (found) {
        const { [name]: _gone, ...rest } = i.xattrs!;
        i.xattrs = rest;
      }
    });
    if (!found) throw fsError('NO_ATTRIBUTE', path);
  }

  /** Capacity as the swarm sees it: raw bytes of live storage cells divided by R. */
  async statfs(): Promise<FsStatfs> {
    const storage = (await this.ctx.swarm.members()).filter(isLiveStorage);
    const capacity = storage.reduce((s, m) => s + m.capacityBytes, 0) / this.ctx.opts.replicas;
    const used = storage.reduce((s, m) => s + m.bytes, 0) / this.ctx.opts.replicas;
    const blockBytes = STATFS_BLOCK_BYTES;
    return {
      blockBytes,
      blocks: Math.floor(capacity / blockBytes),
      blocksFree: Math.max(0, Math.floor((capacity - used) / blockBytes)),
      files: STATFS_FILES,
      filesFree: STATFS_FILES,
      nameBytesMax: NAME_BYTES_MAX,
    };
  }

  private async updateInode(path: string, change: (inode: Inode) => void): Promise<void> {
    const { resolver, commits } = this.parts;
    const r = await resolver.resolve(path, true);
    await commits.materialize(r.ino);
    const update = async () => {
      const open = this.ctx.files.get(r.ino);
      const inode = { ...(open?.inode ?? r.inode) };
      change(inode);
      inode.ctimeMs = this.ctx.clock.wallNow();
      await resolver.putInode(r.ino, inode);
      // Only once written: a change that failed must not reach the swarm with the file's next commit.
      if (open) open.inode = inode;
    };
    // An open file's commits (the early one of a small file runs in the background) write its whole
    // inode: a change between them must not be overwritten with what a commit read before it (tar's utimens).
    const open = this.ctx.files.get(r.ino);
    await (open ? withLock(open, update) : update());
  }
}

function xattrOf(r: Resolved, name: string, path: string): Buffer {
  if (name === REPLICAS_XATTR) {
    const value = replicasXattrOf(r.inode);
    if (value === null) throw fsError('NO_ATTRIBUTE', path);
    return value;
  }
  const v = r.inode.xattrs?.[name];
  if (v === undefined) throw fsError('NO_ATTRIBUTE', path);
  return Buffer.from(v, 'base64');
}
