import { LRUCache } from 'lru-cache';
import { RecordsClient } from '../../client/index.js';
import { fsError } from '../../core/index.js';
import { HybridClock, NAME_BYTES_MAX, ROOT_INO, direntKey, direntPrefix, inodeKey, type Dirent, type Inode, type RecordEnvelope } from '../../namespace/index.js';
import { AttrBatches } from './attr-batches.js';
import type { FsContext } from './context.js';
import { linksOf } from './inodes.js';

/** Directories larger than this are not listed for negative lookups (each name is asked instead). */
const LISTING_ENTRIES_MAX = 4_096;
/** Attributes and entries kept (each a small record). */
const ATTRS_MAX = 65_536;
/**
 * The share of the attribute TTL that attributes read in a batch, before
 * anyone asked for them, are trusted: the kernel keeps what a lookup
 * answers for its own 1 s on top, so an attribute primed long before its
 * lookup would stay stale for up to twice the TTL. A reader going through a
 * listing uses a batch within tens of ms of its arrival (the next one is
 * asked for halfway through this one), so half the TTL loses it no hits.
 */
const PRIMED_TTL_SHARE = 0.5;
/** Directories whose link count was counted from a listing, kept (a number each). */
const COUNTED_DIRS_MAX = 4_096;

/** A path as resolved: its inode, and the entry (parent, name) that names it. */
export interface Resolved {
  ino: string;
  inode: Inode;
  parent: string;
  name: string;
}

/** A directory's st_nlink from its entries: 2 + its subdirectories. */
function linksInListing(names: Map<string, Dirent>): number {
  let n = 2;
  for (const d of names.values()) if (d.type === 'dir') n++;
  return n;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((p) => p.length > 0);
}

/**
 * fuse-native hands paths over as strings decoded from UTF-8, each invalid
 * byte as U+FFFD: names that differ only there (bad\xff and bad\xfe) would
 * be one name, and a create of one would open the other. Text with U+FFFD is
 * refused where it would be stored (a new name, a symlink's target, an
 * extended attribute's name): EINVAL, as ext4 answers invalid UTF-8 under
 * its strict encoding. See docs/decisions/0027-largest-file-and-sparse-chunk-lists.md.
 */
export function refuseLossy(text: string, path: string): void {
  if (text.includes('\uFFFD')) throw fsError('INVALID_ARGUMENT', path);
}

/**
 * Paths to inodes, and the namespace records this mount keeps of the swarm:
 * attributes, entries, complete directory listings (all trusted for
 * attrTtlMs), and the entries of files created here and not yet committed.
 * Every record this mount writes is stamped here (envelope).
 */
export class Resolver {
  readonly records: RecordsClient;
  private readonly hlc: HybridClock;
  private readonly attrs: LRUCache<string, Inode>;
  private readonly entries: LRUCache<string, Dirent | false>;
  /** Complete listings of directories read (or made) recently: they answer lookups, negative ones too, within the TTL. */
  private readonly listings: LRUCache<string, { atMs: number; names: Map<string, Dirent> }>;
  /** Entries of files created here and not yet committed, by "parent/name" (at most one per open file). */
  private readonly pendingEntries = new Map<string, Dirent>();
  /** 2 + subdirectories of directories whose records predate the count (Inode.nlink), counted once each. */
  private readonly countedDirs: LRUCache<string, number>;
  /** Bumped by every local change of an entry: a listing read across a change is not kept. */
  private entriesGen = 0;
  /** Listed directories' inodes, fetched in batches as they are asked for (ls -l, du, find | xargs stat). */
  private readonly batches: AttrBatches;
  /** Bumped by every change of the attributes held other than a batch's: a batch read across a change does not undo it. */
  private attrsGen = 0;
  /** The attrsGen of each inode's last such change (the newest ATTRS_MAX of them). */
  private readonly attrsChangedAt: LRUCache<string, number>;

  constructor(private readonly ctx: FsContext) {
    this.hlc = new HybridClock(ctx.clock, ctx.swarm.endpoint.id);
    this.records = new RecordsClient(ctx.swarm, ctx.opts.replicas);
    // TTLs age on the injected clock; ttlResolution 0 reads it at every check (lru-cache would otherwise keep its reading for 1 ms with a global timer).
    const perf = { now: () => ctx.clock.now() };
    this.attrs = new LRUCache({ max: ATTRS_MAX, ttl: ctx.opts.attrTtlMs, ttlResolution: 0, perf });
    this.entries = new LRUCache({ max: ATTRS_MAX, ttl: ctx.opts.attrTtlMs, ttlResolution: 0, perf });
    this.listings = new LRUCache({ max: 1_024, maxSize: 262_144, sizeCalculation: (l) => l.names.size + 1 });
    this.countedDirs = new LRUCache({ max: COUNTED_DIRS_MAX });
    this.attrsChangedAt = new LRUCache({ max: ATTRS_MAX });
    this.batches = new AttrBatches({ fetch: (inos) => this.fetchInodes(inos), isFresh: (ino) => this.attrs.has(ino) });
  }

  /** Holds (or forgets, null) an inode's attributes, noting the change for batches under way. */
  private keepAttrs(ino: string, inode: Inode | null): void {
    this.attrsChangedAt.set(ino, ++this.attrsGen);
    if (inode) this.attrs.set(ino, inode);
    else this.attrs.delete(ino);
  }

  /**
   * A batch of inodes read from the swarm (AttrBatches): each kept as its
   * attributes (for PRIMED_TTL_SHARE of the TTL) unless this mount changed or read it since the batch began
   * (what it holds then is as new or newer). Absent inodes and directories
   * without a link count are left to be read alone (resolve, withLinkCount).
   */
  private async fetchInodes(inos: string[]): Promise<void> {
    const startGen = this.attrsGen;
    const recs = await this.records.getMany(inos.map(inodeKey));
    // More changes than attrsChangedAt remembers: which inodes they touched is not known.
    if (this.attrsGen - startGen >= ATTRS_MAX) return;
    recs.forEach((rec, i) => {
      if (!rec) return;
      this.hlc.observe(rec.v);
      const inode = rec.d as Inode | null;
      const ino = inos[i]!;
      if (!inode || (inode.type === 'dir' && inode.nlink === undefined)) return;
      if ((this.attrsChangedAt.get(ino) ?? 0) > startGen) return;
      this.attrs.set(ino, inode, { ttl: this.ctx.opts.attrTtlMs * PRIMED_TTL_SHARE });
    });
  }

  envelope(k: string, d: unknown): RecordEnvelope {
    return { k, v: this.hlc.now(), d };
  }

  /**
   * Writes records this mount made (RecordsClient.put: all or nothing). If
   * the write fails, the attributes of the inodes it would have changed are
   * forgotten (touchedDir keeps a directory's new times ahead of the write):
   * they are read again from the swarm, as the failed write left them.
   */
  async write(records: RecordEnvelope[]): Promise<void> {
    try {
      await this.records.put(records);
    } catch (err) {
      for (const r of records) if (r.k.startsWith('i/')) this.keepAttrs(r.k.slice(2), null);
      throw err;
    }
  }

  async putInode(ino: string, inode: Inode | null): Promise<void> {
    await this.write([this.envelope(inodeKey(ino), inode)]);
    this.keepAttrs(ino, inode);
  }

  /**
   * An inode's attributes: held (younger than the TTL), or read from the
   * swarm; `fresh` reads it in any case. `dir`, the directory the caller
   * found it in: a listed directory's entries come in batches (AttrBatches).
   */
  async loadInode(ino: string, fresh = false, dir?: string): Promise<Inode | null> {
    if (!fresh) {
      const cached = this.attrs.get(ino);
      if (cached) {
        if (dir !== undefined) this.batches.ahead(dir, ino);
        return cached;
      }
      const batch = dir === undefined ? null : this.batches.load(dir, ino);
      if (batch) {
        // A batch that failed or did not keep this inode (gone, a directory without its count): read alone below.
        await batch.catch(() => undefined);
        const fetched = this.attrs.get(ino);
        if (fetched) return fetched;
      }
    }
    const rec = await this.records.get(inodeKey(ino));
    if (rec) this.hlc.observe(rec.v);
    const stored = (rec?.d as Inode | null) ?? null;
    const inode = stored && (await this.withLinkCount(ino, stored));
    this.keepAttrs(ino, inode);
    return inode;
  }

  /** An inode as the swarm has it, or as this mount read or wrote it less than `withinMs` ago. */
  async loadInodeRecent(ino: string, withinMs: number): Promise<Inode | null> {
    const ageMs = this.ctx.opts.attrTtlMs - this.attrs.getRemainingTTL(ino);
    return this.loadInode(ino, ageMs >= withinMs);
  }

  /**
   * A directory record written before the count was kept gets it from a
   * listing, once per directory (the next change of its subdirectories
   * writes the count into the record).
   */
  private async withLinkCount(ino: string, inode: Inode): Promise<Inode> {
    if (inode.type !== 'dir' || inode.nlink !== undefined) return inode;
    let nlink = this.countedDirs.get(ino);
    if (nlink === undefined) {
      nlink = linksInListing(await this.list(ino));
      this.countedDirs.set(ino, nlink);
    }
    return { ...inode, nlink };
  }

  /** Keeps an inode this mount wrote (or is about to write) as its attributes. */
  noteInode(ino: string, inode: Inode): void {
    this.keepAttrs(ino, inode);
  }

  forgetInode(ino: string): void {
    this.keepAttrs(ino, null);
  }

  /**
   * A directory entry: from this mount's uncommitted creations, the entry
   * cache, a fresh listing of the directory, or the swarm. A directory listed
   * before whose listing has aged is listed again rather than asked name by
   * name: a directory being filled answers its negative lookups locally.
   */
  async lookup(parent: string, name: string): Promise<Dirent | null> {
    const known = this.entryNow(parent, name);
    if (known !== undefined) return known;
    const aged = this.listings.get(parent);
    if (aged) {
      // The inodes of the names it had are read meanwhile (a batch from this name on): a name seldom changes
      // its inode, and one that did is read alone after. `find | xargs stat` waits one round trip a directory, not two.
      const was = aged.names.get(name);
      if (was && !this.attrs.has(was.ino)) void this.batches.load(parent, was.ino)?.catch(() => undefined);
      return (await this.list(parent)).get(name) ?? null;
    }
    return this.lookupFresh(parent, name);
  }

  /** The entry as lookup would answer it from what this mount holds (null: no such name), or undefined when the swarm must be asked. */
  private entryNow(parent: string, name: string): Dirent | null | undefined {
    const key = `${parent}/${name}`;
    const pending = this.pendingEntries.get(key);
    if (pending) return pending;
    const cached = this.entries.get(key);
    if (cached !== undefined) return cached || null;
    const listing = this.listings.get(parent);
    if (listing && this.ctx.clock.now() - listing.atMs < this.ctx.opts.attrTtlMs) return listing.names.get(name) ?? null;
    return undefined;
  }

  /** Reads a directory's entries from the swarm and keeps them as its listing (unless it is large or changed meanwhile). */
  async list(dir: string): Promise<Map<string, Dirent>> {
    const gen = this.entriesGen;
    const atMs = this.ctx.clock.now();
    const prefix = direntPrefix(dir);
    const names = new Map<string, Dirent>();
    for (const rec of await this.records.scan(prefix)) {
      this.hlc.observe(rec.v);
      if (rec.d) names.set(rec.k.slice(prefix.length), rec.d as Dirent);
    }
    if (gen === this.entriesGen && names.size <= LISTING_ENTRIES_MAX) this.listings.set(dir, { atMs, names });
    else this.listings.delete(dir);
    this.batches.noteListing(dir, Array.from(names.values(), (d) => d.ino));
    // A count that two mounts changed at once lost one change (last writer wins): the listing says what it is.
    const inode = this.attrs.get(dir);
    if (gen === this.entriesGen && inode?.nlink !== undefined && inode.nlink !== linksInListing(names)) this.keepAttrs(dir, { ...inode, nlink: linksInListing(names) });
    return names;
  }

  /** A directory just made here is known to be empty. */
  noteEmptyDir(ino: string): void {
    this.listings.set(ino, { atMs: this.ctx.clock.now(), names: new Map() });
  }

  /** Records a change this mount made to an entry in every cache that holds it. */
  noteEntry(parent: string, name: string, d: Dirent | null): void {
    this.entriesGen++;
    this.entries.set(`${parent}/${name}`, d ?? false);
    const listing = this.listings.get(parent);
    if (d) listing?.names.set(name, d);
    else listing?.names.delete(name);
  }

  /** The entry of a file created here, which only this mount sees until its first commit. */
  addPending(parent: string, name: string, d: Dirent): void {
    this.pendingEntries.set(`${parent}/${name}`, d);
    this.entriesGen++;
  }

  dropPending(parent: string, name: string): void {
    this.pendingEntries.delete(`${parent}/${name}`);
  }

  /** Names and entries of the uncommitted files created here in a directory. */
  pendingIn(dir: string): [string, Dirent][] {
    const prefix = `${dir}/`;
    const found: [string, Dirent][] = [];
    for (const [key, d] of this.pendingEntries) if (key.startsWith(prefix)) found.push([key.slice(prefix.length), d]);
    return found;
  }

  /** Path to inode; `fresh` re-reads the final inode from the swarm (open: close-to-open consistency). */
  async resolve(path: string, fresh = false): Promise<Resolved> {
    const known = fresh ? undefined : this.resolveNow(path);
    if (known) return known;
    const parts = splitPath(path);
    let ino = ROOT_INO;
    let parent = ROOT_INO;
    let name = '';
    let inode = await this.loadInode(ino);
    if (!inode) throw fsError('NO_ENTRY', path);
    for (const [i, part] of parts.entries()) {
      if (Buffer.byteLength(part) > NAME_BYTES_MAX) throw fsError('NAME_TOO_LONG', path);
      if (inode.type !== 'dir') throw fsError('NOT_A_DIRECTORY', path);
      const d = await this.lookup(ino, part);
      if (!d) throw fsError('NO_ENTRY', path);
      parent = ino;
      name = part;
      ino = d.ino;
      const open = this.ctx.files.get(ino);
      inode = open ? open.inode : await this.loadInode(ino, fresh && i === parts.length - 1, parent);
      if (!inode) {
        // A cached entry naming an inode that is gone: the name was replaced meanwhile (a rename over it,
        // here or in another mount). Ask for the entry itself, once, as an NFS client does on ESTALE.
        const again = await this.lookupFresh(parent, part);
        if (!again || again.ino === ino) throw fsError('NO_ENTRY', path);
        ino = again.ino;
        inode = this.ctx.files.get(ino)?.inode ?? (await this.loadInode(ino, true));
        if (!inode) throw fsError('NO_ENTRY', path);
      }
    }
    return { ino, inode, parent, name };
  }

  /**
   * resolve() from what this mount holds (entries, listings, attributes,
   * open files), failing as it does; undefined when the swarm must be asked.
   */
  resolveNow(path: string): Resolved | undefined {
    let ino = ROOT_INO;
    let parent = ROOT_INO;
    let name = '';
    let inode = this.attrs.get(ino);
    if (!inode) return undefined;
    for (const part of splitPath(path)) {
      if (Buffer.byteLength(part) > NAME_BYTES_MAX) throw fsError('NAME_TOO_LONG', path);
      if (inode.type !== 'dir') throw fsError('NOT_A_DIRECTORY', path);
      const d = this.entryNow(ino, part);
      if (d === undefined) return undefined;
      if (d === null) throw fsError('NO_ENTRY', path);
      parent = ino;
      name = part;
      ino = d.ino;
      inode = this.ctx.files.get(ino)?.inode ?? this.attrs.get(ino);
      if (!inode) return undefined;
    }
    // The reader of a listed directory finds the next batch of its entries on its way.
    if (ino !== ROOT_INO) this.batches.ahead(parent, ino);
    return { ino, inode, parent, name };
  }

  /** An entry as the swarm has it now, bypassing (and replacing) what is cached. */
  private async lookupFresh(parent: string, name: string): Promise<Dirent | null> {
    const pending = this.pendingEntries.get(`${parent}/${name}`);
    if (pending) return pending;
    const rec = await this.records.get(direntKey(parent, name));
    if (rec) this.hlc.observe(rec.v);
    const d = (rec?.d as Dirent | null) ?? null;
    this.entries.set(`${parent}/${name}`, d ?? false);
    this.listings.delete(parent);
    return d;
  }

  /** The parent directory of a path that is about to be created, and the new name. */
  async resolveParent(path: string): Promise<{ parent: string; name: string; dir: Inode }> {
    const parts = splitPath(path);
    const name = parts.pop();
    if (!name) throw fsError('ENTRY_EXISTS', path);
    if (Buffer.byteLength(name) > NAME_BYTES_MAX) throw fsError('NAME_TOO_LONG', path);
    const dir = await this.resolve('/' + parts.join('/'));
    if (dir.inode.type !== 'dir') throw fsError('NOT_A_DIRECTORY', path);
    refuseLossy(name, path);
    return { parent: dir.ino, name, dir: dir.inode };
  }

  /**
   * A directory's mtime changes when its entries do: the record to write along
   * with the change. `atMs` (wall time): when the entry changed, if before now
   * (a file made here is entered at its first commit, after its writes: its
   * directory must not look newer than it, as `find -newer` would show).
   * `subdirs`: subdirectories added (or removed, negative) by the change.
   */
  async touchedDir(ino: string, atMs = this.ctx.clock.wallNow(), subdirs = 0): Promise<RecordEnvelope[]> {
    const dir = await this.loadInode(ino);
    if (!dir) return [];
    // An entry is about to change: a listing under way would not show it (nor count it).
    this.entriesGen++;
    const at = Math.max(atMs, dir.mtimeMs);
    const touched = { ...dir, mtimeMs: at, ctimeMs: Math.max(atMs, dir.ctimeMs), nlink: Math.max(2, linksOf(dir) + subdirs) };
    this.keepAttrs(ino, touched);
    return [this.envelope(inodeKey(ino), touched)];
  }

  /** Forgets attributes, entries and listings (open files' state and uncommitted entries stay). */
  dropCaches(): void {
    this.attrs.clear();
    this.batches.clear();
    this.countedDirs.clear();
    this.entries.clear();
    this.listings.clear();
  }
}
