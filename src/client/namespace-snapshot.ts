import type { Addr } from '../core/index.js';
import { ROOT_INO, newer, type Dirent, type Inode, type RecordEnvelope } from '../namespace/index.js';
import { scanRecords } from './inventory.js';
import type { SwarmClient } from './swarm-client.js';

/** Directories followed up from a file to the root before a path is given up on (a cycle, or an entry half moved). */
const PATH_DEPTH_MAX = 4096;

/**
 * The namespace as the cells hold it now, for tools that look at all of it
 * (fsck): the newest version of every inode and directory entry any of the
 * given cells holds, merged last-writer-wins as the cells merge them, so a
 * stale live copy on one cell loses to a newer tombstone on another.
 * Answers which inodes are live, a file's path, and the files under a path.
 */
export class NamespaceSnapshot {
  /** Live inodes (their newest version is not a tombstone), by ino. */
  readonly inodes = new Map<string, Inode>();
  /** Each live inode's names: its parent directory and the name there. */
  private readonly names = new Map<string, { parent: string; name: string }[]>();
  /** Each directory's live entries: name to ino. */
  private readonly children = new Map<string, Map<string, string>>();

  constructor(records: Iterable<RecordEnvelope>) {
    const newest = new Map<string, RecordEnvelope>();
    for (const r of records) newest.set(r.k, newer(newest.get(r.k), r)!);
    for (const r of newest.values()) {
      if (r.d === null) continue;
      if (r.k.startsWith('i/')) this.inodes.set(r.k.slice(2), r.d as Inode);
      else if (r.k.startsWith('d/')) {
        const slash = r.k.indexOf('/', 2);
        const parent = r.k.slice(2, slash);
        const name = r.k.slice(slash + 1);
        const { ino } = r.d as Dirent;
        this.names.set(ino, [...(this.names.get(ino) ?? []), { parent, name }]);
        const dir = this.children.get(parent) ?? new Map<string, string>();
        dir.set(name, ino);
        this.children.set(parent, dir);
      }
    }
  }

  /**
   * Every inode and directory entry the cells at `addrs` hold, read page by
   * page (REC_SCAN); the cells that did not answer are listed apart.
   */
  static async read(client: SwarmClient, addrs: Addr[]): Promise<{ snapshot: NamespaceSnapshot; unreachable: Addr[] }> {
    const records: RecordEnvelope[] = [];
    const unreachable: Addr[] = [];
    await Promise.all(
      addrs.map(async (addr) => {
        try {
          const [inodes, entries] = await Promise.all([scanRecords(client, addr, 'i/'), scanRecords(client, addr, 'd/')]);
          // One at a time: spreading a cell's 100,000 records into push() overflows the stack.
          for (const list of [inodes, entries]) for (const r of list) records.push(r);
        } catch {
          unreachable.push(addr);
        }
      }),
    );
    return { snapshot: new NamespaceSnapshot(records), unreachable };
  }

  /** A path of a live inode from the root ("/a/b"), or null if none leads there (an entry lost or not yet written). */
  pathOf(ino: string): string | null {
    const parts: string[] = [];
    for (let at = ino, depth = 0; at !== ROOT_INO; depth++) {
      const name = this.names.get(at)?.[0];
      if (!name || depth > PATH_DEPTH_MAX) return null;
      parts.push(name.name);
      at = name.parent;
    }
    return '/' + parts.reverse().join('/');
  }

  /** The ino a path ("/a/b", "a/b" or "/") names, or null. */
  resolve(path: string): string | null {
    let ino: string | undefined = ROOT_INO;
    for (const name of path.split('/').filter((p) => p !== '' && p !== '.')) {
      ino = this.children.get(ino)?.get(name);
      if (!ino) return null;
    }
    return ino;
  }

  /** The inos in the tree under `ino`, itself included (a file: only itself). */
  treeOf(ino: string): Set<string> {
    const seen = new Set<string>([ino]);
    const queue = [ino];
    while (queue.length > 0) {
      for (const child of this.children.get(queue.pop()!)?.values() ?? []) {
        if (seen.has(child)) continue;
        seen.add(child);
        queue.push(child);
      }
    }
    return seen;
  }
}
