/** The thread of OffThreadHasher: SHA-256 of bytes in shared memory, answered by request id. */
import { parentPort } from 'node:worker_threads';
import { chunkKeyOf } from '../core/ids.js';

parentPort!.on('message', (m: { id: number; memory: SharedArrayBuffer; offset: number; length: number }) => {
  parentPort!.postMessage({ id: m.id, key: chunkKeyOf(new Uint8Array(m.memory, m.offset, m.length)) });
});
