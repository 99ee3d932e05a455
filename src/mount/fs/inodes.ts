import type { Inode, InodeType } from '../../namespace/index.js';

export const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
const S_ISGID = 0o2000;
const S_IFLNK = 0o120000;

/** A new inode of this mount's owner, all its times `wallMs`. */
export function newInode(type: InodeType, mode: number, owner: { uid: number; gid: number }, wallMs: number): Inode {
  const typeBits = type === 'dir' ? S_IFDIR : type === 'symlink' ? S_IFLNK : S_IFREG;
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
