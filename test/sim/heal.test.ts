import test from 'ava';
import type { ChunkKey } from '../../src/core/index.js';
import { createSimSwarm, simSeeds, type SimSwarm } from '../helpers/sim-swarm.js';

const CELLS = 5;
const CHUNKS = 6;

/** Copies of each key held by running cells that are not quarantined. */
const copies = (swarm: SimSwarm, keys: ChunkKey[]) => keys.map((k) => swarm.holders(k).length);

/** The first part of test/integration/heal.test.ts's return scenario, on a simulated swarm. */
for (const seed of simSeeds(12)) {
  test.serial(`a storage cell crashes: every chunk is back at R copies; when it returns, the stand-in copies are dropped and no chunk falls below R (seed ${seed})`, async (t) => {
    const swarm = await createSimSwarm(t, { cells: CELLS, seed });
    const R = swarm.config.placement.replicas;
    const keys: ChunkKey[] = [];
    for (let i = 0; i < CHUNKS; i++) keys.push(await swarm.putChunk(swarm.bytes(1_024 + swarm.rng.int(64 * 1_024))));
    t.deepEqual(copies(swarm, keys), keys.map(() => R), 'stored at R copies');

    const victim = swarm.holders(keys[swarm.rng.int(CHUNKS)]!)[0]!;
    const slot = await swarm.crash(victim);
    const { failureTimeoutMs, suspicionMs, heartbeatIntervalMs } = swarm.config.membership;
    // Death is known within timeout + suspicion + a heartbeat; a pass follows after settleMs; pushes take milliseconds.
    await swarm.until(() => copies(swarm, keys).every((n) => n >= R), failureTimeoutMs + suspicionMs + heartbeatIntervalMs + 5_000, 'every chunk back at R copies');
    const afterHeal = copies(swarm, keys);
    t.true(afterHeal.every((n) => n === R), `exactly R copies without the victim: ${afterHeal}`);

    // It returns, with the same id and its chunks: the cells that stood in for it drop their copies, never going below R.
    await swarm.restart(slot);
    let lowest = Infinity;
    await swarm.until(
      () => {
        lowest = Math.min(lowest, ...copies(swarm, keys));
        return keys.every((k) => {
          const holders = swarm.holders(k).map((c) => c.id).sort();
          return holders.join() === swarm.homes(k).sort().join();
        });
      },
      30_000,
      'every chunk on exactly its home cells',
    );
    t.true(lowest >= R, `never below R copies during the return (lowest ${lowest})`);
    const removed = swarm.cells.reduce((sum, c) => sum + c.healer.stats.removed, 0);
    const held = slot.cell!.store.stats().chunks;
    t.true(held === 0 || removed > 0, 'the stand-in copies were dropped once the returning cell was confirmed to hold them');
  });
}
