import test from 'ava';
import { Scrape } from '../../src/metrics/index.js';
import { createSimSwarm, simSeeds } from '../helpers/sim-swarm.js';

/**
 * A cell's metrics after the immune system's whole story on the simulated swarm (as test/sim/immune.test.ts):
 * a corrupt chunk found by the guard's scrub, confirmed, the cell quarantined and its chunks copied elsewhere.
 * The figures each cell serves are read from its registry, as its HTTP endpoint would serve them.
 */
for (const seed of simSeeds(2)) {
  test.serial(`a cell's metrics count the scrub, the corruption, the quarantine, the members by state and the repairs (seed ${seed})`, async (t) => {
    const swarm = await createSimSwarm(t, {
      cells: 5,
      seed,
      roles: ['storage', 'storage', 'storage', 'storage', 'guard'],
      config: (c) => {
        c.immune.scrubPeriodMs = 3_000;
        c.immune.quarantineAfter = 1;
      },
    });
    const R = swarm.config.placement.replicas;
    const keys: string[] = [];
    for (let i = 0; i < 4; i++) keys.push(await swarm.putChunk(swarm.bytes(4_096 + swarm.rng.int(16 * 1_024))));
    const key = keys[0]!;
    const victim = swarm.holders(key)[0]!;
    const scrape = async (c: (typeof swarm.cells)[number]) => new Scrape(0, await c.metrics.metrics());
    const before = await Promise.all(swarm.cells.map(scrape));
    t.true(before.every((s) => s.value('cellsync_members', { state: 'alive' }) === 5));
    t.true(before.every((s) => s.value('cellsync_quarantines_total') === 0));
    await swarm.corruptChunk(victim, key);
    const healthy = swarm.cells.filter((c) => c !== victim);
    await swarm.until(() => healthy.every((c) => c.membership.get(victim.id)?.state === 'quarantined'), 20_000, 'the victim quarantined everywhere');
    await swarm.until(() => keys.every((k) => healthy.filter((c) => c.store.has(k)).length >= R), 20_000, 'every chunk at R copies without the victim');
    // A copy is counted when its receiver's answer is back (after the copy is stored): until then, the repair runs.
    const lost = keys.filter((k) => victim.store.has(k)).length;
    await swarm.until(() => healthy.reduce((a, c) => a + c.healer.stats.pushed, 0) >= lost, 10_000, 'the repair copies answered');

    const after = await Promise.all(healthy.map(scrape));
    for (const s of after) {
      t.is(s.value('cellsync_quarantines_total'), 1);
      t.is(s.value('cellsync_members', { state: 'quarantined' }), 1);
      t.is(s.value('cellsync_members', { state: 'alive' }), 4);
      t.true(s.value('cellsync_wire_frames_received_total') > 0 && s.value('cellsync_wire_bytes_sent_total') > 0);
    }
    const guard = after[healthy.findIndex((c) => c.membership.members()[0]!.role === 'guard')]!;
    t.true(guard.value('cellsync_scrub_chunks_total') >= 1, 'the guard counted what it scrubbed');
    t.true(guard.value('cellsync_scrub_bytes_total') > 0);
    t.true(guard.value('cellsync_alerts_raised_total') >= 1, 'and the alert it raised');
    t.true(after.some((s) => s.value('cellsync_alerts_confirmed_total') >= 1));
    // The victim held some of the chunks: their copies were made again by the others, and counted there.
    const copies = after.reduce((a, s) => a + s.value('cellsync_repair_copies_total'), 0);
    t.is(copies, healthy.reduce((a, c) => a + c.healer.stats.pushed, 0), 'the copies the healers made, as served');
    t.true(copies >= lost, `${copies} repair copies counted, ${lost} chunks to copy again`);
    t.true(after.reduce((a, s) => a + s.value('cellsync_repair_bytes_total'), 0) > 0);
    // The victim's own disk gave the corrupt copy away when it was read: its store counted it.
    t.true((await scrape(victim)).value('cellsync_corruptions_found_total') >= 1);
  });
}
