import test from 'ava';
import type { SwarmClient } from '../../../src/client/index.js';
import { NamespaceSnapshot } from '../../../src/client/namespace-snapshot.js';
import type { RecordEnvelope } from '../../../src/namespace/index.js';

test('a cell holding 300,000 records is read whole, not taken for one that did not answer', async (t) => {
  const count = 300_000;
  const held: RecordEnvelope[] = Array.from({ length: count }, (_, i) => ({ k: `i/${String(i).padStart(8, '0')}`, v: '1', d: { type: 'file', size: i } }));
  // The cell's side of REC_SCAN: a page after `after`, in key order.
  const call = async (_addr: string, _type: unknown, q: { prefix: string; after: string | null; limit: number }) => {
    if (q.prefix !== 'i/') return [];
    const from = q.after === null ? 0 : Number(q.after.slice(2)) + 1;
    return held.slice(from, from + q.limit);
  };
  const client = { endpoint: { call } } as unknown as SwarmClient;
  const { snapshot, unreachable } = await NamespaceSnapshot.read(client, ['127.0.0.1:7001']);
  t.deepEqual(unreachable, []);
  t.is(snapshot.inodes.size, count);
});
