import test from 'ava';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { QUARANTINE_MARKER } from '../../src/cell/index.js';
import { runChaos, type ChaosAction, type ChaosEnv } from '../../src/chaos/index.js';
import { createSimSwarm, simSeeds, type SimSwarm } from '../helpers/sim-swarm.js';

const SCRUB_PERIOD_MS = 3_000;

/** Chaos acting on a simulated swarm: cells by slot, time from the swarm's clock. Kills are not used here. */
function simChaosEnv(swarm: SimSwarm): ChaosEnv {
  return {
    cells: async () => swarm.slots.map((s) => ({ name: `cell-${s.index}`, data: s.dataDir, addr: s.addr })),
    kill: async () => null,
    restart: async () => undefined,
    setFaults: async () => undefined,
    now: () => swarm.clock.now(),
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        const timer = swarm.clock.setTimeout(resolve, ms);
        signal?.addEventListener('abort', () => {
          timer.clear();
          resolve();
        });
      }),
  };
}

/** Whether a cell's disk still holds a corrupt copy of key (a file by that name whose bytes do not hash to it). */
async function corruptOnDisk(dataDir: string, key: string): Promise<boolean> {
  const file = path.join(dataDir, 'chunks', key.slice(0, 2), key);
  const bytes = await readFile(file).catch(() => null);
  return bytes !== null && createHash('sha256').update(bytes).digest('hex') !== key;
}

for (const seed of simSeeds(3)) {
  test.serial(`chaos infect: a cell whose disk keeps corrupting is quarantined everywhere; rehabilitated, it scrubs itself while serving and one more corruption does not expel it again (seed ${seed})`, async (t) => {
    const swarm = await createSimSwarm(t, {
      cells: 5,
      seed,
      roles: ['storage', 'storage', 'storage', 'storage', 'guard'],
      config: (c) => {
        c.immune.scrubPeriodMs = SCRUB_PERIOD_MS;
      },
    });
    const threshold = swarm.config.immune.quarantineAfter;
    for (let i = 0; i < 16; i++) await swarm.putChunk(swarm.bytes(2_048 + swarm.rng.int(16 * 1_024)));
    const actions: ChaosAction[] = [];
    const summary = await swarm.settle(
      runChaos(simChaosEnv(swarm), { durationMs: 3_000, seed, killEveryMs: 0, restartAfterMs: 0, corruptEveryMs: 0, infectEveryMs: 1_000, infectChunks: 5, maxInfected: 1, maxDead: 0, packets: { lossRate: 0, dupRate: 0, reorderRate: 0 } }, (a) => actions.push(a)),
      60_000,
    );
    t.is(summary.infected.length, 1, actions.map((a) => `${a.kind} ${a.cell} ${a.detail}`).join('\n'));
    const infection = summary.infected[0]!;
    t.is(infection.keys.length, 5, 'five chunks corrupted on the infected disk');
    t.is(actions.filter((a) => a.kind === 'infect').length, 1);
    t.is(actions.filter((a) => a.kind === 'corrupt' && a.cell === infection.cell).length, 5);
    const slot = swarm.slots.find((s) => s.dataDir === infection.data)!;
    const victim = slot.cell!;

    const quarantinedEverywhere = () => swarm.cells.filter((c) => c !== victim).every((c) => c.membership.get(victim.id)?.state === 'quarantined');
    await swarm.until(quarantinedEverywhere, 3 * SCRUB_PERIOD_MS + 20_000, 'the infected cell quarantined everywhere');
    const confirmed = swarm.events().filter((e) => e.type === 'alert-confirmed' && e.cellId === victim.id && e.by !== victim.id);
    t.true(confirmed.length >= threshold, `at least ${threshold} corruptions confirmed against it`);
    await swarm.until(() => swarm.events().some((e) => e.by === victim.id && e.type === 'cell-quarantined'), 5_000, 'the victim knowing it is quarantined');
    await swarm.until(async () => (await stat(path.join(slot.dataDir, QUARANTINE_MARKER)).catch(() => null)) !== null, 5_000, 'its quarantine marker');

    // Rehabilitation: stopped, started again (a new incarnation); the store is scrubbed in the background.
    await swarm.stop(victim);
    const back = await swarm.restart(slot);
    const selfScrub = () => back.events.recent().find((e) => e.type === 'self-scrub-finished');
    t.true(back.events.recent().some((e) => e.type === 'self-scrub-started'), 'it serves while its scrub starts');
    await swarm.until(() => swarm.cells.filter((c) => c !== back).every((c) => c.membership.get(back.id)?.state === 'alive'), 20_000, 'the quarantine lifted everywhere');
    await swarm.until(() => selfScrub() !== undefined, 60_000, 'the self-scrub to finish');
    t.log(selfScrub()!.detail);
    for (const key of infection.keys) t.false(await corruptOnDisk(slot.dataDir, key), `infected chunk ${key.slice(0, 8)} no longer corrupt on its disk`);
    t.is(await stat(path.join(slot.dataDir, QUARANTINE_MARKER)).catch(() => null), null, 'the marker removed');
    t.false(back.events.recent().some((e) => e.type === 'alert-raised' && e.cellId === back.id), 'what the scrub removed raised no alert against it');

    // A clean record after rehabilitation: one more corruption is repaired, not a quarantine again.
    const key = [...back.store.keys()].sort()[0]!;
    const before = swarm.events().length;
    await swarm.corruptChunk(back, key);
    await swarm.until(() => swarm.events().slice(before).some((e) => e.type === 'alert-confirmed' && e.cellId === back.id), 3 * SCRUB_PERIOD_MS + 20_000, 'the new corruption confirmed');
    await swarm.run(5_000);
    t.true(swarm.cells.filter((c) => c !== back).every((c) => c.membership.get(back.id)?.state === 'alive'), 'not quarantined again');
  });
}
