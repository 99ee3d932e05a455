/** The thread of OffThreadHasher: the chunk key (and, if asked, the leaf hashes) of bytes in shared memory, answered by request id. */
import { parentPort } from 'node:worker_threads';
import { chunkKeyOf, leafHashesOf } from '../core/ids.js';

parentPort!.on('message', (m: { id: number; memory: SharedArrayBuffer; offset: number; length: number; leaves: boolean }) => {
  const data = new Uint8Array(m.memory, m.offset, m.length);
  parentPort!.postMessage({ id: m.id, key: chunkKeyOf(data), leafHashes: m.leaves ? leafHashesOf(data) : null });
});
