/**
 * The thread of OffThreadHasher, answering by request id: the chunk key (and,
 * if asked, the leaf hashes) of bytes in shared memory, or the checked leaf
 * hash lists of chunks of a cell on this machine.
 */
import { parentPort } from 'node:worker_threads';
import { chunkKeyOf, leafHashesOf } from '../core/ids.js';
import { ChunkMetaReader, type LeafListWanted } from './chunk-meta-reader.js';

export type HashRequest =
  | { id: number; kind: 'hash'; memory: SharedArrayBuffer; offset: number; length: number; leaves: boolean }
  | { id: number; kind: 'leafLists'; metaPath: string; chunks: LeafListWanted[] };

const meta = new ChunkMetaReader();

parentPort!.on('message', (m: HashRequest) => {
  if (m.kind === 'hash') {
    const data = new Uint8Array(m.memory, m.offset, m.length);
    parentPort!.postMessage({ id: m.id, key: chunkKeyOf(data), leafHashes: m.leaves ? leafHashesOf(data) : null });
    return;
  }
  const lists = m.chunks.map((c) => {
    try {
      return meta.leafList(m.metaPath, c);
    } catch {
      return null;
    }
  });
  parentPort!.postMessage({ id: m.id, lists });
});
