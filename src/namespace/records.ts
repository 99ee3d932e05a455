import { createHash } from 'node:crypto';
import type { ChunkKey } from '../core/index.js';
import { isHlc } from './hlc.js';

/*
 * The namespace as versioned records, stored on the cells and merged
 * last-writer-wins:
 *   i/<ino>            an inode (file, directory or symlink)
 *   d/<parent>/<name>  a directory entry, placed by its parent so that a
 *                      directory's entries live together
 * A deleted record stays as a tombstone (value null) so that an older copy
 * elsewhere cannot bring it back.
 */

export type InodeType = 'file' | 'dir' | 'symlink';

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
  /** Directories: the parent's ino (to refuse moving a directory into itself). */
  parent?: string;
  /** Small files: the bytes themselves, base64. */
  inline?: string;
  /** Larger files: the chunk map (a manifest object) holding the chunk list. */
  manifest?: ChunkKey;
  /** Symlinks: the target. */
  target?: string;
  /** Extended attributes, base64 values. */
  xattrs?: Record<string, string>;
}

export interface Dirent {
  ino: string;
  type: InodeType;
}

/** A record as stored and sent: key, version, value (null = tombstone). */
export interface RecordEnvelope {
  k: string;
  v: string;
  d: unknown;
}

export const ROOT_INO = '0000000000000001';
export const NAME_BYTES_MAX = 255;
/** Records a single message may carry. */
export const RECORDS_PER_MESSAGE_MAX = 512;
const KEY_CHARS_MAX = 1024;

export const inodeKey = (ino: string) => `i/${ino}`;
export const direntKey = (parent: string, name: string) => `d/${parent}/${name}`;
export const direntPrefix = (parent: string) => `d/${parent}/`;

/** The key records are placed by: an inode by itself, an entry by its directory. */
export function placementKeyOf(recordKey: string): ChunkKey {
  const group = recordKey.startsWith('d/') ? recordKey.slice(0, recordKey.indexOf('/', 2) + 1) : recordKey;
  return createHash('sha256').update(group).digest('hex');
}

export function isRecordKey(k: unknown): k is string {
  return typeof k === 'string' && k.length <= KEY_CHARS_MAX && /^(i\/[0-9a-f]{16}|d\/[0-9a-f]{16}\/[^/\0]+)$/.test(k);
}

export function isEnvelope(v: unknown): v is RecordEnvelope {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return isRecordKey(o.k) && isHlc(o.v) && 'd' in o && (o.d === null || typeof o.d === 'object');
}

/** Last writer wins: the higher version, compared as strings (see HybridClock). */
export function newer(a: RecordEnvelope | null | undefined, b: RecordEnvelope | null | undefined): RecordEnvelope | null {
  if (!a) return b ?? null;
  if (!b) return a;
  return b.v > a.v ? b : a;
}
