import { createHash } from 'node:crypto';
import type { Inode, InodeType } from '../../namespace/index.js';

export const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
const S_ISGID = 0o2000;
const S_IFLNK = 0o120000;
/** The kinds of file mknod makes that only the kernel gives behaviour (inode type 'special'). */
const SPECIAL_TYPES = new Set([0o010000 /* S_IFIFO */, 0o020000 /* S_IFCHR */, 0o060000 /* S_IFBLK */, 0o140000 /* S_IFSOCK */]);

/** Who asked for an operation (from the kernel's request), or whom a mount that cannot tell takes it to be. */
export interface Caller {
  uid: number;
  gid: number;
}

/** The inode type of a mode mknod may be given: 'file' for S_IFREG (or no type bits, as mknod(2) reads them), null for any other type. */
export function mknodTypeOf(mode: number): InodeType | null {
  const type = mode & S_IFMT;
  if (type === 0 || type === S_IFREG) return 'file';
  return SPECIAL_TYPES.has(type) ? 'special' : null;
}

/** The S_IFMT bits of an inode type; a special file's are in its mode (0 when unknown: d_type DT_UNKNOWN). */
export function typeBitsOf(type: InodeType, mode = 0): number {
  return type === 'dir' ? S_IFDIR : type === 'symlink' ? S_IFLNK : type === 'special' ? mode & S_IFMT : S_IFREG;
}

/** A new inode owned by `owner`, all its times `wallMs`; a special file's kind comes from the type bits of `mode`. */
export function newInode(type: InodeType, mode: number, owner: Caller, wallMs: number): Inode {
  const typeBits = typeBitsOf(type, mode);
  return {
    type,
    mode: typeBits | (mode & 0o7777),
    uid: owner.uid,
    gid: owner.gid,
    size: type === 'dir' ? 4096 : 0,
    nlink: type === 'dir' ? 2 : 1,
    atimeMs: wallMs,
    mtimeMs: wallMs,
    ctimeMs: wallMs,
  };
}

/**
 * Hard links a file can have (EMLINK beyond), as ext4. A directory with
 * more subdirectories than this shows st_nlink 1, as ext4's dir_nlink
 * does ("not counted": find then looks into every entry).
 */
export const LINKS_MAX = 65_000;

/** The link count an inode's record holds (a non-directory's: 1 if absent, from before hard links). */
export function linksOf(inode: Inode): number {
  return inode.nlink ?? (inode.type === 'dir' ? 2 : 1);
}

/** st_nlink as stat shows it. */
export function statLinksOf(inode: Inode): number {
  const n = linksOf(inode);
  return inode.type === 'dir' && n > LINKS_MAX ? 1 : n;
}

/** In a set-group-ID directory, new entries take the directory's group, and new directories stay set-group-ID (as on Linux). */
export function inheritGroup(inode: Inode, dir: Inode): void {
  if ((dir.mode & S_ISGID) === 0) return;
  inode.gid = dir.gid;
  if (inode.type === 'dir') inode.mode |= S_ISGID;
}

/** What is made in a directory with an R of its own (`cellsync setr`) gets that R, as it gets a set-group-ID directory's group. */
export function inheritReplicas(inode: Inode, dir: Inode): void {
  if (dir.replicas !== undefined) inode.replicas = dir.replicas;
}

/** The R a file's chunks are written with: its own, else the mount's. */
export function replicasOf(inode: Inode, mountReplicas: number): number {
  return inode.replicas ?? mountReplicas;
}

/**
 * st_ino of an inode, as its two 32-bit halves (what fuse-native carries):
 * the last 16 hex digits of its ino, random bits (hash bits for a
 * directory) that never change while it exists, in any mount. The root's
 * ino ends in ...0001, so the root is 1. An ino that does not end in 16 hex
 * digits, or ends in zeros (0 is no inode number), is hashed instead.
 */
export function inoNumberOf(ino: string): { low: number; high: number } {
  const tail = ino.slice(-16);
  if (/^[0-9a-f]{16}$/.test(tail) && !/^0{16}$/.test(tail)) return { high: parseInt(tail.slice(0, 8), 16), low: parseInt(tail.slice(8), 16) };
  const h = createHash('sha256').update(ino).digest();
  return { high: h.readUInt32BE(0), low: h.readUInt32BE(4) };
}
