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

/** From `cell`'s own death event for `victim` to the next repair it starts (simulated ms); null if it has not started one yet. */
function deathToRepairMs(cell: Cell, victim: string, sinceMs: number): number | null {
  const died = firstEvent(cell, 'member-died', sinceMs, victim);
  const repair = died === null ? null : firstEvent(cell, 'repair-started', died);
  return died === null || repair === null ? null : repair - died;
}

/** Cells in the middle of a repair: their last repair event is a start. */
const repairing = (swarm: SimSwarm) => swarm.cells.filter((c) => c.events.recent().filter((e) => e.type.startsWith('repair-')).pop()?.type === 'repair-started');

for (const seed of simSeeds(4)) {
  test.serial(`a death starts its repair within a second of the event, even on a cell in the middle of a slow repair (seed ${seed})`, async (t) => {
    // A slow repair: each copy of the first death waits seconds for the bandwidth bucket, and the second death comes in the middle.
    const swarm = await createSimSwarm(t, { cells: CELLS, seed, config: (c) => (c.heal.repairBytesPerSec = 16 * 1024) });
    const R = swarm.config.placement.replicas;
    const keys: ChunkKey[] = [];
    for (let i = 0; i < CHUNKS; i++) keys.push(await swarm.putChunk(swarm.bytes(48 * 1024)));

    const first = swarm.holders(keys[0]!)[0]!;
    const firstAt = swarm.clock.wallNow();
    await swarm.crash(first);
    await swarm.until(() => swarm.cells.some((c) => deathToRepairMs(c, first.id, firstAt) !== null), 30_000, 'a repair after the first death');
    for (const c of swarm.cells) {
      const ms = deathToRepairMs(c, first.id, firstAt);
      if (ms !== null) t.true(ms <= REPAIR_START_MS_MAX, `first death: ${c.id} started its repair ${ms} ms after the event`);
    }

    // Kill a cell while others are still repairing (a pass under way, copies waiting for the bucket).
    await swarm.run(1_000);
    const busy = repairing(swarm);
    t.true(busy.length > 0 && copies(swarm, keys).some((n) => n < R), 'the first repair is still under way');
    const second = swarm.cells.find((c) => !busy.includes(c) && keys.some((k) => c.store.has(k))) ?? busy[1] ?? swarm.cells.find((c) => c !== busy[0])!;
    const watched = busy.filter((c) => c !== second);
    const secondAt = swarm.clock.wallNow();
    await swarm.crash(second);
    // Each cell that was repairing plans again at once: its next repair starts within a second of its death event.
    await swarm.until(() => watched.every((c) => deathToRepairMs(c, second.id, secondAt) !== null), 30_000, 'a repair after the second death on every cell that was repairing');
    for (const c of watched) {
      const ms = deathToRepairMs(c, second.id, secondAt)!;
      t.true(ms <= REPAIR_START_MS_MAX, `second death: ${c.id}, in the middle of a repair, started the next ${ms} ms after the event`);
    }
    await swarm.until(() => copies(swarm, keys).every((n) => n >= R), 300_000, 'every chunk back at R copies');
  });
}
