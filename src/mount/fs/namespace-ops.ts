import { fsError, logger } from '../../core/index.js';
import { ROOT_INO, dirInoOf, direntKey, direntPrefix, inodeKey, newIno, type Dirent, type Inode, type RecordEnvelope } from '../../namespace/index.js';
import type { Commits } from './commit.js';
import type { FsContext } from './context.js';
import { LINKS_MAX, inheritGroup, inheritReplicas, linksOf, mknodTypeOf, newInode, type Caller } from './inodes.js';
import { withLock } from './open-file.js';
import { refuseLossy, type Resolver } from './resolver.js';

const log = logger('mount:fs:namespace');

/** Inodes read at once when looking for entries whose inode is gone (rmdir); a record message carries at most 512. */
const DANGLING_BATCH = 256;
/** Hops up the tree at most when checking that a directory is not moved below itself. */
const DEPTH_MAX = 4096;
/**
 * A link count this mount read or wrote less than this long ago (ms) is
 * changed as it is, else read again: `rm` has the kernel look the name up
 * (reading the inode) just before the unlink, and a second read cost each
 * unlink of `rm -rf` a round trip.
 */
const COUNT_FRESH_MS = 100;

/**
 * Operations on names: directories, symlinks, hard links, removal and
 * rename, each one parallel write of the records it changes (entries,
 * inodes and their link counts, and the directories whose mtime moves
 * with them).
 */
export class NamespaceOps {
  constructor(
    private readonly ctx: FsContext,
    private readonly parts: { resolver: Resolver; commits: Commits },
  ) {}

  /** Makes the root directory if the swarm has none. */
  async makeRoot(): Promise<void> {
    const { resolver } = this.parts;
    const root = await resolver.records.get(inodeKey(ROOT_INO));
    if (root && root.d) return;
    await resolver.putInode(ROOT_INO, { ...newInode('dir', 0o755, this.ctx.opts, this.ctx.clock.wallNow()), parent: ROOT_INO });
  }

  async readdir(path: string): Promise<string[]> {
    return (await this.entries(path)).map(([name]) => name);
  }

  /** A directory's names with their entries (readdir's d_ino and d_type), '.' and '..' first. */
  async entries(path: string): Promise<[string, Dirent][]> {
    const { resolver } = this.parts;
    const r = await resolver.resolve(path);
    if (r.inode.type !== 'dir') throw fsError('NOT_A_DIRECTORY', path);
    const dot: [string, Dirent][] = [
      ['.', { ino: r.ino, type: 'dir' }],
      ['..', { ino: r.inode.parent ?? ROOT_INO, type: 'dir' }],
    ];
    return [...dot, ...(await resolver.list(r.ino)), ...resolver.pendingIn(r.ino)];
  }

  /** `caller` owns what is made (the mount's user when unknown); so for symlink and mknod. */
  async mkdir(path: string, mode: number, caller: Caller = this.ctx.opts): Promise<void> {
    await this.newNode(path, newInode('dir', mode, caller, this.ctx.clock.wallNow()));
  }

  async rmdir(path: string): Promise<void> {
    const { resolver } = this.parts;
    const r = await resolver.resolve(path);
    if (r.inode.type !== 'dir') throw fsError('NOT_A_DIRECTORY', path);
    if (r.ino === ROOT_INO) throw fsError('NOT_PERMITTED', path);
    const inside = (await this.entries(path)).slice(2);
    const dangling = inside.length > 0 ? await this.danglingIn(r.ino, inside) : [];
    if (dangling.length < inside.length) throw fsError('DIRECTORY_NOT_EMPTY', path);
    await resolver.write([
      ...dangling.map((name) => resolver.envelope(direntKey(r.ino, name), null)),
      resolver.envelope(direntKey(r.parent, r.name), null),
      resolver.envelope(inodeKey(r.ino), null),
      ...(await resolver.touchedDir(r.parent, undefined, -1)),
    ]);
    resolver.noteEntry(r.parent, r.name, null);
    resolver.forgetInode(r.ino);
  }

  /**
   * The names in a directory whose inode is a tombstone (every name, or
   * fewer: the first live one ends the search). A removal is one write per
   * placement group, and an entry and its inode may be in two (always for a
   * directory, whose inode has a group of its own): a mount or cell dying
   * between the two, or an undo that did not reach a cell, can leave an
   * entry whose inode is gone. Lookups answer ENOENT for it, so `rm -rf`
   * cannot unlink it; rmdir removes such entries with the directory instead
   * of answering ENOTEMPTY for ever. An inode absent (not tombstoned) counts
   * as live: it may not have reached its homes yet.
   */
  private async danglingIn(dir: string, inside: [string, Dirent][]): Promise<string[]> {
    const dangling: string[] = [];
    for (let i = 0; i < inside.length; i += DANGLING_BATCH) {
      const batch = inside.slice(i, i + DANGLING_BATCH);
      const inodes = await this.parts.resolver.records.getMany(batch.map(([, d]) => inodeKey(d.ino)));
      for (const [j, rec] of inodes.entries()) {
        if (!rec || rec.d !== null || this.ctx.files.has(batch[j]![1].ino)) return dangling;
        dangling.push(batch[j]![0]);
      }
    }
    if (dangling.length > 0) log('%d entries of %s name removed inodes: removed with it', dangling.length, dir);
    return dangling;
  }

  /** Removes one name of a file; the inode goes with its last name (an open file stays usable through its handles). */
  async unlink(path: string): Promise<void> {
    const { resolver, commits } = this.parts;
    const r = await resolver.resolve(path);
    if (r.inode.type === 'dir') throw fsError('IS_A_DIRECTORY', path);
    await commits.materialize(r.ino);
    await this.relink(r.ino, -1, [resolver.envelope(direntKey(r.parent, r.name), null), ...(await resolver.touchedDir(r.parent))], path);
    resolver.noteEntry(r.parent, r.name, null);
  }

  async symlink(target: string, path: string, caller: Caller = this.ctx.opts): Promise<void> {
    refuseLossy(target, path);
    const inode = newInode('symlink', 0o777, caller, this.ctx.clock.wallNow());
    inode.target = target;
    inode.size = Buffer.byteLength(target);
    await this.newNode(path, inode);
  }

  /**
   * A FIFO, socket, character or block device (the kernel gives it its
   * behaviour; `rdev` is kept for devices), or an empty regular file. The
   * kernel has refused directories (EPERM) and unknown types already.
   */
  async mknod(path: string, mode: number, rdev: number, caller: Caller = this.ctx.opts): Promise<void> {
    const type = mknodTypeOf(mode);
    if (!type) throw fsError('INVALID_ARGUMENT', path);
    const inode = newInode(type, mode, caller, this.ctx.clock.wallNow());
    if (type === 'special' && rdev !== 0) inode.rdev = rdev;
    await this.newNode(path, inode);
  }

  async readlink(path: string): Promise<string> {
    const r = await this.parts.resolver.resolve(path);
    if (r.inode.type !== 'symlink') throw fsError('INVALID_ARGUMENT', path);
    return r.inode.target ?? '';
  }

  /** A hard link: one more entry naming the inode, and its link count up by one (EPERM for a directory, as Linux). */
  async link(src: string, dest: string): Promise<void> {
    const { resolver, commits } = this.parts;
    const from = await resolver.resolve(src);
    const to = await resolver.resolveParent(dest);
    if (await resolver.lookup(to.parent, to.name)) throw fsError('ENTRY_EXISTS', dest);
    if (from.inode.type === 'dir') throw fsError('NOT_PERMITTED', src);
    await commits.materialize(from.ino);
    const entry: Dirent = { ino: from.ino, type: from.inode.type };
    await this.relink(from.ino, +1, [resolver.envelope(direntKey(to.parent, to.name), entry), ...(await resolver.touchedDir(to.parent))], src);
    resolver.noteEntry(to.parent, to.name, entry);
  }

  async rename(src: string, dest: string): Promise<void> {
    const { resolver, commits } = this.parts;
    const from = await resolver.resolve(src);
    if (from.ino === ROOT_INO) throw fsError('INVALID_ARGUMENT', src);
    const to = await resolver.resolveParent(dest);
    if (to.parent === from.parent && to.name === from.name) return;
    await commits.materialize(from.ino);
    if (from.inode.type === 'dir') {
      // Refuse to move a directory below itself.
      for (let ino = to.parent, hops = 0; ino !== ROOT_INO && hops < DEPTH_MAX; hops++) {
        if (ino === from.ino) throw fsError('INVALID_ARGUMENT', dest);
        ino = (await resolver.loadInode(ino))?.parent ?? ROOT_INO;
      }
      if (to.parent === from.ino) throw fsError('INVALID_ARGUMENT', dest);
    }
    const existing = await resolver.lookup(to.parent, to.name);
    // Two names of one file: rename does nothing (POSIX), both names stay.
    if (existing?.ino === from.ino) return;
    const writes: RecordEnvelope[] = [];
    let replaced: 'dir' | 'file' | null = null;
    if (existing) {
      await commits.materialize(existing.ino);
      const old = await resolver.loadInode(existing.ino);
      if (old) {
        if (from.inode.type === 'dir' && old.type !== 'dir') throw fsError('NOT_A_DIRECTORY', dest);
        if (from.inode.type !== 'dir' && old.type === 'dir') throw fsError('IS_A_DIRECTORY', dest);
        if (old.type === 'dir' && (await resolver.records.scan(direntPrefix(existing.ino))).some((r) => r.d)) {
          throw fsError('DIRECTORY_NOT_EMPTY', dest);
        }
        replaced = old.type === 'dir' ? 'dir' : 'file';
        if (replaced === 'dir') writes.push(resolver.envelope(inodeKey(existing.ino), null));
      }
    }
    writes.push(resolver.envelope(direntKey(to.parent, to.name), { ino: from.ino, type: from.inode.type } satisfies Dirent));
    writes.push(resolver.envelope(direntKey(from.parent, from.name), null));
    // Subdirectories each parent gains or loses (its link count).
    const movedDirs = from.inode.type === 'dir' ? 1 : 0;
    const toSubdirs = movedDirs - (replaced === 'dir' ? 1 : 0);
    const moved = from.inode.type === 'dir' ? { ...from.inode, parent: to.parent, ctimeMs: this.ctx.clock.wallNow() } : null;
    if (moved) writes.push(resolver.envelope(inodeKey(from.ino), moved));
    if (to.parent === from.parent) writes.push(...(await resolver.touchedDir(from.parent, undefined, toSubdirs - movedDirs)));
    else writes.push(...(await resolver.touchedDir(from.parent, undefined, -movedDirs)), ...(await resolver.touchedDir(to.parent, undefined, toSubdirs)));
    // A file replaced loses one name, and goes with its last.
    if (replaced === 'file') await this.relink(existing!.ino, -1, writes, dest);
    else await resolver.write(writes);
    // Only now: until the records are written, a reader here still finds the old file whole (rename is atomic),
    // and a rename that failed changed nothing here either.
    if (replaced === 'dir') resolver.forgetInode(existing!.ino);
    if (moved) resolver.noteInode(from.ino, moved);
    resolver.noteEntry(to.parent, to.name, { ino: from.ino, type: from.inode.type });
    resolver.noteEntry(from.parent, from.name, null);
  }

  private async newNode(path: string, inode: Inode): Promise<string> {
    const { resolver } = this.parts;
    const { parent, name, dir } = await resolver.resolveParent(path);
    if (await resolver.lookup(parent, name)) throw fsError('ENTRY_EXISTS', path);
    inheritGroup(inode, dir);
    inheritReplicas(inode, dir);
    let ino: string;
    if (inode.type === 'dir') {
      // The entry as the swarm has it (a quorum read): its tombstone's version names the new directory.
      const rec = await resolver.records.get(direntKey(parent, name));
      if (rec?.d) {
        // Made meanwhile by another mount: known from now on (mkdir -p goes on to stat it).
        resolver.noteEntry(parent, name, rec.d as Dirent);
        throw fsError('ENTRY_EXISTS', path);
      }
      ino = dirInoOf(parent, name, rec?.v ?? null);
      inode.parent = parent;
    } else ino = newIno(inode.type, parent);
    // All records in one parallel write: an entry whose inode is missing reads as absent.
    await resolver.write([
      resolver.envelope(inodeKey(ino), inode),
      resolver.envelope(direntKey(parent, name), { ino, type: inode.type } satisfies Dirent),
      ...(await resolver.touchedDir(parent, undefined, inode.type === 'dir' ? 1 : 0)),
    ]);
    resolver.noteInode(ino, inode);
    resolver.noteEntry(parent, name, { ino, type: inode.type });
    if (inode.type === 'dir') resolver.noteEmptyDir(ino);
    return ino;
  }

  /**
   * Writes `records` along with the inode's link count moved by `delta` and
   * its ctime, in one parallel write. At no names left the inode is
   * tombstoned instead, and an open file goes on without a name (readable
   * and writable through its handles, never written back). The count is
   * read from the swarm unless just read (another mount may have changed
   * it; concurrent changes: docs/decisions/0026-link-counts.md), and an
   * open file's inode is changed under its lock, as its commits write the
   * whole inode.
   */
  private async relink(ino: string, delta: number, records: RecordEnvelope[], path: string): Promise<void> {
    const { resolver } = this.parts;
    const change = async () => {
      const open = this.ctx.files.get(ino);
      const stored = await resolver.loadInodeRecent(ino, COUNT_FRESH_MS);
      const inode = open?.inode ?? stored;
      if (!inode) throw fsError('NO_ENTRY', path);
      const nlink = linksOf(stored ?? inode) + delta;
      if (delta > 0 && nlink > LINKS_MAX) throw fsError('TOO_MANY_LINKS', path);
      if (nlink <= 0) {
        await resolver.write([...records, resolver.envelope(inodeKey(ino), null)]);
        resolver.forgetInode(ino);
        if (open) open.unlinked = true;
        return;
      }
      const changed: Inode = { ...inode, nlink, ctimeMs: this.ctx.clock.wallNow() };
      await resolver.write([...records, resolver.envelope(inodeKey(ino), changed)]);
      resolver.noteInode(ino, changed);
      if (open) open.inode = changed;
    };
    const open = this.ctx.files.get(ino);
    await (open ? withLock(open, change) : change());
  }
}
