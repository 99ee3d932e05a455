import test from 'ava';
import type { ChunkKey } from '../../src/core/index.js';
import type { Cell } from '../../src/cell/index.js';
import { createSimSwarm, simSeeds, type SimSwarm } from '../helpers/sim-swarm.js';

const CELLS = 5;
const CHUNKS = 12;
/** A repair must start this soon after the death event that calls for it (simulated ms). */
const REPAIR_START_MS_MAX = 1_000;

const copies = (swarm: SimSwarm, keys: ChunkKey[]) => keys.map((k) => swarm.holders(k).length);

/** When `cell` recorded its first event of `type` (about `about`, if given) at or after `sinceMs` (simulated wall ms), or null. */
function firstEvent(cell: Cell, type: string, sinceMs: number, about?: string): number | null {
  const e = cell.events.recent().find((x) => x.type === type && x.atMs >= sinceMs && (about === undefined || x.cellId === about));
  return e ? e.atMs : null;
}

/**
 * The shortest delay, over the survivors, from a cell's own death event for
 * `victim` to the next repair it starts: some survivor must start the
 * repair; the test requires the first one to do so within a second.
 */
function deathToRepairMs(swarm: SimSwarm, victim: string, sinceMs: number): number {
  let best = Infinity;
  for (const c of swarm.cells) {
    const died = firstEvent(c, 'member-died', sinceMs, victim);
    const repair = died === null ? null : firstEvent(c, 'repair-started', died);
    if (died !== null && repair !== null) best = Math.min(best, repair - died);
  }
  return best;
}

for (const seed of simSeeds(4)) {
  test.serial(`a death starts its repair within a second of the event, even while a slow repair is under way (seed ${seed})`, async (t) => {
    // A slow repair: the first death's copies take seconds to make, and the second death comes in the middle.
    const swarm = await createSimSwarm(t, { cells: CELLS, seed, config: (c) => (c.heal.repairBytesPerSec = 64 * 1024) });
    const R = swarm.config.placement.replicas;
    const keys: ChunkKey[] = [];
    for (let i = 0; i < CHUNKS; i++) keys.push(await swarm.putChunk(swarm.bytes(48 * 1024)));

    const first = swarm.holders(keys[0]!)[0]!;
    const firstAt = swarm.clock.wallNow();
    await swarm.crash(first);
    await swarm.until(() => deathToRepairMs(swarm, first.id, firstAt) < Infinity, 30_000, 'a repair after the first death');
    const firstMs = deathToRepairMs(swarm, first.id, firstAt);
    t.true(firstMs <= REPAIR_START_MS_MAX, `first death: repair started ${firstMs} ms after the event`);

    // Kill a cell that holds chunks while the repair is still running (some copies not yet made).
    t.true(copies(swarm, keys).some((n) => n < R), 'the first repair is still under way');
    const second = swarm.cells.find((c) => keys.some((k) => c.store.has(k)))!;
    const secondAt = swarm.clock.wallNow();
    await swarm.crash(second);
    await swarm.until(() => deathToRepairMs(swarm, second.id, secondAt) < Infinity, 30_000, 'a repair after the second death');
    const secondMs = deathToRepairMs(swarm, second.id, secondAt);
    t.true(secondMs <= REPAIR_START_MS_MAX, `second death, during a repair: repair started ${secondMs} ms after the event`);

    await swarm.until(() => copies(swarm, keys).every((n) => n >= R), 120_000, 'every chunk back at R copies');
  });
}
