import test from 'ava';
import type { ChunkKey } from '../../src/core/index.js';
import { Messages } from '../../src/wire/index.js';
import { createSimSwarm, simSeeds, type SimSwarm } from '../helpers/sim-swarm.js';

const CELLS = 5;
const CHUNKS = 6;
/** Two periodic heal passes (every 10 s) and their pushes. */
const PASSES_MS = 25_000;

const copies = (swarm: SimSwarm, keys: ChunkKey[]) => keys.map((k) => swarm.holders(k).length);
const onHomes = (swarm: SimSwarm, keys: ChunkKey[], r: number) => keys.every((k) => swarm.holders(k).map((c) => c.id).sort().join() === swarm.homes(k, r).sort().join());

/** What `cellsync setr` does to chunks: CHUNK_SET_R to every cell (each records it for the copies it holds). */
async function setR(swarm: SimSwarm, keys: ChunkKey[], replicas: number): Promise<number> {
  const held = await swarm.settle(Promise.all(swarm.cells.map((c) => swarm.client.call(c.address, Messages.CHUNK_SET_R, { replicas, keys }))));
  return held.flat().filter(Boolean).length;
}

for (const seed of simSeeds(6)) {
  test.serial(`R recorded with chunks lowered, then raised: heal frees the extra copies (never below the new R) and then makes the missing ones, onto their homes (seed ${seed})`, async (t) => {
    const swarm = await createSimSwarm(t, { cells: CELLS, seed });
    const keys: ChunkKey[] = [];
    for (let i = 0; i < CHUNKS; i++) keys.push(await swarm.putChunk(swarm.bytes(1_024 + swarm.rng.int(16 * 1_024)), 3));
    t.deepEqual(copies(swarm, keys), keys.map(() => 3));

    t.is(await setR(swarm, keys, 2), 3 * CHUNKS, 'every copy recorded R=2');
    let lowest = Infinity;
    await swarm.until(
      () => {
        lowest = Math.min(lowest, ...copies(swarm, keys));
        return onHomes(swarm, keys, 2);
      },
      PASSES_MS,
      'every chunk on exactly its 2 homes',
    );
    t.is(lowest, 2, 'never below the new R while copies were freed');

    t.is(await setR(swarm, keys, 4), 2 * CHUNKS);
    await swarm.until(() => onHomes(swarm, keys, 4), PASSES_MS, 'every chunk on its 4 homes');
    t.true(swarm.cells.every((c) => keys.every((k) => !c.store.has(k) || c.store.meta(k).replicas === 4)), 'the copies heal made carry R=4');
  });
}
