import test from 'ava';
import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { BufferPool, CHUNK_BYTES_MAX, LEAF_BYTES, LOCAL_READ_BUFFER_BYTES, chunkKeyOf, leafHashesOf, type ChunkKey } from '../../../src/core/index.js';
import { ChunkStore, LocalCellDisks, chunkFileOf } from '../../../src/store/index.js';
import { flipByte, tmpDir } from '../../helpers/index.js';

// The cells' disks as a client on the same machine reads them (the client's policy over them: test/unit/client/local-cells.test.ts).

async function storeWith(t: import('ava').ExecutionContext, data: Buffer): Promise<{ chunkDir: string; key: ChunkKey }> {
  const store = await ChunkStore.open({ dir: await tmpDir(t), capacityBytes: 64 << 20 });
  t.teardown(() => store.close());
  const key = chunkKeyOf(data);
  await store.put(key, data, { replicas: 3, isManifest: false }, leafHashesOf(data));
  return { chunkDir: store.chunkDir, key };
}

function localDisk(t: import('ava').ExecutionContext): LocalCellDisks {
  const disk = new LocalCellDisks();
  t.teardown(() => disk.close());
  return disk;
}

test('a whole chunk from a cell’s files is verified against its key: missing or corrupt gives null', async (t) => {
  const data = randomBytes(3 * LEAF_BYTES + 10);
  const { chunkDir, key } = await storeWith(t, data);
  const local = localDisk(t);
  t.true((await local.readChunk(chunkDir, key))?.equals(data));
  await flipByte(chunkFileOf(chunkDir, key), 7);
  t.is(await local.readChunk(chunkDir, key), null, 'a corrupt file is not returned');
  await unlink(chunkFileOf(chunkDir, key));
  t.is(await local.readChunk(chunkDir, key), null, 'a missing file is not an error');
});

for (const memory of ['shared', 'aligned'] as const) {
  test(`a whole chunk read with a pool (${memory}) is lent from its buffers; a failed read puts the buffer back`, async (t) => {
    // Over half a default chunk: smaller ones are copied out instead.
    const data = randomBytes(Math.floor(CHUNK_BYTES_MAX * 0.75));
    const { chunkDir, key } = await storeWith(t, data);
    const local = localDisk(t);
    const pool = new BufferPool(LOCAL_READ_BUFFER_BYTES, 16, memory);
    const got = await local.readChunk(chunkDir, key, pool);
    t.true(got?.equals(data));
    pool.give(got!);
    await nextMacrotask();
    t.is(pool.idle, 1, 'given back by its holder');
    const reused = pool.take();
    pool.put(reused);
    await flipByte(chunkFileOf(chunkDir, key), 5);
    t.is(await local.readChunk(chunkDir, key, pool), null);
    await nextMacrotask();
    t.is(pool.idle, 1, 'the buffer of a corrupt read is back in the pool');
    t.is(pool.take(), reused);
  });
}

test('a whole chunk a little longer than the largest chunk reads whole, with a pool or not', async (t) => {
  const data = randomBytes(CHUNK_BYTES_MAX + 100);
  const { chunkDir, key } = await storeWith(t, data);
  const local = localDisk(t);
  t.true((await local.readChunk(chunkDir, key, new BufferPool(LOCAL_READ_BUFFER_BYTES)))?.equals(data));
  t.true((await local.readChunk(chunkDir, key, new BufferPool(LOCAL_READ_BUFFER_BYTES, 16, 'aligned')))?.equals(data));
  t.true((await local.readChunk(chunkDir, key))?.equals(data));
});
