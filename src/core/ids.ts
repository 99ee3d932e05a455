import { createHash, randomBytes } from 'node:crypto';

/** A cell or client id: 64 random bits, written as 16 lowercase hex digits. */
export type CellId = string;

export const CELL_ID_BYTES = 8;

export function newCellId(): CellId {
  return randomBytes(CELL_ID_BYTES).toString('hex');
}

export function isCellId(s: unknown): s is CellId {
  return typeof s === 'string' && /^[0-9a-f]{16}$/.test(s);
}

/** A chunk key: SHA-256 of the bytes, 64 lowercase hex digits. */
export type ChunkKey = string;

export function chunkKeyOf(data: Uint8Array): ChunkKey {
  return createHash('sha256').update(data).digest('hex');
}

export function isChunkKey(s: unknown): s is ChunkKey {
  return typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);
}

/** What a cell keeps about a chunk besides its bytes. */
export interface ChunkMeta {
  /** Copies the swarm keeps of it (R). */
  replicas: number;
  /** A file manifest: a root from which fsck finds every chunk of a file. */
  isManifest: boolean;
}

/** "host:port" */
export type Addr = string;

export function parseAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = i > 0 ? addr.slice(0, i) : '';
  const port = Number(addr.slice(i + 1));
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`bad address "${addr}": expected host:port, e.g. 127.0.0.1:7400`);
  }
  return { host, port };
}

export function formatAddr(host: string, port: number): Addr {
  return `${host}:${port}`;
}
