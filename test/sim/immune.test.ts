import test from 'ava';
import type { ChunkKey } from '../../src/core/index.js';
import { createSimSwarm, simSeeds, type SimSwarm } from '../helpers/sim-swarm.js';

const SCRUB_PERIOD_MS = 3_000;

/** As test/integration/immune.test.ts: 4 pinned storage cells and 1 pinned guard, fast scrubbing, quarantine at the first confirmed corruption. */
function immuneSwarm(t: Parameters<typeof createSimSwarm>[0], seed: number, falseAlertMs = 0): Promise<SimSwarm> {
  return createSimSwarm(t, {
    cells: 5,
    seed,
    roles: ['storage', 'storage', 'storage', 'storage', 'guard'],
    config: (c) => {
      c.immune.scrubPeriodMs = SCRUB_PERIOD_MS;
      c.immune.quarantineAfter = 1;
      c.immune.testFalseAlertMs = falseAlertMs;
    },
  });
}

async function putSome(swarm: SimSwarm, n: number): Promise<ChunkKey[]> {
  const keys: ChunkKey[] = [];
  for (let i = 0; i < n; i++) keys.push(await swarm.putChunk(swarm.bytes(2_048 + swarm.rng.int(32 * 1_024))));
  return keys;
}

for (const seed of simSeeds(10)) {
  test.serial(`a corrupt chunk on disk is found by the guard, confirmed, the cell quarantined everywhere and its chunks re-replicated (seed ${seed})`, async (t) => {
    const swarm = await immuneSwarm(t, seed);
    const R = swarm.config.placement.replicas;
    const keys = await putSome(swarm, 4);
    const key = keys[swarm.rng.int(keys.length)]!;
    const victim = swarm.holders(key)[swarm.rng.int(R)]!;
    await swarm.corruptChunk(victim, key);
    const corruptedAt = swarm.clock.now();

    const quarantinedEverywhere = () => swarm.cells.filter((c) => c !== victim).every((c) => c.membership.get(victim.id)?.state === 'quarantined');
    await swarm.until(quarantinedEverywhere, 3 * SCRUB_PERIOD_MS + 10_000, 'the victim quarantined everywhere');
    t.log(`quarantined everywhere ${Math.round(swarm.clock.now() - corruptedAt)} simulated ms after the corruption`);
    const events = swarm.events().map((e) => e.type);
    for (const e of ['corruption-detected', 'alert-raised', 'alert-confirmed', 'member-quarantined']) t.true(events.includes(e), `event ${e}`);
    // The confirmations reach the victim too (each after its own network delay): it marks itself to scrub on its next start.
    await swarm.until(() => swarm.events().some((e) => e.by === victim.id && e.type === 'cell-quarantined'), 1_000, 'the victim knowing it is quarantined');

    // Healing without the quarantined cell: every chunk at R good copies on the others.
    const healthy = () => swarm.cells.filter((c) => c !== victim);
    await swarm.until(() => keys.every((k) => healthy().filter((c) => c.store.has(k)).length >= R), 20_000, 'every chunk at R copies without the victim');
    for (const k of keys) {
      for (const c of healthy().filter((x) => x.store.has(k))) t.true((await swarm.settle(c.store.get(k))).length > 0, 'the copies read back verified');
    }
  });

  test.serial(`a guard that sends false alerts does not get a healthy cell quarantined (seed ${seed})`, async (t) => {
    const swarm = await immuneSwarm(t, seed, 500);
    await putSome(swarm, 3);
    await swarm.until(() => swarm.events().filter((e) => e.type === 'alert-rejected').length >= 3, 20_000, 'three false alerts rejected');
    t.true(swarm.cells.every((c) => c.membership.members().every((m) => m.state !== 'quarantined')), 'nobody quarantined');
    t.false(swarm.events().some((e) => e.type === 'alert-confirmed'));
  });
}
