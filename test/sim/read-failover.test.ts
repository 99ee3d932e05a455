import test, { type ExecutionContext } from 'ava';
import { O, SIM_CHUNK_BYTES, mountSimFs, readRange, writeFile, type SimMount } from '../helpers/sim-fs.js';
import { createSimSwarm, simSeeds, type SimSwarm } from '../helpers/sim-swarm.js';

/*
 * Reads through a mount (SwarmFs on the simulated network, nothing local)
 * while one replica is hung (cut off, still running: SIGSTOP) and then while
 * another is dead (crashed): every lookup and read, range reads and whole
 * chunks, returns the right bytes within 0.5 s of simulated time, long
 * before the failure detector declares anything; and hedging stays bounded.
 */

const READ_MS_MAX = 500;
const FILES = 3;

for (const seed of simSeeds(2, 180)) {
  test.serial(`reads never wait more than ${READ_MS_MAX} ms for a hung or a dead replica, before the detector sees it (seed ${seed})`, async (t) => {
    const swarm = await createSimSwarm(t, { cells: 4, seed });
    const m = await mountSimFs(t, swarm);
    const files = new Map<string, Buffer>();
    await m.fs.mkdir('/d', 0o755);
    for (let i = 0; i < FILES; i++) {
      const data = swarm.bytes(SIM_CHUNK_BYTES * (2 + swarm.rng.int(3)) + swarm.rng.int(SIM_CHUNK_BYTES));
      await writeFile(m.fs, `/d/f${i}`, data);
      files.set(`/d/f${i}`, data);
    }
    const stats = { reads: 0, longestMs: 0 };

    const hung = swarm.cells[swarm.rng.int(4)]!;
    const hungAddr = swarm.slot(hung).addr;
    swarm.net.isolate(hungAddr);
    await readEverything(t, swarm, m, files, 'one replica hung', stats);
    t.is(swarm.cells.find((c) => c !== hung)!.membership.get(hung.id)?.state, 'alive', 'the detector had not declared the hung cell dead yet');
    swarm.net.heal(hungAddr);
    // Back: tried first again once its shunning ends or it answers anything.
    await swarm.until(() => !m.client.isShunned(hungAddr), 10_000, 'the hung cell tried again');

    const dead = swarm.cells.find((c) => c !== hung)!;
    await swarm.crash(dead);
    await readEverything(t, swarm, m, files, 'one replica dead', stats);
    t.not(swarm.cells[0]!.membership.get(dead.id)?.state, 'dead', 'the detector had not declared the dead cell dead yet');

    const { readsStarted, hedgesSent } = m.client.hedge;
    t.log(`${stats.reads} reads through the mount, the longest ${stats.longestMs} ms; ${readsStarted} replica reads, ${hedgesSent} hedged`);
    t.true(hedgesSent >= 1, 'the failed replicas were met');
    t.true(hedgesSent <= readsStarted, 'one hedge per read at most');
    t.true(hedgesSent <= readsStarted / 4, 'a replica late once is shunned: later reads go around it without a hedge');
  });
}

/** Opens (a lookup), reads random ranges and then the whole of every file, with cold caches; each call timed on the simulated clock. */
async function readEverything(
  t: ExecutionContext,
  swarm: SimSwarm,
  m: SimMount,
  files: Map<string, Buffer>,
  phase: string,
  stats: { reads: number; longestMs: number },
): Promise<void> {
  m.fs.dropCaches();
  const timed = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    const from = swarm.clock.now();
    const value = await call();
    const ms = swarm.clock.now() - from;
    stats.reads++;
    stats.longestMs = Math.max(stats.longestMs, ms);
    if (ms > READ_MS_MAX) t.fail(`${phase}: ${what} took ${ms} simulated ms`);
    return value;
  };
  for (const [path, data] of files) {
    const fd = await timed(`open ${path}`, () => m.fs.open(path, O.RDONLY));
    for (let i = 0; i < 4; i++) {
      const length = 4096 * (1 + swarm.rng.int(16));
      const position = swarm.rng.int(data.length - length);
      const got = await timed(`read of ${length} bytes at ${position} of ${path}`, () => readRange(m.fs, fd, position, length));
      t.true(got.equals(data.subarray(position, position + length)), `${phase}: ${path} at ${position}`);
    }
    const piece = 128 * 1024;
    for (let at = 0; at < data.length; at += piece) {
      const got = await timed(`read at ${at} of ${path}`, () => readRange(m.fs, fd, at, piece));
      t.true(got.equals(data.subarray(at, at + piece)), `${phase}: ${path} read whole, at ${at}`);
    }
    await m.fs.release(fd);
  }
  t.deepEqual((await timed('readdir /d', () => m.fs.readdir('/d'))).filter((n) => !n.startsWith('.')).sort(), [...files.keys()].map((p) => p.slice(3)).sort());
}
