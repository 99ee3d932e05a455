import test from 'ava';
import type { ChunkKey } from '../../src/core/index.js';
import { createSimSwarm, simSeeds, type SimSwarm } from '../helpers/sim-swarm.js';

const CELLS = 5;
const CHUNKS = 8;
/** Simulated time watched after a cell leaves or returns: several anti-entropy passes, past any failure timeout. */
const WATCH_MS = 40_000;

const copies = (swarm: SimSwarm, keys: ChunkKey[]) => keys.map((k) => swarm.holders(k).length);
/** Copies made and dropped by healing, over the running cells. */
const made = (swarm: SimSwarm) => swarm.cells.reduce((n, c) => n + c.healer.stats.pushed, 0);
const dropped = (swarm: SimSwarm) => swarm.cells.reduce((n, c) => n + c.healer.stats.removed, 0);
/** Every chunk on exactly its home cells, as the first running cell sees the swarm. */
const atHome = (swarm: SimSwarm, keys: ChunkKey[]) => keys.every((k) => swarm.holders(k).map((c) => c.id).sort().join() === swarm.homes(k).sort().join());

async function swarmWithChunks(t: import('ava').ExecutionContext, seed: number, leftGraceMs?: number): Promise<{ swarm: SimSwarm; keys: ChunkKey[] }> {
  const swarm = await createSimSwarm(t, { cells: CELLS, seed, config: (c) => leftGraceMs !== undefined && (c.heal.leftGraceMs = leftGraceMs) });
  const keys: ChunkKey[] = [];
  for (let i = 0; i < CHUNKS; i++) keys.push(await swarm.putChunk(swarm.bytes(1_024 + swarm.rng.int(32 * 1_024))));
  return { swarm, keys };
}

for (const seed of simSeeds(3)) {
  test.serial(`a cell stopped in order and started again within the grace: no copy made, none dropped (seed ${seed})`, async (t) => {
    const { swarm, keys } = await swarmWithChunks(t, seed);
    const slot = swarm.slot(swarm.holders(keys[0]!)[0]!);
    await swarm.stop(slot.index);
    await swarm.run(WATCH_MS);
    t.true(swarm.cells.every((c) => c.membership.get(slot.id)?.state === 'left'), 'every cell holds it left, not dead');
    t.true(copies(swarm, keys).some((n) => n < swarm.config.placement.replicas), 'its chunks are one copy short while it is away');
    t.is(made(swarm), 0, 'no copy made while it is away');
    t.true(swarm.cells.some((c) => c.healer.stats.heldForLeft > 0 && /wait for/.test(c.healer.stats.activity)), 'status says why nothing is repaired');

    await swarm.restart(slot);
    await swarm.until(() => swarm.isConverged(), 30_000, 'membership convergence');
    await swarm.run(WATCH_MS);
    t.true(atHome(swarm, keys), 'every chunk on its home cells');
    t.is(made(swarm), 0, 'no copy made after its return');
    t.is(dropped(swarm), 0, 'no copy dropped after its return');
  });

  test.serial(`a cell stopped in order and away past the grace: its chunks are repaired then, not before (seed ${seed})`, async (t) => {
    const graceMs = 30_000;
    const { swarm, keys } = await swarmWithChunks(t, seed, graceMs);
    const R = swarm.config.placement.replicas;
    const slot = swarm.slot(swarm.holders(keys[0]!)[0]!);
    const leftAt = swarm.clock.now();
    await swarm.stop(slot.index);
    await swarm.run(graceMs - 2_000 - (swarm.clock.now() - leftAt));
    t.is(made(swarm), 0, 'no copy made within the grace');
    await swarm.until(() => copies(swarm, keys).every((n) => n >= R), 4_000 + 5_000, 'every chunk back at R copies after the grace');
    t.true(swarm.clock.now() - leftAt >= graceMs, 'repaired only once the grace ended');
    // The copies are in place a moment before their pushers hear them acknowledged and count them.
    await swarm.until(() => made(swarm) > 0, 1_000, 'the copies counted by the cells that made them');
  });

  test.serial(`a whole swarm stopped in order and started again, one cell after another: no copy made, none dropped (seed ${seed})`, async (t) => {
    const { swarm, keys } = await swarmWithChunks(t, seed);
    const before = keys.map((k) => swarm.holders(k).map((c) => c.id).sort().join());
    for (const s of swarm.slots) await swarm.stop(s.index);
    for (const s of swarm.slots) {
      await swarm.restart(s);
      // As `swarm up` does: the next cell starts once this one serves (a second of heartbeats, a few passes).
      await swarm.run(2_000);
    }
    await swarm.until(() => swarm.isConverged(), 30_000, 'membership convergence');
    await swarm.run(WATCH_MS);
    t.is(made(swarm), 0, 'no copy made');
    t.is(dropped(swarm), 0, 'no copy dropped');
    t.deepEqual(keys.map((k) => swarm.holders(k).map((c) => c.id).sort().join()), before, 'every copy where it was');
  });
}
