import os from 'node:os';

/* How store/ tells a file system error that says something about the disk from one that says the machine is busy. */

/** Read errors that say a chunk's file cannot be read as one (not that the machine is busy): it is treated as corrupt. */
export const UNREADABLE_CODES = new Set(['EISDIR', 'ENOTDIR', 'EACCES', 'EPERM', 'EIO', 'ELOOP']);

/** ENOSPC or EDQUOT, from node:fs (a string code) or as an errno. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === os.constants.errno.ENOSPC || code === os.constants.errno.EDQUOT;
}
