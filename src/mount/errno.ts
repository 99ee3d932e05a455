import os from 'node:os';
import { isCellError, logger, type CellErrorCode } from '../core/index.js';

const log = logger('mount:errno');

/** The one table from error codes to errno names. Anything unmapped is EIO, and logged. */
const ERRNO_OF: Partial<Record<CellErrorCode, string>> = {
  NO_ENTRY: 'ENOENT',
  ENTRY_EXISTS: 'EEXIST',
  NOT_A_DIRECTORY: 'ENOTDIR',
  IS_A_DIRECTORY: 'EISDIR',
  DIRECTORY_NOT_EMPTY: 'ENOTEMPTY',
  NAME_TOO_LONG: 'ENAMETOOLONG',
  INVALID_ARGUMENT: 'EINVAL',
  NOT_PERMITTED: 'EPERM',
  NO_ATTRIBUTE: 'ENODATA',
  NOT_SUPPORTED: 'EOPNOTSUPP',
  BAD_HANDLE: 'EBADF',
  TOO_MANY_OPEN: 'EMFILE',
  TOO_MANY_LINKS: 'EMLINK',
  FILE_TOO_BIG: 'EFBIG',
  STORE_FULL: 'ENOSPC',
  // Data or metadata that no cell could give us: truly unreachable.
  NO_CELL_REACHABLE: 'EIO',
  NOT_ENOUGH_CELLS: 'EIO',
  CHUNK_NOT_FOUND: 'EIO',
  TIMEOUT: 'EIO',
};

const errnos = os.constants.errno as Record<string, number>;

/** Negative errno for fuse-native, resolved through os.constants (not hard-coded numbers). */
export function errnoOf(err: unknown, op: string): number {
  const name = isCellError(err) ? ERRNO_OF[err.code] : undefined;
  if (!name || name === 'EIO') log('%s failed: %s', op, (err as Error)?.stack ?? err);
  return -(errnos[name ?? 'EIO'] ?? errnos.EIO!);
}
