import { LRUCache } from 'lru-cache';
import { BufferPool, CHUNK_BYTES_MAX, CellError, LEAF_BYTES, fsError, logger, systemClock, type ChunkKey } from '../core/index.js';
import {
  HybridClock,
  NAME_BYTES_MAX,
  ROOT_INO,
  direntKey,
  direntPrefix,
  inodeKey,
  newIno,
  dirInoOf,
  type Dirent,
  type Inode,
  type InodeType,
  type RecordEnvelope,
} from '../namespace/index.js';
import { isLiveStorage } from '../placement/index.js';
import { LOCAL_READ_BUFFER_BYTES } from './local-cells.js';
import { decodeManifest, encodeManifest } from './manifest.js';
import { RecordsClient } from './records-client.js';
import type { SwarmClient } from './swarm-client.js';

const log = logger('client:fs');

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_ISGID = 0o2000;
const S_IFLNK = 0o120000;
const O_ACCMODE = 3;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const O_RDONLY = 0;
const O_APPEND = 0o2000;

export interface FsOptions {
  replicas: number;
  writeQuorum: number;
  chunkBytes: number;
  /** Files up to this size keep their bytes in the inode record: one record write, no chunk. */
  inlineBytesMax: number;
  /** Dirty bytes buffered across all open files before chunks are written early. */
  writebackBytesMax: number;
  /** Verified chunks kept in memory for reads. */
  cacheBytesMax: number;
  /** How long attributes and directory entries are trusted without asking the swarm (ms). */
  attrTtlMs: number;
  /** Open handles at most (then EMFILE). */
  handlesMax: number;
  /** Owner of new files: the mount cannot see the caller (fuse-native exposes no context). */
  uid: number;
  gid: number;
}

export function defaultFsOptions(placement: { replicas: number; writeQuorum: number; chunkBytes: number }): FsOptions {
  return {
    ...placement,
    inlineBytesMax: 4 * 1024,
    writebackBytesMax: 64 * 1024 * 1024,
    cacheBytesMax: 256 * 1024 * 1024,
    attrTtlMs: 1_000,
    handlesMax: 4_096,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
  };
}

export interface FsStat {
  type: InodeType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Bytes the file occupies: its size, less its holes. */
  storedBytes: number;
  nlink: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

export interface FsStatfs {
  blockBytes: number;
  blocks: number;
  blocksFree: number;
  files: number;
  filesFree: number;
  nameBytesMax: number;
}

/** Chunk uploads running at once per file while it is written (pipelining). */
const UPLOADS_PER_FILE_MAX = 8;
/** Bytes of patches a chunk collects (see ChunkPatches) before it is read and patched at once. */
const PATCH_BYTES_MAX = 256 * 1024;
/**
 * A file with this many patched chunks (1 GiB of 4 MiB chunks) has them
 * stored: the write that gets there waits for it (~4 s here). Fewer means
 * shorter waits, but more of them, and each chunk stored for fewer writes.
 */
const PATCHED_CHUNKS_MAX = 256;
/** Patched chunks read ahead while the patched chunks of a file are stored. */
const PATCH_FETCHES_AHEAD = 4;
/** Chunks fetched ahead of a sequential reader (spread over the cells that hold them: 8 read 10-20% faster than 2 here). */
const READ_AHEAD_CHUNKS = 8;
/** A read this close to where the last one ended continues a sequential reader (see isSequential): two of libfuse's 128 KiB requests. */
const SEQUENTIAL_SLACK_BYTES = 256 * 1024;
/** The random read of a file that prepares range reads of its other chunks (one alone, e.g. a header read, does not)... */
const WARM_AFTER_RANDOM_READS = 2;
/** ...of at most this many chunks. */
const WARM_CHUNKS_MAX = 128;
/**
 * Leaf roots double a chunk map's size; beyond this many chunks (16 GiB at
 * 1 MiB) a map leaves them out, so it still fits one message up to ~60,000
 * chunks, and that file is read by whole chunks only.
 */
const LEAF_ROOTS_CHUNKS_MAX = 16_384;
/** Directories larger than this are not listed for negative lookups (each name is asked instead). */
const LISTING_ENTRIES_MAX = 4_096;

/**
 * An open file changed and not committed for about this long is committed
 * (ms), as the kernel writes back dirty pages after 30 s: it bounds what a
 * crashed mount loses, and how long the chunks it stored wait for a record
 * to name them (garbage collection spares chunks for its grace period only).
 */
const COMMIT_AFTER_MS = 30_000;
const COMMIT_CHECK_MS = 10_000;

/** A file open in this mount: shared by every handle on it, so they see each other's writes. */
interface OpenFile {
  ino: string;
  inode: Inode;
  chunkBytes: number;
  chunks: (ChunkKey | null)[];
  /** Leaf roots of the chunks, where known (range reads; see LEAF_BYTES). */
  roots: (string | null)[];
  /** Small files: their whole content (until written as chunks). */
  inline: Buffer | null;
  /** Chunks changed and not yet stored, by index. */
  dirty: Map<number, DirtyChunk>;
  /** Writes into stored chunks that were not dirty, by index: never a chunk that is also dirty. */
  patches: Map<number, ChunkPatches>;
  uploads: Map<number, Promise<void>>;
  size: number;
  changed: boolean;
  /** Chunks this mount stored for the file since its last commit; any other chunk it names is claimed at the commit. */
  storedSinceCommit: Set<ChunkKey>;
  /** When the periodic check first saw it changed since its last commit (ms), or null. */
  changedSeenMs: number | null;
  unlinked: boolean;
  refs: number;
  /** A file created here and not yet written back: its entry exists only in this mount until the first commit. */
  created: { parent: string; name: string; atMs: number } | null;
  /** Serializes writes, truncates and commits of this file. */
  lock: Promise<void>;
  /** Holders of and waiters for the lock: 0 means a write may proceed without waiting. */
  lockers: number;
  /** Where the last read of it ended (bytes), or -1; and how many reads in a row started near where the one before ended. */
  lastReadEnd: number;
  adjacentReads: number;
  /** Reads not next to the one before (a random reader), counted up to the one that warms the file's chunks. */
  randomReads: number;
  /** When its inode was last read from the swarm (ms): an unchanged open file is brought up to date after attrTtlMs. */
  checkedAtMs: number;
}

/**
 * Writes into a stored chunk that is not dirty, kept as they came until the
 * chunk is needed whole (a read of it, its store, a cut), when it is read
 * once and they are applied in order. Reading the chunk at each such write
 * made a random writer read a whole chunk per write, one at a time, and
 * store about as many (50-57 random 4 KiB writes a second).
 */
interface ChunkPatches {
  parts: { at: number; bytes: Buffer }[];
  bytes: number;
}

/**
 * A chunk's bytes as changed here. The buffer may be shorter than the chunk
 * (the rest is zeros) and grows as writes reach further. Once an upload has
 * started, the buffer is sent as it is, without a copy: it is sealed, and a
 * later write works on a copy.
 */
interface DirtyChunk {
  buf: Buffer;
  version: number;
  sealed: boolean;
  /** The pool buffer `buf` is a view of, if it came from the pool. */
  pooled?: Buffer;
}

interface Handle {
  ino: string;
  writable: boolean;
  /** Opened with O_APPEND: every write goes to the end of the file as this mount knows it, not where the kernel says. */
  append: boolean;
}

interface Resolved {
  ino: string;
  inode: Inode;
  parent: string;
  name: string;
}

/** The leaves covering bytes [within, within + n) of a chunk. */
function leafSpan(within: number, n: number): { first: number; count: number } {
  const first = Math.floor(within / LEAF_BYTES);
  return { first, count: Math.floor((within + n - 1) / LEAF_BYTES) - first + 1 };
}

function splitPath(path: string): string[] {
  return path.split('/').filter((p) => p.length > 0);
}

/**
 * POSIX file system semantics over the swarm: path resolution, inodes and
 * directory entries as quorum-replicated records, file contents as chunks
 * with per-file write-back buffers, read-modify-write of partial chunks,
 * read-ahead and a cache of verified chunks. Close-to-open consistency:
 * open() reads the inode fresh, flush/close writes everything back.
 * Errors are CellErrors whose codes the mount maps to errno.
 */
export class SwarmFs {
  private readonly hlc: HybridClock;
  readonly records: RecordsClient;
  private readonly attrs: LRUCache<string, Inode>;
  private readonly entries: LRUCache<string, Dirent | false>;
  /** Complete listings of directories read (or made) recently: they answer lookups, negative ones too, within the TTL. */
  private readonly listings: LRUCache<string, { atMs: number; names: Map<string, Dirent> }>;
  /** Entries of files created here and not yet committed, by "parent/name" (at most one per open file). */
  private readonly pendingEntries = new Map<string, Dirent>();
  /** Bumped by every local change of an entry: a listing read across a change is not kept. */
  private entriesGen = 0;
  private readonly chunkCache: LRUCache<string, Buffer>;
  private readonly fetching = new Map<string, Promise<Buffer>>();
  /**
   * Buffers for chunks read whole from local cells (shared: hashed on a
   * thread); the chunk cache is the one holder of those lent to it. As many
   * are kept idle as the cache holds chunks: a buffer comes back only when
   * the cache lets go of its chunk, so cached plus idle stays about the
   * cache's size. Keeping 8, a cold sequential read after the cache was
   * emptied read most chunks into fresh memory, each page faulted in and
   * zeroed on the way (~10% slower reads).
   */
  private readonly readBuffers: BufferPool;
  /**
   * Buffers for dirty chunks of the largest size: fresh memory for every
   * chunk cost page faults and garbage collection (~20% of the mount's CPU
   * writing). Lent to the chunk cache once stored, like read ones.
   */
  private readonly dirtyBuffers = new BufferPool(CHUNK_BYTES_MAX, 8, 'plain');
  /** Cached chunks whose upload may still be sending them: not reused before it settles. */
  private readonly unsettled = new WeakMap<Buffer, Promise<unknown>>();
  private readonly files = new Map<string, OpenFile>();
  private readonly handles = new Map<number, Handle>();
  private nextFd = 1;
  private dirtyBytes = 0;
  private readonly zeros: Buffer;
  private readonly commitTimer: NodeJS.Timeout;

  constructor(readonly swarm: SwarmClient, readonly opts: FsOptions) {
    this.hlc = new HybridClock(systemClock, swarm.endpoint.id);
    this.records = new RecordsClient(swarm, opts.replicas);
    this.attrs = new LRUCache({ max: 65_536, ttl: opts.attrTtlMs });
    this.entries = new LRUCache({ max: 65_536, ttl: opts.attrTtlMs });
    this.listings = new LRUCache({ max: 1_024, maxSize: 262_144, sizeCalculation: (l) => l.names.size + 1 });
    this.readBuffers = new BufferPool(LOCAL_READ_BUFFER_BYTES, Math.max(8, Math.floor(opts.cacheBytesMax / LOCAL_READ_BUFFER_BYTES)), 'aligned');
    this.chunkCache = new LRUCache({
      max: 4_096,
      maxSize: opts.cacheBytesMax,
      sizeCalculation: (b) => Math.max(1, b.length),
      // Chunks in the pool's buffers go back to it when dropped (anything else is ignored).
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
    this.zeros = Buffer.alloc(opts.chunkBytes);
    this.commitTimer = setInterval(() => this.commitOld(), COMMIT_CHECK_MS).unref();
  }

  /** Commits open files changed COMMIT_AFTER_MS ago or more, in the background. */
  private commitOld(): void {
    const now = Date.now();
    for (const f of this.files.values()) {
      if (!f.changed || f.unlinked) f.changedSeenMs = null;
      else if (f.changedSeenMs === null) f.changedSeenMs = now;
      else if (now - f.changedSeenMs >= COMMIT_AFTER_MS - COMMIT_CHECK_MS) {
        f.changedSeenMs = null;
        this.locked(f, () => this.commitLocked(f)).catch((err: Error) => log('periodic commit of inode %s failed: %s', f.ino, err.message));
      }
    }
  }

  /** Makes the root directory if the swarm has none, and learns which cells this machine can read from directly. */
  async init(): Promise<void> {
    await Promise.all([this.makeRoot(), this.swarm.prepareLocal()]);
  }

  private async makeRoot(): Promise<void> {
    const root = await this.records.get(inodeKey(ROOT_INO));
    if (root && root.d) return;
    const now = Date.now();
    await this.putInode(ROOT_INO, {
      type: 'dir',
      mode: S_IFDIR | 0o755,
      uid: this.opts.uid,
      gid: this.opts.gid,
      size: 4096,
      atimeMs: now,
      mtimeMs: now,
      ctimeMs: now,
      parent: ROOT_INO,
    });
  }

  // ---- records ----

  private envelope(k: string, d: unknown): RecordEnvelope {
    return { k, v: this.hlc.now(), d };
  }

  private async putInode(ino: string, inode: Inode | null): Promise<void> {
    await this.records.put([this.envelope(inodeKey(ino), inode)]);
    if (inode) this.attrs.set(ino, inode);
    else this.attrs.delete(ino);
  }

  private async loadInode(ino: string, fresh = false): Promise<Inode | null> {
    if (!fresh) {
      const cached = this.attrs.get(ino);
      if (cached) return cached;
    }
    const rec = await this.records.get(inodeKey(ino));
    if (rec) this.hlc.observe(rec.v);
    const inode = (rec?.d as Inode | null) ?? null;
    if (inode) this.attrs.set(ino, inode);
    return inode;
  }

  /**
   * A directory entry: from this mount's uncommitted creations, the entry
   * cache, a fresh listing of the directory, or the swarm. A directory listed
   * before whose listing has aged is listed again rather than asked name by
   * name: a directory being filled answers its negative lookups locally.
   */
  private async lookup(parent: string, name: string): Promise<Dirent | null> {
    const known = this.entryAtHand(parent, name);
    if (known !== undefined) return known;
    if (this.listings.has(parent)) return (await this.list(parent)).get(name) ?? null;
    return this.lookupFresh(parent, name);
  }

  /** The entry as lookup would answer it from what this mount holds (null: no such name), or undefined when the swarm must be asked. */
  private entryAtHand(parent: string, name: string): Dirent | null | undefined {
    const key = `${parent}/${name}`;
    const pending = this.pendingEntries.get(key);
    if (pending) return pending;
    const cached = this.entries.get(key);
    if (cached !== undefined) return cached || null;
    const listing = this.listings.get(parent);
    if (listing && Date.now() - listing.atMs < this.opts.attrTtlMs) return listing.names.get(name) ?? null;
    return undefined;
  }

  /** Reads a directory's entries from the swarm and keeps them as its listing (unless it is large or changed meanwhile). */
  private async list(dir: string): Promise<Map<string, Dirent>> {
    const gen = this.entriesGen;
    const atMs = Date.now();
    const prefix = direntPrefix(dir);
    const names = new Map<string, Dirent>();
    for (const rec of await this.records.scan(prefix)) {
      this.hlc.observe(rec.v);
      if (rec.d) names.set(rec.k.slice(prefix.length), rec.d as Dirent);
    }
    if (gen === this.entriesGen && names.size <= LISTING_ENTRIES_MAX) this.listings.set(dir, { atMs, names });
    else this.listings.delete(dir);
    return names;
  }

  /** Records a change this mount made to an entry in every cache that holds it. */
  private noteEntry(parent: string, name: string, d: Dirent | null): void {
    this.entriesGen++;
    this.entries.set(`${parent}/${name}`, d ?? false);
    const listing = this.listings.get(parent);
    if (d) listing?.names.set(name, d);
    else listing?.names.delete(name);
  }

  /** Path to inode; `fresh` re-reads the final inode from the swarm (open: close-to-open consistency). */
  private async resolve(path: string, fresh = false): Promise<Resolved> {
    const known = fresh ? undefined : this.resolveAtHand(path);
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
      const open = this.files.get(ino);
      inode = open ? open.inode : await this.loadInode(ino, fresh && i === parts.length - 1);
      if (!inode) {
        // A cached entry naming an inode that is gone: the name was replaced meanwhile (a rename over it,
        // here or in another mount). Ask for the entry itself, once, as an NFS client does on ESTALE.
        const again = await this.lookupFresh(parent, part);
        if (!again || again.ino === ino) throw fsError('NO_ENTRY', path);
        ino = again.ino;
        inode = this.files.get(ino)?.inode ?? (await this.loadInode(ino, true));
        if (!inode) throw fsError('NO_ENTRY', path);
      }
    }
    return { ino, inode, parent, name };
  }

  /**
   * resolve() from what this mount holds (entries, listings, attributes,
   * open files), failing as it does; undefined when the swarm must be asked.
   */
  private resolveAtHand(path: string): Resolved | undefined {
    let ino = ROOT_INO;
    let parent = ROOT_INO;
    let name = '';
    let inode = this.attrs.get(ino);
    if (!inode) return undefined;
    for (const part of splitPath(path)) {
      if (Buffer.byteLength(part) > NAME_BYTES_MAX) throw fsError('NAME_TOO_LONG', path);
      if (inode.type !== 'dir') throw fsError('NOT_A_DIRECTORY', path);
      const d = this.entryAtHand(ino, part);
      if (d === undefined) return undefined;
      if (d === null) throw fsError('NO_ENTRY', path);
      parent = ino;
      name = part;
      ino = d.ino;
      inode = this.files.get(ino)?.inode ?? this.attrs.get(ino);
      if (!inode) return undefined;
    }
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
  private async resolveParent(path: string): Promise<{ parent: string; name: string; dir: Inode }> {
    const parts = splitPath(path);
    const name = parts.pop();
    if (!name) throw fsError('ENTRY_EXISTS', path);
    if (Buffer.byteLength(name) > NAME_BYTES_MAX) throw fsError('NAME_TOO_LONG', path);
    const dir = await this.resolve('/' + parts.join('/'));
    if (dir.inode.type !== 'dir') throw fsError('NOT_A_DIRECTORY', path);
    return { parent: dir.ino, name, dir: dir.inode };
  }

  private async newNode(path: string, inode: Inode): Promise<string> {
    const { parent, name, dir } = await this.resolveParent(path);
    if (await this.lookup(parent, name)) throw fsError('ENTRY_EXISTS', path);
    inheritGroup(inode, dir);
    let ino: string;
    if (inode.type === 'dir') {
      // The entry as the swarm has it (a quorum read): its tombstone's version names the new directory.
      const rec = await this.records.get(direntKey(parent, name));
      if (rec?.d) {
        // Made meanwhile by another mount: known from now on (mkdir -p goes on to stat it).
        this.noteEntry(parent, name, rec.d as Dirent);
        throw fsError('ENTRY_EXISTS', path);
      }
      ino = dirInoOf(parent, name, rec?.v ?? null);
      inode.parent = parent;
    } else ino = newIno(inode.type, parent);
    // All records in one parallel write: an entry whose inode is missing reads as absent.
    await this.records.put([
      this.envelope(inodeKey(ino), inode),
      this.envelope(direntKey(parent, name), { ino, type: inode.type } satisfies Dirent),
      ...(await this.touchedDir(parent)),
    ]);
    this.attrs.set(ino, inode);
    this.noteEntry(parent, name, { ino, type: inode.type });
    // A new directory is known to be empty.
    if (inode.type === 'dir') this.listings.set(ino, { atMs: Date.now(), names: new Map() });
    return ino;
  }

  /**
   * A directory's mtime changes when its entries do: the record to write along
   * with the change. `atMs`: when the entry changed, if before now (a file made
   * here is entered at its first commit, after its writes: its directory must
   * not look newer than it, as `find -newer` would show).
   */
  private async touchedDir(ino: string, atMs = Date.now()): Promise<RecordEnvelope[]> {
    const dir = await this.loadInode(ino);
    if (!dir) return [];
    const at = Math.max(atMs, dir.mtimeMs);
    const touched = { ...dir, mtimeMs: at, ctimeMs: Math.max(atMs, dir.ctimeMs) };
    this.attrs.set(ino, touched);
    return [this.envelope(inodeKey(ino), touched)];
  }

  private newInode(type: InodeType, mode: number): Inode {
    const now = Date.now();
    const typeBits = type === 'dir' ? S_IFDIR : type === 'symlink' ? S_IFLNK : S_IFREG;
    return {
      type,
      mode: typeBits | (mode & 0o7777),
      uid: this.opts.uid,
      gid: this.opts.gid,
      size: type === 'dir' ? 4096 : 0,
      atimeMs: now,
      mtimeMs: now,
      ctimeMs: now,
    };
  }

  // ---- metadata operations ----

  async getattr(path: string): Promise<FsStat> {
    const r = await this.resolve(path);
    const open = this.files.get(r.ino);
    if (open) await this.refreshOpen(open, false);
    return this.statOf(r.ino, open?.inode ?? r.inode);
  }

  /**
   * getattr answered from what this mount holds, without a promise in
   * between (as readAtHand does for reads), or undefined when the swarm must
   * be asked. Three of a small file's eight FUSE requests are getattrs that
   * this answers (the kernel's lookups of a new name, of the file just
   * created, of its directory). A missing name throws as getattr does.
   */
  getattrAtHand(path: string): FsStat | undefined {
    const r = this.resolveAtHand(path);
    const open = r && this.files.get(r.ino);
    if (!r || (open && this.needsRefresh(open))) return undefined;
    return this.statOf(r.ino, open?.inode ?? r.inode);
  }

  /** getxattr from what this mount holds, or undefined (see getattrAtHand): the kernel asks for security.capability at every first write of a file. */
  getxattrAtHand(path: string, name: string): Buffer | undefined {
    const r = this.resolveAtHand(path);
    return r && this.xattrOf(r, name, path);
  }

  async fgetattr(fd: number): Promise<FsStat> {
    const f = this.fileOf(fd);
    await this.refreshOpen(f, false);
    return this.statOf(f.ino, f.inode);
  }

  private statOf(ino: string, inode: Inode): FsStat {
    const open = this.files.get(ino);
    return {
      type: inode.type,
      mode: inode.mode,
      uid: inode.uid,
      gid: inode.gid,
      size: open ? open.size : inode.size,
      // A symlink's target lives in its inode record, as a fast symlink's in an ext4 inode: no blocks.
      storedBytes: inode.type === 'symlink' ? 0 : open?.changed ? this.storedBytesOf(open) : (inode.storedBytes ?? inode.size),
      nlink: inode.type === 'dir' ? 2 : 1,
      atimeMs: inode.atimeMs,
      mtimeMs: inode.mtimeMs,
      ctimeMs: inode.ctimeMs,
    };
  }

  /** An open file's bytes outside holes: every chunk stored or dirty, counted at its length. */
  private storedBytesOf(f: OpenFile): number {
    if (f.inline) return f.size;
    let n = 0;
    for (let i = 0; i * f.chunkBytes < f.size; i++) if (f.chunks[i] || f.dirty.has(i)) n += Math.min(f.chunkBytes, f.size - i * f.chunkBytes);
    return n;
  }

  async readdir(path: string): Promise<string[]> {
    const r = await this.resolve(path);
    if (r.inode.type !== 'dir') throw fsError('NOT_A_DIRECTORY', path);
    const names = ['.', '..', ...(await this.list(r.ino)).keys()];
    const prefix = `${r.ino}/`;
    for (const key of this.pendingEntries.keys()) if (key.startsWith(prefix)) names.push(key.slice(prefix.length));
    return names;
  }

  async mkdir(path: string, mode: number): Promise<void> {
    await this.newNode(path, this.newInode('dir', mode));
  }

  async rmdir(path: string): Promise<void> {
    const r = await this.resolve(path);
    if (r.inode.type !== 'dir') throw fsError('NOT_A_DIRECTORY', path);
    if (r.ino === ROOT_INO) throw fsError('NOT_PERMITTED', path);
    if ((await this.readdir(path)).length > 2) throw fsError('DIRECTORY_NOT_EMPTY', path);
    await this.removeNode(r);
  }

  async unlink(path: string): Promise<void> {
    const r = await this.resolve(path);
    if (r.inode.type === 'dir') throw fsError('IS_A_DIRECTORY', path);
    await this.materialize(r.ino);
    await this.removeNode(r);
    const open = this.files.get(r.ino);
    // An open file stays readable and writable through its handles, but is not written back.
    if (open) open.unlinked = true;
  }

  /** Tombstones an entry and its inode, and touches the directory, in one parallel write. */
  private async removeNode(r: Resolved): Promise<void> {
    await this.records.put([this.envelope(direntKey(r.parent, r.name), null), this.envelope(inodeKey(r.ino), null), ...(await this.touchedDir(r.parent))]);
    this.noteEntry(r.parent, r.name, null);
    this.attrs.delete(r.ino);
  }

  async symlink(target: string, path: string): Promise<void> {
    const inode = this.newInode('symlink', 0o777);
    inode.target = target;
    inode.size = Buffer.byteLength(target);
    await this.newNode(path, inode);
  }

  async readlink(path: string): Promise<string> {
    const r = await this.resolve(path);
    if (r.inode.type !== 'symlink') throw fsError('INVALID_ARGUMENT', path);
    return r.inode.target ?? '';
  }

  /** Hard links are not supported: each inode has exactly one entry (documented; EPERM, as on many file systems). */
  async link(_src: string, dest: string): Promise<void> {
    throw fsError('NOT_PERMITTED', dest);
  }

  async rename(src: string, dest: string): Promise<void> {
    const from = await this.resolve(src);
    if (from.ino === ROOT_INO) throw fsError('INVALID_ARGUMENT', src);
    const to = await this.resolveParent(dest);
    if (to.parent === from.parent && to.name === from.name) return;
    await this.materialize(from.ino);
    if (from.inode.type === 'dir') {
      // Refuse to move a directory below itself.
      for (let ino = to.parent, hops = 0; ino !== ROOT_INO && hops < 4096; hops++) {
        if (ino === from.ino) throw fsError('INVALID_ARGUMENT', dest);
        ino = (await this.loadInode(ino))?.parent ?? ROOT_INO;
      }
      if (to.parent === from.ino) throw fsError('INVALID_ARGUMENT', dest);
    }
    const existing = await this.lookup(to.parent, to.name);
    const writes: RecordEnvelope[] = [];
    if (existing) {
      await this.materialize(existing.ino);
      const old = await this.loadInode(existing.ino);
      if (old) {
        if (from.inode.type === 'dir' && old.type !== 'dir') throw fsError('NOT_A_DIRECTORY', dest);
        if (from.inode.type !== 'dir' && old.type === 'dir') throw fsError('IS_A_DIRECTORY', dest);
        if (old.type === 'dir' && (await this.records.scan(direntPrefix(existing.ino))).some((r) => r.d)) {
          throw fsError('DIRECTORY_NOT_EMPTY', dest);
        }
        writes.push(this.envelope(inodeKey(existing.ino), null));
        const open = this.files.get(existing.ino);
        if (open) open.unlinked = true;
      }
    }
    writes.push(this.envelope(direntKey(to.parent, to.name), { ino: from.ino, type: from.inode.type } satisfies Dirent));
    writes.push(this.envelope(direntKey(from.parent, from.name), null));
    if (from.inode.type === 'dir') {
      const moved = { ...from.inode, parent: to.parent, ctimeMs: Date.now() };
      writes.push(this.envelope(inodeKey(from.ino), moved));
      this.attrs.set(from.ino, moved);
    }
    writes.push(...(await this.touchedDir(from.parent)));
    if (to.parent !== from.parent) writes.push(...(await this.touchedDir(to.parent)));
    await this.records.put(writes);
    // Only now: until the records are written, a reader here still finds the old file whole (rename is atomic).
    if (existing) this.attrs.delete(existing.ino);
    this.noteEntry(to.parent, to.name, { ino: from.ino, type: from.inode.type });
    this.noteEntry(from.parent, from.name, null);
  }

  private async updateInode(path: string, change: (inode: Inode) => void): Promise<void> {
    const r = await this.resolve(path, true);
    await this.materialize(r.ino);
    const update = async () => {
      const open = this.files.get(r.ino);
      const inode = { ...(open?.inode ?? r.inode) };
      change(inode);
      inode.ctimeMs = Date.now();
      if (open) open.inode = inode;
      await this.putInode(r.ino, inode);
    };
    // An open file's commits (the early one of a small file runs in the background) write its whole
    // inode: a change between them must not be overwritten with what a commit read before it (tar's utimens).
    const open = this.files.get(r.ino);
    await (open ? this.locked(open, update) : update());
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
    if (!/^(user|trusted|security)\../.test(name)) throw fsError('NOT_SUPPORTED', `${path}: ${name}`);
    await this.updateInode(path, (i) => {
      const exists = i.xattrs?.[name] !== undefined;
      if (flags & XATTR_CREATE && exists) throw fsError('ENTRY_EXISTS', `${path}: ${name}`);
      if (flags & XATTR_REPLACE && !exists) throw fsError('NO_ATTRIBUTE', `${path}: ${name}`);
      i.xattrs = { ...i.xattrs, [name]: value.toString('base64') };
    });
  }

  async getxattr(path: string, name: string): Promise<Buffer> {
    return this.xattrOf(await this.resolve(path), name, path);
  }

  private xattrOf(r: Resolved, name: string, path: string): Buffer {
    const v = r.inode.xattrs?.[name];
    if (v === undefined) throw fsError('NO_ATTRIBUTE', path);
    return Buffer.from(v, 'base64');
  }

  async listxattr(path: string): Promise<string[]> {
    return Object.keys((await this.resolve(path)).inode.xattrs ?? {});
  }

  async removexattr(path: string, name: string): Promise<void> {
    let found = false;
    await this.updateInode(path, (i) => {
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
    const storage = (await this.swarm.members()).filter(isLiveStorage);
    const capacity = storage.reduce((s, m) => s + m.capacityBytes, 0) / this.opts.replicas;
    const used = storage.reduce((s, m) => s + m.bytes, 0) / this.opts.replicas;
    const blockBytes = 4096;
    return {
      blockBytes,
      blocks: Math.floor(capacity / blockBytes),
      blocksFree: Math.max(0, Math.floor((capacity - used) / blockBytes)),
      files: 1_000_000_000,
      filesFree: 1_000_000_000,
      nameBytesMax: NAME_BYTES_MAX,
    };
  }

  // ---- open files ----

  private fileOf(fd: number): OpenFile {
    const h = this.handles.get(fd);
    const f = h && this.files.get(h.ino);
    if (!f) throw fsError('BAD_HANDLE', `fd ${fd}`);
    return f;
  }

  private async openFile(ino: string, inode: Inode): Promise<OpenFile> {
    const existing = this.files.get(ino);
    if (existing) {
      existing.refs++;
      return existing;
    }
    const { chunks, roots, chunkBytes } = await this.chunkMapOf(ino, inode);
    const raced = this.files.get(ino);
    if (raced) {
      raced.refs++;
      return raced;
    }
    const f: OpenFile = {
      ino,
      inode,
      chunkBytes,
      chunks,
      roots,
      inline: inode.inline !== undefined ? Buffer.from(inode.inline, 'base64') : null,
      dirty: new Map(),
      patches: new Map(),
      uploads: new Map(),
      size: inode.size,
      changed: false,
      storedSinceCommit: new Set(),
      changedSeenMs: null,
      unlinked: false,
      refs: 1,
      created: null,
      lock: Promise.resolve(),
      lockers: 0,
      lastReadEnd: -1,
      adjacentReads: 0,
      randomReads: 0,
      checkedAtMs: Date.now(),
    };
    this.files.set(ino, f);
    return f;
  }

  private async chunkMapOf(ino: string, inode: Inode): Promise<{ chunks: (ChunkKey | null)[]; roots: (string | null)[]; chunkBytes: number }> {
    if (!inode.manifest) return { chunks: [], roots: [], chunkBytes: this.opts.chunkBytes };
    const m = decodeManifest(await this.fetchChunk(inode.manifest));
    if (!m) throw new CellError('CHUNK_CORRUPT', `the chunk map of inode ${ino} is damaged`);
    return { chunks: m.chunks, roots: m.roots ?? [], chunkBytes: m.chunkBytes };
  }

  /** True if an open file's inode is to be read again: it has nothing unwritten, and was last read over the attribute TTL ago. */
  private needsRefresh(f: OpenFile, always = false): boolean {
    return isClean(f) && (always || Date.now() - f.checkedAtMs >= this.opts.attrTtlMs);
  }

  /**
   * Brings a file open here, and not changed here, up to date with the swarm:
   * another mount may have written it since (close-to-open consistency for a
   * new open, and attributes that age as for any file: `tail -f` of a file
   * another mount appends to). A file with changes of its own keeps them.
   */
  private async refreshOpen(f: OpenFile, always: boolean): Promise<void> {
    if (!this.needsRefresh(f, always)) return;
    await this.locked(f, async () => {
      if (!isClean(f)) return;
      const inode = await this.loadInode(f.ino, true);
      f.checkedAtMs = Date.now();
      if (!inode || !isClean(f)) return;
      if (inode.manifest !== f.inode.manifest || inode.inline !== f.inode.inline || inode.size !== f.inode.size) {
        Object.assign(f, await this.chunkMapOf(f.ino, inode));
        f.inline = inode.inline !== undefined ? Buffer.from(inode.inline, 'base64') : null;
        f.size = inode.size;
      }
      f.inode = inode;
    });
  }

  private addHandle(ino: string, writable: boolean, append = false): number {
    if (this.handles.size >= this.opts.handlesMax) throw fsError('TOO_MANY_OPEN', `inode ${ino}`);
    while (this.handles.has(this.nextFd)) this.nextFd = (this.nextFd % 0x7fffffff) + 1;
    const fd = this.nextFd;
    this.nextFd = (this.nextFd % 0x7fffffff) + 1;
    this.handles.set(fd, { ino, writable, append });
    return fd;
  }

  /**
   * A new file exists only in this mount until its first commit (flush or
   * close), which writes its inode, its entry and its directory in one
   * record write: creating a small file costs one round trip to the swarm.
   */
  async create(path: string, mode: number): Promise<number> {
    const { parent, name, dir } = await this.resolveParent(path);
    if (await this.lookup(parent, name)) throw fsError('ENTRY_EXISTS', path);
    const inode = this.newInode('file', mode);
    inheritGroup(inode, dir);
    const ino = newIno('file', parent);
    const f = await this.openFile(ino, inode);
    const fd = this.addHandle(ino, true);
    f.created = { parent, name, atMs: inode.ctimeMs };
    f.changed = true;
    this.pendingEntries.set(`${parent}/${name}`, { ino, type: 'file' });
    this.entriesGen++;
    return fd;
  }

  /** Writes back a file that exists only in this mount, before a change that needs its records in the swarm. */
  private async materialize(ino: string): Promise<void> {
    const f = this.files.get(ino);
    if (f?.created) await this.locked(f, () => this.commitLocked(f));
  }

  async open(path: string, flags: number): Promise<number> {
    const r = await this.resolve(path, true);
    const writable = (flags & O_ACCMODE) !== O_RDONLY;
    if (r.inode.type === 'dir' && writable) throw fsError('IS_A_DIRECTORY', path);
    const wasOpen = this.files.get(r.ino);
    const f = await this.openFile(r.ino, r.inode);
    if (f === wasOpen) await this.refreshOpen(f, true);
    return this.addHandle(r.ino, writable, (flags & O_APPEND) !== 0);
  }

  /** Runs fn with the file's lock held: writes, truncates and commits of one file never interleave. */
  private async locked<T>(f: OpenFile, fn: () => Promise<T>): Promise<T> {
    const prev = f.lock;
    let release!: () => void;
    f.lock = new Promise<void>((r) => (release = r));
    f.lockers++;
    await prev;
    try {
      return await fn();
    } finally {
      f.lockers--;
      release();
    }
  }

  private chunkLength(f: OpenFile, index: number): number {
    return Math.max(0, Math.min(f.chunkBytes, f.size - index * f.chunkBytes));
  }

  private async fetchChunk(key: ChunkKey): Promise<Buffer> {
    const cached = this.chunkCache.get(key);
    if (cached) return cached;
    let p = this.fetching.get(key);
    if (!p) {
      p = this.swarm.getChunk(key, this.readBuffers).then(
        (data) => {
          this.chunkCache.set(key, data);
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

  /** The current bytes of chunk `index` (dirty, inline, stored or a hole), at least `length` long. */
  private async chunkContent(f: OpenFile, index: number): Promise<Buffer> {
    if (f.patches.has(index)) await this.applyPatches(f, index);
    return this.chunkAtHand(f, index) ?? this.fetchChunk(f.chunks[index]!);
  }

  /** The current bytes of chunk `index` if they are in memory (dirty, inline, cached or a hole), else null. */
  private chunkAtHand(f: OpenFile, index: number): Buffer | null {
    if (f.patches.has(index)) return null;
    const d = f.dirty.get(index);
    if (d) return d.buf;
    if (f.inline && index === 0) return f.inline;
    const key = f.chunks[index];
    if (!key) return this.zeros;
    return this.chunkCache.get(key) ?? null;
  }

  /** Reads what readAtHand could not (the mount tries that first), fetching what it must. */
  async read(fd: number, out: Buffer, length: number, position: number): Promise<number> {
    const f = this.fileOf(fd);
    const end = Math.min(f.size, position + length);
    const sequential = this.isSequential(f, position);
    let copied = 0;
    for (let pos = position; pos < end; ) {
      const index = Math.floor(pos / f.chunkBytes);
      const within = pos - index * f.chunkBytes;
      const n = Math.min(end - pos, f.chunkBytes - within);
      // A random read of a chunk not at hand fetches only the leaves it needs; anything else, the whole chunk.
      const leaves = sequential ? null : await this.leavesAt(f, index, within, n);
      const src = leaves?.bytes ?? (await this.chunkContent(f, index));
      copyOut(src, within - (leaves?.offset ?? 0), n, out, copied);
      copied += n;
      pos += n;
    }
    this.afterRead(f, position, copied, sequential);
    return copied;
  }

  /**
   * The read done at once when every chunk it touches is in memory (a
   * sequential reader's usual case, thanks to read-ahead) or, for a random
   * read, its leaves can be read at once from a cell on this machine. The
   * mount answers these without a promise in between. Null when something
   * must be fetched.
   */
  readAtHand(fd: number, out: Buffer, length: number, position: number): number | null {
    const f = this.fileOf(fd);
    const end = Math.min(f.size, position + length);
    const sequential = this.isSequential(f, position);
    const sources: { bytes: Buffer; offset: number }[] = [];
    for (let pos = position; pos < end; ) {
      const index = Math.floor(pos / f.chunkBytes);
      const within = pos - index * f.chunkBytes;
      const n = Math.min(end - pos, f.chunkBytes - within);
      const whole = this.chunkAtHand(f, index);
      const src = whole ? { bytes: whole, offset: 0 } : sequential ? null : this.leavesNow(f, index, within, n);
      if (!src) return null;
      sources.push(src);
      pos += n;
    }
    let copied = 0;
    for (let pos = position, i = 0; pos < end; i++) {
      const index = Math.floor(pos / f.chunkBytes);
      const within = pos - index * f.chunkBytes;
      const n = Math.min(end - pos, f.chunkBytes - within);
      copyOut(sources[i]!.bytes, within - sources[i]!.offset, n, out, copied);
      copied += n;
      pos += n;
    }
    this.afterRead(f, position, copied, sequential);
    return copied;
  }

  /**
   * A read of a sequential reader: the second in a row (at least) to start
   * near where the one before ended, or at the file's start. The kernel's
   * read-ahead sends a sequential reader's requests a few at a time, and
   * libfuse's threads may hand them over out of order, hence "near". One
   * such read alone is not enough: random reads land next to the last one
   * now and then, and each time read whole chunks and 8 MiB ahead (counting
   * the same or the next chunk as sequential did that about once every 250
   * reads of a 512 MiB file).
   */
  private isSequential(f: OpenFile, position: number): boolean {
    return this.isAdjacent(f, position) && f.adjacentReads >= 1;
  }

  private isAdjacent(f: OpenFile, position: number): boolean {
    return f.lastReadEnd === -1 ? position === 0 : Math.abs(position - f.lastReadEnd) <= SEQUENTIAL_SLACK_BYTES;
  }

  private afterRead(f: OpenFile, position: number, length: number, sequential: boolean): void {
    f.adjacentReads = this.isAdjacent(f, position) ? f.adjacentReads + 1 : 0;
    // After this read is answered: working out and starting up to WARM_CHUNKS_MAX chunks' preparation took ~2 ms.
    if (f.adjacentReads === 0 && ++f.randomReads === WARM_AFTER_RANDOM_READS) setImmediate(() => this.warmRanges(f));
    f.lastReadEnd = Math.max(position + length, sequential ? f.lastReadEnd : 0);
    if (sequential && length > 0) this.readAhead(f, Math.floor((position + length - 1) / f.chunkBytes));
  }

  /**
   * The leaves of a stored chunk covering [within, within + n), checked
   * against the chunk's leaf root, with the chunk offset they start at; null
   * when the chunk is at hand, has no known root, or the range read failed
   * (the caller then reads the whole chunk).
   */
  private async leavesAt(f: OpenFile, index: number, within: number, n: number): Promise<{ bytes: Buffer; offset: number } | null> {
    const stored = this.storedForRange(f, index);
    if (!stored || this.chunkCache.has(stored.key)) return null;
    const { key, root } = stored;
    const { first, count } = leafSpan(within, n);
    try {
      return { bytes: await this.swarm.getChunkLeaves(key, root, first, count), offset: first * LEAF_BYTES };
    } catch (err) {
      log('range read of chunk %s failed (%s); reading it whole', key.slice(0, 12), (err as Error).message);
      return null;
    }
  }

  /** The leaves leavesAt would fetch, read at once from a cell on this machine (SwarmClient.chunkLeavesNow), or null. */
  private leavesNow(f: OpenFile, index: number, within: number, n: number): { bytes: Buffer; offset: number } | null {
    const stored = this.storedForRange(f, index);
    if (!stored) return null;
    const { first, count } = leafSpan(within, n);
    const bytes = this.swarm.chunkLeavesNow(stored.key, stored.root, first, count);
    return bytes && { bytes, offset: first * LEAF_BYTES };
  }

  /** Chunk `index` as stored, if a range of it can be read: its key and leaf root (known, not changed here, not being fetched whole). */
  private storedForRange(f: OpenFile, index: number): { key: ChunkKey; root: string } | null {
    const key = f.chunks[index];
    const root = f.roots[index];
    if (!key || !root || f.dirty.has(index) || f.patches.has(index) || (f.inline && index === 0) || this.fetching.has(key)) return null;
    return { key, root };
  }

  /**
   * A random reader comes back for most of its file's chunks: their range
   * reads are prepared now, in the background (SwarmClient.warmRanges), up
   * to WARM_CHUNKS_MAX chunks from the one just read.
   */
  private warmRanges(f: OpenFile): void {
    const chunks: { key: ChunkKey; root: string }[] = [];
    const from = Math.floor(Math.max(0, f.lastReadEnd - 1) / f.chunkBytes);
    for (let n = 0; n < f.chunks.length && chunks.length < WARM_CHUNKS_MAX; n++) {
      const stored = this.storedForRange(f, (from + n) % f.chunks.length);
      if (stored && !this.chunkCache.has(stored.key)) chunks.push(stored);
    }
    if (chunks.length > 0) this.swarm.warmRanges(chunks);
  }

  /** Sequential reading of chunk i fetches the next chunks in the background. */
  private readAhead(f: OpenFile, index: number): void {
    for (let i = index + 1; i <= index + READ_AHEAD_CHUNKS && i < f.chunks.length; i++) {
      const key = f.chunks[i];
      // The debug line is what tests watch for: a chunk in memory ahead of its reader.
      if (key && !f.dirty.has(i) && !this.chunkCache.has(key)) this.fetchChunk(key).then(() => log('chunk %k read ahead', key), () => {});
    }
  }

  async write(fd: number, data: Buffer, length: number, position: number): Promise<number> {
    const h = this.handles.get(fd);
    if (!h?.writable) throw fsError('BAD_HANDLE', `fd ${fd}`);
    const f = this.fileOf(fd);
    if (length === 0) return 0;
    // The kernel places an append at the end of the file as it last heard of it, which another mount may have moved since.
    const at = () => (h.append ? f.size : position);
    // FUSE reuses its buffer once we yield. With the file idle, a write into a stored chunk becomes a patch
    // of it, and one whose chunks are at hand (a sequential writer) goes straight into them; otherwise the
    // bytes are copied and wait their turn.
    const start = at();
    const bytesNow = data.subarray(0, length);
    if (f.lockers === 0 && (this.patchNow(f, bytesNow, start, true) || this.copyInAtHand(f, bytesNow, start))) {
      await this.locked(f, () => this.afterWrite(f, start, length));
    } else {
      const bytes = Buffer.from(bytesNow);
      await this.locked(f, async () => {
        const pos = at();
        if (!this.patchNow(f, bytes, pos, false)) {
          await this.fetchSources(f, pos, length);
          this.copyInNow(f, bytes, pos);
        }
        await this.afterWrite(f, pos, length);
      });
    }
    // A small file just created here is most likely complete: its commit starts now, overlapping the
    // round trips to the close that follows (whose flush then finds it done or under way).
    if (f.created && f.size <= this.opts.inlineBytesMax) {
      this.locked(f, () => this.commitLocked(f)).catch((err: Error) => log('early commit of inode %s failed: %s', f.ino, err.message));
    }
    return length;
  }

  /** Copies a write into its chunks if none has to be fetched first: false if one would. */
  private copyInAtHand(f: OpenFile, bytes: Buffer, position: number): boolean {
    for (let i = Math.floor(position / f.chunkBytes); i * f.chunkBytes < position + Math.max(1, bytes.length); i++) {
      if (this.chunkSource(f, i, position, bytes.length) === undefined) return false;
    }
    this.copyInNow(f, bytes, position);
    return true;
  }

  /** Read-modify-write: makes dirty, from their stored bytes, the chunks a partial write (or a cut, length 0) needs that are not in memory. */
  private async fetchSources(f: OpenFile, position: number, length: number): Promise<void> {
    for (let i = Math.floor(position / f.chunkBytes); i * f.chunkBytes < position + Math.max(1, length); i++) {
      if (f.patches.has(i)) await this.applyPatches(f, i);
      if (this.chunkSource(f, i, position, length) === undefined) this.makeDirty(f, i, await this.chunkContent(f, i), 0);
    }
  }

  /**
   * A write inside one stored chunk that is not dirty, kept as a patch of it
   * (see ChunkPatches), copied first if `copy` (FUSE reuses its buffer):
   * false if it cannot be. A chunk in the cache is patched too: made dirty,
   * it would take a whole chunk of the write-back budget, and be stored
   * once the budget is full, for a few writes each.
   */
  private patchNow(f: OpenFile, bytes: Buffer, position: number, copy: boolean): boolean {
    const index = Math.floor(position / f.chunkBytes);
    const within = position - index * f.chunkBytes;
    if (within + bytes.length > f.chunkBytes || (f.inline && index === 0) || this.chunkSource(f, index, position, bytes.length) === null) return false;
    const p = f.patches.get(index) ?? { parts: [], bytes: 0 };
    if (p.bytes + bytes.length > PATCH_BYTES_MAX) return false;
    p.parts.push({ at: within, bytes: copy ? Buffer.from(bytes) : bytes });
    p.bytes += bytes.length;
    f.patches.set(index, p);
    this.dirtyBytes += bytes.length;
    f.size = Math.max(f.size, position + bytes.length);
    return true;
  }

  /** Makes a patched chunk dirty: its stored bytes, then its patches in the order they were written. */
  private async applyPatches(f: OpenFile, index: number): Promise<void> {
    const base = await this.fetchChunk(f.chunks[index]!);
    // Whoever resumes first applies them (a read and a write may both have asked).
    const p = f.patches.get(index);
    if (!p) return;
    this.dropPatches(f, index);
    this.makeDirty(f, index, base, 0);
    for (const { at, bytes } of p.parts) {
      const d = this.writableChunk(f, index, at, at + bytes.length);
      bytes.copy(d.buf, at);
      d.version++;
    }
  }

  private dropPatches(f: OpenFile, index: number): void {
    this.dirtyBytes -= f.patches.get(index)?.bytes ?? 0;
    f.patches.delete(index);
  }

  /** Applies the patches of a file chunk by chunk and starts storing each, reading the next few chunks meanwhile. */
  private async storePatches(f: OpenFile): Promise<void> {
    const indices = [...f.patches.keys()].sort((a, b) => a - b);
    for (const [n, index] of indices.entries()) {
      for (const next of indices.slice(n + 1, n + 1 + PATCH_FETCHES_AHEAD)) {
        if (f.patches.has(next)) this.fetchChunk(f.chunks[next]!).catch(() => {});
      }
      if (f.patches.has(index)) await this.applyPatches(f, index);
      await this.startUpload(f, index);
    }
  }

  private copyInNow(f: OpenFile, bytes: Buffer, position: number): void {
    for (let done = 0; done < bytes.length; ) {
      const pos = position + done;
      const index = Math.floor(pos / f.chunkBytes);
      const within = pos - index * f.chunkBytes;
      const n = Math.min(bytes.length - done, f.chunkBytes - within);
      const chunk = this.writableChunk(f, index, within, within + n);
      bytes.copy(chunk.buf, within, done, done + n);
      chunk.version++;
      done += n;
      f.size = Math.max(f.size, pos + n);
    }
  }

  /** What follows a write: chunks written to their end are stored now (overlapping the next writes); the budget is kept. */
  private async afterWrite(f: OpenFile, position: number, length: number): Promise<void> {
    const now = Date.now();
    f.inode = { ...f.inode, mtimeMs: now, ctimeMs: now };
    f.changed = true;
    const end = position + length;
    for (let index = Math.floor(position / f.chunkBytes); (index + 1) * f.chunkBytes <= end; index++) {
      await this.startUpload(f, index);
    }
    if (this.dirtyBytes > this.opts.writebackBytesMax || f.patches.size >= PATCHED_CHUNKS_MAX) await this.spill(f);
  }

  /**
   * The old bytes a write into chunk `index` must keep, without fetching:
   * null when there are none to keep (new, a hole, dirty already, or wholly
   * overwritten), undefined when they are not in memory.
   */
  private chunkSource(f: OpenFile, index: number, position: number, length: number): Buffer | null | undefined {
    // A patched chunk is read before anything else is written into it, even over all of it (its patches go then).
    if (f.patches.has(index)) return undefined;
    if (f.dirty.has(index)) return null;
    const old = this.chunkLength(f, index);
    const start = index * f.chunkBytes;
    if (old === 0 || (position <= start && position + length >= start + old)) return null;
    if (f.inline && index === 0) return f.inline;
    const key = f.chunks[index];
    if (!key) return null;
    return this.chunkCache.get(key);
  }

  /**
   * The dirty chunk at `index`, unsealed and at least `upTo` bytes long, for
   * a write of bytes [from, upTo) of it; created from its old bytes when
   * needed (which the caller has made sure are in memory).
   */
  private writableChunk(f: OpenFile, index: number, from: number, upTo: number): DirtyChunk {
    let d = f.dirty.get(index);
    if (!d) return this.makeDirty(f, index, this.chunkSource(f, index, index * f.chunkBytes + from, upTo - from) ?? null, upTo);
    if (d.sealed || d.buf.length < upTo) {
      // Copy on write (the sealed buffer is being sent), or grow.
      const fresh = this.chunkBuffer(this.capacityFor(f, Math.max(upTo, d.buf.length), d.buf.length), d.buf);
      if (!d.sealed && d.pooled) this.dirtyBuffers.putLater(d.pooled);
      this.dirtyBytes += fresh.buf.length - d.buf.length;
      d = { ...fresh, version: d.version + 1, sealed: false };
      f.dirty.set(index, d);
    }
    return d;
  }

  private makeDirty(f: OpenFile, index: number, src: Buffer | null, upTo: number): DirtyChunk {
    const keep = src ? Math.min(this.chunkLength(f, index), src.length) : 0;
    const d: DirtyChunk = { ...this.chunkBuffer(this.capacityFor(f, Math.max(upTo, keep), 0), src?.subarray(0, keep)), version: 0, sealed: false };
    if (f.inline && index === 0) f.inline = null;
    f.dirty.set(index, d);
    this.dirtyBytes += d.buf.length;
    return d;
  }

  /** A buffer of `bytes` for a dirty chunk, starting with `from` and zeros after it; a whole default-sized chunk's from the pool. */
  private chunkBuffer(bytes: number, from?: Buffer): { buf: Buffer; pooled?: Buffer } {
    const size = this.dirtyBuffers.bufferBytes;
    const pooled = bytes > size / 2 && bytes <= size ? this.dirtyBuffers.take() : undefined;
    const buf = pooled ? pooled.subarray(0, bytes) : Buffer.alloc(bytes);
    const kept = from ? from.copy(buf, 0, 0, Math.min(from.length, bytes)) : 0;
    if (pooled) buf.fill(0, kept);
    return { buf, pooled };
  }

  /** Dirty chunks dropped unsent: their pool buffers go back (a sealed one is its upload's to give back). */
  private dropDirty(f: OpenFile, index: number): void {
    const d = f.dirty.get(index);
    if (!d) return;
    this.dirtyBytes -= d.buf.length;
    f.dirty.delete(index);
    if (!d.sealed && d.pooled) this.dirtyBuffers.putLater(d.pooled);
  }

  /** Buffer size for `need` bytes of a chunk: small files stay small; anything sizable gets the whole chunk at once. */
  private capacityFor(f: OpenFile, need: number, had: number): number {
    if (need >= 64 * 1024) return f.chunkBytes;
    let cap = Math.max(4096, had * 2);
    while (cap < need) cap *= 2;
    return Math.min(cap, f.chunkBytes);
  }

  /** Stores one dirty chunk in the background; the chunk stays readable from memory until its key is known. */
  private async startUpload(f: OpenFile, index: number): Promise<void> {
    if (f.uploads.size >= UPLOADS_PER_FILE_MAX) await Promise.race(f.uploads.values());
    const d = f.dirty.get(index);
    if (!d || f.uploads.has(index)) return;
    const version = d.version;
    d.sealed = true;
    // A buffer shorter than the chunk is stored short: the rest reads as zeros.
    const data = d.buf.subarray(0, Math.min(this.chunkLength(f, index), d.buf.length));
    const upload = (async () => {
      const { key, root, settled } = await this.storeChunk(data);
      if (key) f.storedSinceCommit.add(key);
      if (f.dirty.get(index) === d) {
        if (d.version !== version) return;
        f.chunks[index] = key;
        f.roots[index] = root;
        f.dirty.delete(index);
        this.dirtyBytes -= d.buf.length;
        // Unchanged since it was stored, and no longer dirty: the buffer now belongs to the read cache.
        if (key) {
          const cached = d.pooled ? this.dirtyBuffers.lend(d.pooled, data.length) : data;
          if (d.pooled) this.unsettled.set(cached, settled);
          this.chunkCache.set(key, cached);
          return;
        }
      }
      // Replaced by a copy, dropped, or a hole: its buffer goes back once the last copy is sent.
      const pooled = d.pooled;
      if (pooled) void settled.then(() => this.dirtyBuffers.putLater(pooled), () => this.dirtyBuffers.putLater(pooled));
    })();
    const tracked = upload.finally(() => f.uploads.delete(index));
    tracked.catch(() => {});
    f.uploads.set(index, tracked);
  }

  /** Stores bytes as a chunk (or a hole, if all zeros); resolves with its key and leaf root once W copies are acknowledged. */
  private async storeChunk(data: Buffer): Promise<{ key: ChunkKey | null; root: string | null; settled: Promise<unknown> }> {
    if (data.length <= this.zeros.length && this.zeros.compare(data, 0, data.length, 0, data.length) === 0) {
      return { key: null, root: null, settled: Promise.resolve() };
    }
    const put = await this.swarm.putChunk(data, { replicas: this.opts.replicas, isManifest: false }, this.opts.writeQuorum);
    await put.quorum;
    return { key: put.key, root: put.root, settled: put.settled };
  }

  /** Over the write-back budget: store this file's dirty and patched chunks now. */
  private async spill(f: OpenFile): Promise<void> {
    await this.storePatches(f);
    for (const index of [...f.dirty.keys()]) await this.startUpload(f, index);
    await Promise.all(f.uploads.values());
  }

  private async setSize(f: OpenFile, size: number): Promise<void> {
    await this.storePatches(f);
    if (size < f.size) {
      const lastIndex = Math.floor(size / f.chunkBytes);
      const within = size - lastIndex * f.chunkBytes;
      if (within > 0 && lastIndex * f.chunkBytes < f.size) {
        await this.fetchSources(f, lastIndex * f.chunkBytes, 0);
        const d = this.writableChunk(f, lastIndex, 0, 0);
        if (within < d.buf.length) d.buf.fill(0, within);
        d.version++;
      }
      const keep = Math.ceil(size / f.chunkBytes);
      for (const index of [...f.dirty.keys()]) if (index >= keep) this.dropDirty(f, index);
      f.chunks.length = Math.min(f.chunks.length, keep);
      f.roots.length = Math.min(f.roots.length, keep);
      if (f.inline) f.inline = f.inline.subarray(0, size);
    }
    f.size = size;
    const now = Date.now();
    f.inode = { ...f.inode, mtimeMs: now, ctimeMs: now };
    f.changed = true;
  }

  async truncate(path: string, size: number): Promise<void> {
    if (size < 0) throw fsError('INVALID_ARGUMENT', path);
    const r = await this.resolve(path, true);
    if (r.inode.type === 'dir') throw fsError('IS_A_DIRECTORY', path);
    const f = await this.openFile(r.ino, r.inode);
    try {
      await this.locked(f, async () => {
        await this.setSize(f, size);
        await this.commitLocked(f);
      });
    } finally {
      await this.closeFile(f);
    }
  }

  async ftruncate(fd: number, size: number): Promise<void> {
    if (size < 0) throw fsError('INVALID_ARGUMENT', `fd ${fd}`);
    const f = this.fileOf(fd);
    await this.locked(f, () => this.setSize(f, size));
  }

  /** Writes the file back: remaining chunks, its chunk map, its inode. Close-to-open: flush returns once it is durable (W copies). */
  async flush(fd: number): Promise<void> {
    const f = this.fileOf(fd);
    await this.locked(f, () => this.commitLocked(f));
  }

  async fsync(fd: number): Promise<void> {
    await this.flush(fd);
  }

  async release(fd: number): Promise<void> {
    const f = this.fileOf(fd);
    this.handles.delete(fd);
    try {
      await this.locked(f, () => this.commitLocked(f));
    } finally {
      await this.closeFile(f);
    }
  }

  private async closeFile(f: OpenFile): Promise<void> {
    f.refs--;
    if (f.refs > 0) return;
    await Promise.allSettled(f.uploads.values());
    for (const index of [...f.dirty.keys()]) this.dropDirty(f, index);
    for (const index of [...f.patches.keys()]) this.dropPatches(f, index);
    if (f.created) this.pendingEntries.delete(`${f.created.parent}/${f.created.name}`);
    this.files.delete(f.ino);
  }

  private async commitLocked(f: OpenFile): Promise<void> {
    if (!f.changed || f.unlinked) return;
    await this.storePatches(f);
    await Promise.all(f.uploads.values());
    const inode: Inode = { ...f.inode, size: f.size };
    if (f.size <= this.opts.inlineBytesMax) {
      const content = Buffer.alloc(f.size);
      if (f.size > 0) {
        const src = await this.chunkContent(f, 0);
        src.copy(content, 0, 0, Math.min(f.size, src.length));
      }
      inode.inline = content.toString('base64');
      delete inode.manifest;
      delete inode.storedBytes;
      for (const index of [...f.dirty.keys()]) this.dropDirty(f, index);
      f.chunks = [];
      f.roots = [];
      f.inline = content;
    } else {
      for (const index of [...f.dirty.keys()]) await this.startUpload(f, index);
      await Promise.all(f.uploads.values());
      if (f.dirty.size > 0) throw new CellError('NOT_ENOUGH_CELLS', `could not store every chunk of inode ${f.ino}`);
      f.chunks.length = f.roots.length = Math.ceil(f.size / f.chunkBytes);
      for (let i = 0; i < f.chunks.length; i++) {
        f.chunks[i] ??= null;
        f.roots[i] ??= null;
      }
      f.inline = null;
      // Chunks kept from an earlier version (an edit in place) were stored long ago: had another mount replaced
      // this file meanwhile, garbage collection could have freed them. Claim them before naming them again.
      const carried = [...new Set(f.chunks)].filter((k): k is ChunkKey => k !== null && !f.storedSinceCommit.has(k));
      const missing = carried.length > 0 ? await this.swarm.claimChunks(carried) : [];
      if (missing.length > 0) {
        throw new CellError('CHUNK_NOT_FOUND', `inode ${f.ino}: ${missing.length} chunk(s) of the version this mount opened are gone (replaced elsewhere and collected)`);
      }
      const roots = f.roots.length <= LEAF_ROOTS_CHUNKS_MAX && f.roots.some((r) => r !== null) ? f.roots : undefined;
      const map = encodeManifest({ version: 1, size: f.size, chunkBytes: f.chunkBytes, chunks: f.chunks, roots, inode: f.ino });
      const put = await this.swarm.putChunk(map, { replicas: this.opts.replicas, isManifest: true }, this.opts.writeQuorum);
      await put.quorum;
      this.chunkCache.set(put.key, map);
      inode.manifest = put.key;
      inode.storedBytes = this.storedBytesOf(f);
      delete inode.inline;
    }
    f.inode = inode;
    const created = f.created;
    const records = [this.envelope(inodeKey(f.ino), inode)];
    const entry: Dirent = { ino: f.ino, type: 'file' };
    if (created) records.push(this.envelope(direntKey(created.parent, created.name), entry), ...(await this.touchedDir(created.parent, created.atMs)));
    await this.records.put(records);
    this.attrs.set(f.ino, inode);
    if (created) {
      f.created = null;
      this.pendingEntries.delete(`${created.parent}/${created.name}`);
      this.noteEntry(created.parent, created.name, entry);
    }
    f.changed = false;
    f.changedSeenMs = null;
    f.storedSinceCommit.clear();
    log('committed inode %s: %d bytes', f.ino, f.size);
  }

  /**
   * Empties what the mount keeps of the swarm, as `drop_caches` does for the
   * kernel's caches: verified chunks, attributes, entries, listings and leaf
   * hashes. Open files, their unwritten data and the chunk files held open
   * for range reads stay (the kernel keeps open files too). The next reads
   * come from the cells' disks: for measuring cold reads without a remount,
   * whose fresh process would be measured too.
   */
  dropCaches(): void {
    this.chunkCache.clear();
    this.attrs.clear();
    this.entries.clear();
    this.listings.clear();
    this.swarm.dropCaches();
  }

  /** Every handle released, every buffer written back (unmount). */
  async closeAll(): Promise<void> {
    clearInterval(this.commitTimer);
    for (const fd of [...this.handles.keys()]) await this.release(fd).catch((err) => log('release on close failed: %s', (err as Error).message));
    await this.records.drain();
  }
}

/** n bytes of src from `from` into out at `at`. A stored chunk may be shorter than its chunk (the old end of a file that grew): the rest reads as zeros. */
function copyOut(src: Buffer, from: number, n: number, out: Buffer, at: number): void {
  const avail = Math.max(0, Math.min(n, src.length - from));
  if (avail > 0) src.copy(out, at, from, from + avail);
  if (avail < n) out.fill(0, at + avail, at + n);
}

/** In a set-group-ID directory, new entries take the directory's group, and new directories stay set-group-ID (as on Linux). */
function inheritGroup(inode: Inode, dir: Inode): void {
  if ((dir.mode & S_ISGID) === 0) return;
  inode.gid = dir.gid;
  if (inode.type === 'dir') inode.mode |= S_ISGID;
}

/** An open file with nothing of its own unwritten: what the swarm has is what it is. */
function isClean(f: OpenFile): boolean {
  return !f.changed && !f.created && !f.unlinked && f.dirty.size === 0 && f.patches.size === 0;
}
