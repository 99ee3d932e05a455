import { CellError, type Addr, type CellErrorCode } from '../core/index.js';
import { MessageType, Status } from '../wire/index.js';

/*
 * Only a code crosses the wire (STYLE.md, "Remote errors"): a handler's
 * CellError becomes a Status in the response frame, and the caller turns it
 * back into a CellError marked remote. An unknown status is REMOTE_ERROR.
 */

const STATUS_OF: Partial<Record<CellErrorCode, Status>> = {
  CHUNK_NOT_FOUND: Status.NOT_FOUND,
  CHUNK_CORRUPT: Status.CORRUPT,
  HASH_MISMATCH: Status.HASH_MISMATCH,
  STORE_FULL: Status.FULL,
  BAD_REQUEST: Status.BAD_REQUEST,
  BUSY: Status.BUSY,
  TOO_LARGE: Status.TOO_LARGE,
};

const CODE_OF: Record<Status, CellErrorCode> = {
  [Status.OK]: 'REMOTE_ERROR',
  [Status.ERROR]: 'REMOTE_ERROR',
  [Status.NOT_FOUND]: 'CHUNK_NOT_FOUND',
  [Status.CORRUPT]: 'CHUNK_CORRUPT',
  [Status.HASH_MISMATCH]: 'HASH_MISMATCH',
  [Status.FULL]: 'STORE_FULL',
  [Status.BAD_REQUEST]: 'BAD_REQUEST',
  [Status.BUSY]: 'BUSY',
  [Status.TOO_LARGE]: 'TOO_LARGE',
  [Status.UNKNOWN_TYPE]: 'BAD_REQUEST',
};

/** The status a handler's failure is answered with: ERROR for anything that is not a known CellError (a bug, logged). */
export function statusOfError(err: unknown): Status {
  return (err instanceof CellError && STATUS_OF[err.code]) || Status.ERROR;
}

function remote(err: CellError, peer: Addr): CellError {
  err.remote = true;
  err.peer = peer;
  return err;
}

export function remoteError(status: Status, peer: Addr): CellError {
  const code = CODE_OF[status] ?? 'REMOTE_ERROR';
  return remote(new CellError(code, `${peer} answered ${Status[status] ?? status}`), peer);
}

/** An answer its message's decoder refused: the peer's fault, like a malformed request is the caller's. */
export function malformedAnswer(type: MessageType, peer: Addr): CellError {
  return remote(CellError.BAD_REQUEST(`${peer} answered ${MessageType[type]} with a malformed body`), peer);
}
