import type { InodeType } from '../../namespace/index.js';

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
  /** Owner of new files when the caller is not known (fuse-native's prebuilt binary does not say who asks): the mount's user. */
  uid: number;
  gid: number;
}

export function defaultFsOptions(placement: { replicas: number; writeQuorum: number; chunkBytes: number }): FsOptions {
  return {
    ...placement,
    inlineBytesMax: 4 * 1024,
    writebackBytesMax: 64 * 1024 * 1024,
    // Twice the read-ahead (8 chunks of 4 MiB); more costs memory the kernel's page cache already spends on the same bytes.
    cacheBytesMax: 64 * 1024 * 1024,
    attrTtlMs: 1_000,
    handlesMax: 4_096,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
  };
}

export interface FsStat {
  /** The inode's id in the namespace (st_ino is derived from it: inoNumberOf). */
  ino: string;
  type: InodeType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Bytes the file occupies: its size, less its holes. */
  storedBytes: number;
  nlink: number;
  /** Device number of a character or block device, else 0. */
  rdev: number;
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
