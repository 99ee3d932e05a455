/*
 * LOCAL_GRANT  request: empty      response: JSON {machine, chunkDir, incomingDir, metaPath?, recordsPath?}:
 *              a client on the same machine (same machineId()) may read the cell's chunk files and the leaf
 *              hashes in its metadata database itself (core/layout.ts), checking them as it checks CHUNK_GET
 *              and CHUNK_RANGE answers, and hand it chunks as files in incomingDir (CHUNK_ADOPT)
 */
import { MessageType } from '../types.js';
import { emptyCodec, type RequestSpec } from './codec.js';
import { SMALL_JSON_BYTES_MAX, hasShape, isText, jsonCodec } from './json.js';

/** A LOCAL_GRANT answer: where a cell on the machine `machine` keeps its chunks (layout: core/layout.ts) and takes new ones. */
export interface LocalGrant {
  machine: string;
  chunkDir: string;
  incomingDir: string;
  /** The cell's chunk metadata database, where local readers find leaf hashes (core/layout.ts); absent from older cells. */
  metaPath?: string;
  /** The cell's record database, which writers on this machine may merge records into as a REC_PUT would; absent from older cells. */
  recordsPath?: string;
}

const PATH_CHARS_MAX = 4096;
const absolute = (p: unknown): p is string => isText(p, PATH_CHARS_MAX) && p.startsWith('/');

/**
 * Validates a parsed grant. The directories must be absolute; an optional
 * path that is not is left out rather than refusing the grant (an older
 * cell's grant still serves chunk reads).
 */
export function parseLocalGrant(v: unknown): LocalGrant | null {
  if (!hasShape(v, ['machine', 'chunkDir', 'incomingDir'], ['metaPath', 'recordsPath'])) return null;
  if (!isText(v.machine, 256) || !absolute(v.chunkDir) || !absolute(v.incomingDir)) return null;
  if ((v.metaPath !== undefined && typeof v.metaPath !== 'string') || (v.recordsPath !== undefined && typeof v.recordsPath !== 'string')) return null;
  return {
    machine: v.machine,
    chunkDir: v.chunkDir,
    incomingDir: v.incomingDir,
    ...(absolute(v.metaPath) ? { metaPath: v.metaPath } : {}),
    ...(absolute(v.recordsPath) ? { recordsPath: v.recordsPath } : {}),
  };
}

export const localGrantCodec = jsonCodec<LocalGrant, unknown>(SMALL_JSON_BYTES_MAX, parseLocalGrant);

export const LOCAL_GRANT: RequestSpec<void, LocalGrant> = { type: MessageType.LOCAL_GRANT, request: emptyCodec, response: localGrantCodec };
