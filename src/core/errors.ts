/**
 * Operating errors: things that go wrong at run time through no fault of the
 * code (a peer is gone, a file is corrupt, input is bad). Code and tests
 * branch on `code`, never on the message.
 */
export type CellErrorCode =
  | 'TIMEOUT'
  | 'STOPPED'
  | 'BUSY'
  | 'CHUNK_NOT_FOUND'
  | 'CHUNK_CORRUPT'
  | 'HASH_MISMATCH'
  | 'STORE_FULL'
  | 'BAD_REQUEST'
  | 'TOO_LARGE'
  | 'NOT_ENOUGH_CELLS'
  | 'DATA_DIR_IN_USE'
  | 'NOT_INITIALIZED'
  | 'BAD_CONFIG'
  | 'NO_CELL_REACHABLE'
  | 'REMOTE_ERROR'
  // File system errors (the mount maps each to an errno in mount/errno.ts).
  | 'NO_ENTRY'
  | 'ENTRY_EXISTS'
  | 'NOT_A_DIRECTORY'
  | 'IS_A_DIRECTORY'
  | 'DIRECTORY_NOT_EMPTY'
  | 'NAME_TOO_LONG'
  | 'INVALID_ARGUMENT'
  | 'NOT_PERMITTED'
  | 'NO_ATTRIBUTE'
  | 'NOT_SUPPORTED'
  | 'BAD_HANDLE'
  | 'TOO_MANY_OPEN'
  | 'TOO_MANY_LINKS'
  | 'FILE_TOO_BIG';

export class CellError extends Error {
  override name = 'CellError';
  /** True when the error came back from a peer in a response frame. */
  remote = false;
  /** The peer that answered with this error, when remote. */
  peer?: string;

  constructor(readonly code: CellErrorCode, message: string) {
    super(message);
    if (Error.stackTraceLimit > 0) Error.captureStackTrace?.(this, CellError);
  }

  static TIMEOUT(what = 'request') {
    return new CellError('TIMEOUT', `${what} timed out`);
  }
  static STOPPED() {
    return new CellError('STOPPED', 'endpoint stopped');
  }
  static BUSY(what = 'too many requests in flight') {
    return new CellError('BUSY', what);
  }
  static CHUNK_NOT_FOUND(key = '') {
    return new CellError('CHUNK_NOT_FOUND', `chunk ${key.slice(0, 16)} not found`);
  }
  static CHUNK_CORRUPT(key = '') {
    return new CellError('CHUNK_CORRUPT', `chunk ${key.slice(0, 16)} is corrupt on disk`);
  }
  static HASH_MISMATCH(key = '') {
    return new CellError('HASH_MISMATCH', `bytes do not hash to ${key.slice(0, 16)}`);
  }
  static STORE_FULL() {
    return new CellError('STORE_FULL', 'store is full');
  }
  static BAD_REQUEST(what = 'malformed request') {
    return new CellError('BAD_REQUEST', what);
  }
  static TOO_LARGE(what = 'message too large') {
    return new CellError('TOO_LARGE', what);
  }
  static REMOTE_ERROR() {
    return new CellError('REMOTE_ERROR', 'peer answered with an unknown error');
  }
}

/**
 * A file system error: the code names the POSIX condition, the message the
 * path. These are answers (ENOENT on every lookup of a new name), not bugs:
 * no stack is captured, which would cost more than the lookup.
 */
export function fsError(code: CellErrorCode, path: string): CellError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new CellError(code, `${path}: ${code.toLowerCase().replace(/_/g, ' ')}`);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export function isCellError(err: unknown, code?: CellErrorCode): err is CellError {
  return err instanceof CellError && (code === undefined || err.code === code);
}
