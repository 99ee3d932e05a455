import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cell } from '../../src/cell/index.js';
import { SimClock, seededRng, type CellError } from '../../src/core/index.js';
import { SimNetwork } from '../../src/transport/index.js';
import { MessageType } from '../../src/wire/index.js';
import { createSimSwarm, simConfig } from '../helpers/sim-swarm.js';

test('a stopped cell leaves no timer behind, its address free and its data dir unlocked; stop is idempotent', async (t) => {
  const dir = await mkdtemp(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'cellsync-life-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const clock = new SimClock();
  const rng = seededRng(1);
  const net = new SimNetwork({ clock, rng });
  const init = { dataDir: dir, host: '', port: 0, seeds: [], swarmKey: Buffer.alloc(32, 1), config: simConfig(), role: 'storage' as const, rolePinned: true };
  for (let run = 1; run <= 2; run++) {
    const cell = await clock.runWhile(Cell.start({ transport: net.transport('10.0.0.1:7400'), clock, rng }, init), 10_000);
    t.is(cell.incarnation, run);
    await clock.run(5_000);
    t.not(clock.nextTimerAtMs(), null, 'a running cell has periodic work');
    const stopping = cell.stop();
    t.is(cell.stop(), stopping, 'a second stop is the same stop');
    await clock.runWhile(stopping, 10_000);
    t.is(clock.nextTimerAtMs(), null, 'every timer cleared');
    t.false(cell.isRunning);
  }
});

test('a crashed cell is cut off at once: nothing it was asked is answered, and the others see it die', async (t) => {
  const swarm = await createSimSwarm(t, { cells: 3, seed: 1 });
  const [a, b] = swarm.cells;
  const slot = await swarm.crash(b!);
  t.is(slot.cell, null);
  const ping = swarm.client.request(slot.addr, MessageType.PING, Buffer.alloc(0), { timeoutMs: 1_000 });
  t.is(((await swarm.settle(ping).catch((e: unknown) => e)) as CellError).code, 'TIMEOUT');
  const { failureTimeoutMs, suspicionMs, heartbeatIntervalMs } = swarm.config.membership;
  await swarm.until(() => a!.membership.get(b!.id)?.state === 'dead', failureTimeoutMs + suspicionMs + heartbeatIntervalMs, 'the crashed cell dead');
  const back = await swarm.restart(slot);
  t.is(back.incarnation, 2);
  await swarm.until(() => swarm.isConverged(), 10_000, 'the restarted cell alive everywhere');
  t.is(a!.membership.get(back.id)?.incarnation, 2);
});
