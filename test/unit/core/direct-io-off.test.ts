import test from 'ava';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chunkKeyOf, leafHashesOf } from '../../../src/core/index.js';
import { AlignedBuffers, alignUp, readDirect, writeDirect } from '../../../src/core/index.js';
import { ChunkStore, chunkFileOf } from '../../../src/store/index.js';
import { tmpDir } from '../../helpers/index.js';

// Read at the first direct I/O call: set before any.
process.env.CELLSYNC_DIRECT_IO = '0';

test('CELLSYNC_DIRECT_IO=0: no direct I/O, and a cell stores and reads chunks through the page cache', async (t) => {
  const dir = await tmpDir(t);
  const aligned = new AlignedBuffers(alignUp(1 << 20), 1).take()!;
  t.false(await writeDirect(`${dir}/f`, randomBytes(1 << 20), aligned));
  t.is(await readDirect(`${dir}/f`, aligned), null);
  const store = await ChunkStore.open({ dir, capacityBytes: 64 << 20 });
  t.teardown(() => store.close());
  const data = randomBytes(1 << 20);
  const key = chunkKeyOf(data);
  await store.put(key, data, { replicas: 3, isManifest: false }, leafHashesOf(data));
  const cachedBytes = () => Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', chunkFileOf(store.chunkDir, key)], { encoding: 'utf8' }).trim());
  // Other test files drop the kernel's caches now and then: read again if one did in between.
  let cached = 0;
  for (let attempt = 0; attempt < 5 && cached !== 1 << 20; attempt++) {
    t.true((await store.get(key)).equals(data));
    cached = cachedBytes();
  }
  t.is(cached, 1 << 20, 'the chunk file is in the page cache');
});
