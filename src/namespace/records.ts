import { createHash, randomBytes } from 'node:crypto';
import type { ChunkKey } from '../core/index.js';
import type { RecordEnvelope } from '../wire/index.js';

/** How records travel, and their validation, are the wire's (wire/messages/records.ts). */
export { RECORDS_PER_MESSAGE_MAX, isEnvelope, isRecordKey, type RecordEnvelope } from '../wire/index.js';

/*
 * The namespace as versioned records, stored on the cells and merged
 * last-writer-wins:
 *   i/<ino>            an inode (file, directory, symlink, or special file)
 *   d/<parent>/<name>  a directory entry
 * A deleted record stays as a tombstone (value null) so that an older copy
 * elsewhere cannot bring it back.
 *
 * Placement: an ino starts with an 8-hex-digit group tag, and records are
 * placed by tag. A directory gets a fresh tag; a file or symlink takes its
 * parent directory's tag. So a directory's inode, its entries and the inodes
 * of the files created in it live on the same cells, and creating a file is
 * one record write to one group of cells (a renamed file keeps its tag).
 */

/**
 * What an inode is. 'special': a FIFO, socket, character or block device
 * (which one: the S_IFMT bits of its mode); only the kernel gives it
 * behaviour, the inode records its type, owner, mode and device number.
 */
export type InodeType = 'file' | 'dir' | 'symlink' | 'special';

export interface Inode {
  type: InodeType;
  /** Permission bits and file type bits, as st_mode. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  /**
   * Names of the inode (st_nlink). Files and symlinks: their directory
   * entries, 1 if absent. Directories: 2 + their subdirectories, as ext4
   * counts; absent in records written before it was kept (counted once on
   * reading: see Resolver).
   */
  nlink?: number;
  /** Directories: the parent's ino (to refuse moving a directory into itself). */
  parent?: string;
  /** Small files: the bytes themselves, base64. */
  inline?: string;
  /** Larger files: the chunk map (a manifest object) holding the chunk list. */
  manifest?: ChunkKey;
  /** Larger files: bytes in stored chunks, holes not counted (st_blocks: `du` of a sparse file). */
  storedBytes?: number;
  /** Symlinks: the target. */
  target?: string;
  /** Character and block devices: the device number (st_rdev) as the kernel encodes it. */
  rdev?: number;
  /** Extended attributes, base64 values. */
  xattrs?: Record<string, string>;
  /**
   * Copies kept of a file's chunks (R), set by `cellsync setr` (or the
   * user.cellsync.replicas xattr); a directory's is given to what is made in
   * it. Absent: the R of the mount that writes the file.
   */
  replicas?: number;
}

export interface Dirent {
  ino: string;
  type: InodeType;
}

export const ROOT_INO = '0000000000000001';
export const NAME_BYTES_MAX = 255;

/** Hex digits of an ino that choose where its records live. */
const GROUP_TAG_CHARS = 8;

/** A new ino: a directory gets a fresh group tag, anything else shares its directory's. */
export function newIno(type: InodeType, parent: string): string {
  const rest = randomBytes(8).toString('hex');
  return (type === 'dir' ? randomBytes(GROUP_TAG_CHARS / 2).toString('hex') : parent.slice(0, GROUP_TAG_CHARS)) + rest;
}

/**
 * The ino of a directory made as `name` in `parent` when that entry's last
 * version (a tombstone, or none) is `after`. Two mounts making the same
 * directory at once make the same one, so `mkdir -p` from both and then
 * files in it from both all survive (random inos had one directory's entry
 * win and the other's files vanish with it); a name removed or renamed away
 * since has a newer tombstone, so a directory made there later is new.
 */
export function dirInoOf(parent: string, name: string, after: string | null): string {
  return createHash('sha256').update(`dir\0${parent}\0${name}\0${after ?? ''}`).digest('hex').slice(0, GROUP_TAG_CHARS + 16);
}

export const inodeKey = (ino: string) => `i/${ino}`;
export const direntKey = (parent: string, name: string) => `d/${parent}/${name}`;
export const direntPrefix = (parent: string) => `d/${parent}/`;

/** The placement group of a record: the group tag of its inode, or of its entry's directory. */
export function groupOf(recordKey: string): string {
  return recordKey.slice(2, 2 + GROUP_TAG_CHARS);
}

/** The key records are placed by (every record of a group has the same). */
export function placementKeyOf(recordKey: string): ChunkKey {
  return createHash('sha256').update('g/' + groupOf(recordKey)).digest('hex');
}

/** Last writer wins: the higher version, compared as strings (see HybridClock). */
export function newer(a: RecordEnvelope | null | undefined, b: RecordEnvelope | null | undefined): RecordEnvelope | null {
  if (!a) return b ?? null;
  if (!b) return a;
  return b.v > a.v ? b : a;
}
