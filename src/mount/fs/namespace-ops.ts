import { fsError } from '../../core/index.js';
import { ROOT_INO, dirInoOf, direntKey, direntPrefix, inodeKey, newIno, type Dirent, type Inode, type RecordEnvelope } from '../../namespace/index.js';
import type { Commits } from './commit.js';
import type { FsContext } from './context.js';
import { inheritGroup, newInode } from './inodes.js';
import type { Resolved, Resolver } from './resolver.js';

/** Hops up the tree at most when checking that a directory is not moved below itself. */
const DEPTH_MAX = 4096;

/**
 * Operations on names: directories, symlinks, removal and rename, each one
 * parallel write of the records it changes (entries, inodes, and the
 * directories whose mtime moves with them).
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
    const { resolver } = this.parts;
    const r = await resolver.resolve(path);
    if (r.inode.type !== 'dir') throw fsError('NOT_A_DIRECTORY', path);
    return ['.', '..', ...(await resolver.list(r.ino)).keys(), ...resolver.pendingNames(r.ino)];
  }

  async mkdir(path: string, mode: number): Promise<void> {
    await this.newNode(path, newInode('dir', mode, this.ctx.opts, this.ctx.clock.wallNow()));
  }

  async rmdir(path: string): Promise<void> {
    const r = await this.parts.resolver.resolve(path);
    if (r.inode.type !== 'dir') throw fsError('NOT_A_DIRECTORY', path);
    if (r.ino === ROOT_INO) throw fsError('NOT_PERMITTED', path);
    if ((await this.readdir(path)).length > 2) throw fsError('DIRECTORY_NOT_EMPTY', path);
    await this.removeNode(r);
  }

  async unlink(path: string): Promise<void> {
    const r = await this.parts.resolver.resolve(path);
    if (r.inode.type === 'dir') throw fsError('IS_A_DIRECTORY', path);
    await this.parts.commits.materialize(r.ino);
    await this.removeNode(r);
    const open = this.ctx.files.get(r.ino);
    // An open file stays readable and writable through its handles, but is not written back.
    if (open) open.unlinked = true;
  }

  async symlink(target: string, path: string): Promise<void> {
    const inode = newInode('symlink', 0o777, this.ctx.opts, this.ctx.clock.wallNow());
    inode.target = target;
    inode.size = Buffer.byteLength(target);
    await this.newNode(path, inode);
  }

  async readlink(path: string): Promise<string> {
    const r = await this.parts.resolver.resolve(path);
    if (r.inode.type !== 'symlink') throw fsError('INVALID_ARGUMENT', path);
    return r.inode.target ?? '';
  }

  /** Hard links are not supported: each inode has exactly one entry (documented; EPERM, as on many file systems). */
  async link(_src: string, dest: string): Promise<void> {
    throw fsError('NOT_PERMITTED', dest);
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
    const writes: RecordEnvelope[] = [];
    if (existing) {
      await commits.materialize(existing.ino);
      const old = await resolver.loadInode(existing.ino);
      if (old) {
        if (from.inode.type === 'dir' && old.type !== 'dir') throw fsError('NOT_A_DIRECTORY', dest);
        if (from.inode.type !== 'dir' && old.type === 'dir') throw fsError('IS_A_DIRECTORY', dest);
        if (old.type === 'dir' && (await resolver.records.scan(direntPrefix(existing.ino))).some((r) => r.d)) {
          throw fsError('DIRECTORY_NOT_EMPTY', dest);
        }
        writes.push(resolver.envelope(inodeKey(existing.ino), null));
      }
    }
    writes.push(resolver.envelope(direntKey(to.parent, to.name), { ino: from.ino, type: from.inode.type } satisfies Dirent));
    writes.push(resolver.envelope(direntKey(from.parent, from.name), null));
    const moved = from.inode.type === 'dir' ? { ...from.inode, parent: to.parent, ctimeMs: this.ctx.clock.wallNow() } : null;
    if (moved) writes.push(resolver.envelope(inodeKey(from.ino), moved));
    writes.push(...(await resolver.touchedDir(from.parent)));
    if (to.parent !== from.parent) writes.push(...(await resolver.touchedDir(to.parent)));
    await resolver.write(writes);
    // Only now: until the records are written, a reader here still finds the old file whole (rename is atomic),
    // and a rename that failed changed nothing here either.
    if (existing) {
      resolver.forgetInode(existing.ino);
      const open = this.ctx.files.get(existing.ino);
      if (open) open.unlinked = true;
    }
    if (moved) resolver.noteInode(from.ino, moved);
    resolver.noteEntry(to.parent, to.name, { ino: from.ino, type: from.inode.type });
    resolver.noteEntry(from.parent, from.name, null);
  }

  private async newNode(path: string, inode: Inode): Promise<string> {
    const { resolver } = this.parts;
    const { parent, name, dir } = await resolver.resolveParent(path);
    if (await resolver.lookup(parent, name)) throw fsError('ENTRY_EXISTS', path);
    inheritGroup(inode, dir);
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
      ...(await resolver.touchedDir(parent)),
    ]);
    resolver.noteInode(ino, inode);
    resolver.noteEntry(parent, name, { ino, type: inode.type });
    if (inode.type === 'dir') resolver.noteEmptyDir(ino);
    return ino;
  }

  /** Tombstones an entry and its inode, and touches the directory, in one parallel write. */
  private async removeNode(r: Resolved): Promise<void> {
    const { resolver } = this.parts;
    await resolver.write([resolver.envelope(direntKey(r.parent, r.name), null), resolver.envelope(inodeKey(r.ino), null), ...(await resolver.touchedDir(r.parent))]);
    resolver.noteEntry(r.parent, r.name, null);
    resolver.forgetInode(r.ino);
  }
}
