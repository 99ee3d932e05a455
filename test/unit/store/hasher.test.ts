import test from 'ava';
import { randomBytes } from 'node:crypto';
import { OffThreadHasher } from '../../../src/store/hasher.js';
import path from 'node:path';
import { LEAF_BYTES, chunkKeyOf, leafHashesOf, leafRootOf } from '../../../src/core/index.js';
import { ChunkStore } from '../../../src/store/index.js';
import { eventually, tmpDir } from '../../helpers/index.js';

test('keys (and leaf hashes) of buffers in shared memory come from the thread once it is up, and equal those hashed in place', async (t) => {
  const hasher = new OffThreadHasher();
  t.teardown(() => hasher.close());
  const shared = Buffer.from(new SharedArrayBuffer(300_000));
  randomBytes(300_000).copy(shared);
  const view = shared.subarray(1_000, 250_000);
  t.is(await hasher.keyOf(view), chunkKeyOf(view), 'before the thread is up: hashed in place');
  await eventually(async () => (await hasher.keyOf(view)) === chunkKeyOf(view) && hasher.hashedOffThread > 0, 5_000, 'the thread hashing');
  const plain = randomBytes(1_000);
  const before = hasher.hashedOffThread;
  t.is(await hasher.keyOf(plain), chunkKeyOf(plain));
  t.is(hasher.hashedOffThread, before, 'a buffer not in shared memory is hashed in place');
  const hashed = hasher.hashedOffThread;
  t.deepEqual(await hasher.hashesOf(view, true), { key: chunkKeyOf(view), leafHashes: leafHashesOf(view) });
  t.deepEqual(await hasher.hashesOf(view, false), { key: chunkKeyOf(view), leafHashes: null });
  t.is(hasher.hashedOffThread, hashed + 2);
  const keys = await Promise.all([0, 1, 2, 3].map((i) => hasher.keyOf(shared.subarray(i * 1000, 200_000))));
  t.deepEqual(keys, [0, 1, 2, 3].map((i) => chunkKeyOf(shared.subarray(i * 1000, 200_000))), 'answers go to their own requests');
  await hasher.close();
  t.is(await hasher.keyOf(view), chunkKeyOf(view), 'after close: hashed in place');
});

test('leaf hash lists of a cell’s chunks come from the thread, checked against their roots: a wrong root or an unknown chunk gives null', async (t) => {
  const store = await ChunkStore.open({ dir: await tmpDir(t), capacityBytes: 64 << 20 });
  t.teardown(() => store.close());
  const chunks = [randomBytes(3 * LEAF_BYTES + 5), randomBytes(LEAF_BYTES)];
  for (const data of chunks) await store.put(chunkKeyOf(data), data, { replicas: 3, isManifest: false }, leafHashesOf(data));
  const hasher = new OffThreadHasher();
  t.teardown(() => hasher.close());
  const wanted = [
    ...chunks.map((data) => ({ key: chunkKeyOf(data), root: leafRootOf(leafHashesOf(data)) })),
    { key: chunkKeyOf(chunks[0]!), root: leafRootOf(randomBytes(64)) },
    { key: chunkKeyOf(randomBytes(10)), root: leafRootOf(randomBytes(64)) },
  ];
  t.deepEqual(await hasher.leafListsOf(store.metaPath, wanted), [null, null, null, null], 'before the thread is up: nothing');
  hasher.start();
  const lists = await eventually(async () => {
    const l = await hasher.leafListsOf(store.metaPath, wanted);
    return l[0] ? l : null;
  }, 5_000, 'the thread answering');
  t.deepEqual(lists, [leafHashesOf(chunks[0]!), leafHashesOf(chunks[1]!), null, null]);
  t.deepEqual(await hasher.leafListsOf(path.join(await tmpDir(t), 'none'), wanted.slice(0, 1)), [null], 'no database there');
});
