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
    atimeMs: wallMs,
    mtimeMs: wallMs,
    ctimeMs: wallMs,
  };
}

/** In a set-group-ID directory, new entries take the directory's group, and new directories stay set-group-ID (as on Linux). */
export function inheritGroup(inode: Inode, dir: Inode): void {
  if ((dir.mode & S_ISGID) === 0) return;
  inode.gid = dir.gid;
  if (inode.type === 'dir') inode.mode |= S_ISGID;
}
