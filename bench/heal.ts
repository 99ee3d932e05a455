/**
 * bench:heal — how fast the swarm heals, and what replication costs.
 *  1. put and get of a 256 MiB file (R=3 on 4 local cells) against `cp` of the
 *     same file on the same disk followed by `sync` of the copy (put fsyncs too);
 *  2. SIGKILL of the cell holding the most (about 3/4 of the file's chunks,
 *     192 MiB of a 256 MiB file): time to detection (dead in a survivor's
 *     view), to the first repair and to every chunk back at R (fsck clean),
 *     from the kill and from the death event, and the repair rate.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI, run } from './run.js';
import { fsck, getFile, putFile, type MemberView } from '../src/client/index.js';
import { connectSwarm } from '../src/connect/index.js';
import { defaultConfig } from '../src/core/index.js';

const MiB = 1024 * 1024;
const FILE_MIB = Number(process.env.BENCH_FILE_MIB ?? 256);


async function writeRandom(file: string, mib: number): Promise<void> {
  const fh = await open(file, 'w');
  for (let i = 0; i < mib; i++) await fh.write(randomBytes(MiB));
  await fh.close();
}

const seconds = (t0: number) => (performance.now() - t0) / 1000;

/**
 * The disk's floor for a repair: `count` 4 MiB files written and fdatasynced,
 * `parallel` at a time (as repairing cells do), in seconds. A repair cannot
 * beat it: every copy made is a durable chunk file.
 */
async function fsyncedWritesS(dir: string, count: number, parallel: number): Promise<number> {
  const chunk = randomBytes(4 * MiB);
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const file = path.join(dir, `floor-${next++}`);
      const fh = await open(file, 'w');
      await fh.write(chunk);
      await fh.datasync();
      await fh.close();
      await rm(file);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return seconds(t0);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cellsync-bench-heal-'));
  const home = path.join(dir, 'home');
  try {
    const a = path.join(dir, 'a.bin');
    await writeRandom(a, FILE_MIB);

    let t0 = performance.now();
    await run('cp', [a, path.join(dir, 'a.copy')]);
    await run('sync', [path.join(dir, 'a.copy')]);
    const cpS = seconds(t0);
    await rm(path.join(dir, 'a.copy'));

    // Four storage cells (pinned): with R=3 one of them can die and be healed around.
    await run(CLI, ['swarm', 'up', '--home', home, '--cells', '4', '--base-port', '0', '--role', 'storage']);
    const swarm = JSON.parse(await readFile(path.join(home, 'swarm.json'), 'utf8')) as { cells: { data: string; host: string; port: number }[] };
    const client = await connectSwarm({
      swarmKey: await readFile(path.join(home, 'swarm.key')),
      seeds: swarm.cells.map((c) => `${c.host}:${c.port}`),
    });
    const p = defaultConfig().placement;
    const opts = { replicas: p.replicas, writeQuorum: p.writeQuorum, chunkBytes: p.chunkBytes };

    t0 = performance.now();
    const { id } = await putFile(client, a, opts);
    const putS = seconds(t0);
    t0 = performance.now();
    const sink = createWriteStream('/dev/null');
    await getFile(client, id, sink);
    sink.end();
    const getS = seconds(t0);

    // Wait for heartbeats to carry fresh byte counts, then kill the fullest cell.
    await new Promise((r) => setTimeout(r, 3_000));
    const members = await client.members(true);
    const victim = members.reduce((x, y) => (y.bytes > x.bytes ? y : x));
    const victimMiB = victim.bytes / MiB;
    process.kill(victim.pid, 'SIGKILL');
    const killed = performance.now();
    const killedWallMs = Date.now();
    const deadline = killed + 120_000;
    let cleanS = 0;
    let cleanWallMs = 0;
    for (;;) {
      if (performance.now() > deadline) throw new Error('gave up waiting for fsck clean');
      const view = await client.members(true).catch(() => [] as MemberView[]);
      const r = view.find((m) => m.id === victim.id)?.state === 'dead' ? await fsck(client) : null;
      if (r && r.underReplicated === 0 && r.missing === 0 && r.unreachableCells.length === 0) {
        cleanS = seconds(killed);
        cleanWallMs = Date.now();
        break;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    // From the cells' own event logs (wall clock, one machine): the first survivor to declare the death, and the
    // first repair after the kill (an anti-entropy pass can find the silent cell's copies missing before then).
    const survivors = members.filter((m) => m.id !== victim.id);
    const logs = await Promise.all(
      survivors.map(async (m) => ((await client.status([m.addr]).catch(() => null)) as { events: { atMs: number; type: string; cellId?: string }[] } | null)?.events ?? []),
    );
    const firstAfterKill = (match: (e: { atMs: number; type: string; cellId?: string }) => boolean) =>
      (Math.min(...logs.flat().filter((e) => e.atMs >= killedWallMs && match(e)).map((e) => e.atMs)) - killedWallMs) / 1000;
    const detectS = firstAfterKill((e) => e.type === 'member-died' && e.cellId === victim.id);
    // The last survivor to declare the death: its share of the copies cannot start before (the full-mesh detector's
    // survivors last heard the victim up to a heartbeat apart).
    const lastDetectS = (Math.max(...logs.map((l) => Math.min(...l.filter((e) => e.atMs >= killedWallMs && e.type === 'member-died' && e.cellId === victim.id).map((e) => e.atMs)))) - killedWallMs) / 1000;
    const repairS = Math.min(firstAfterKill((e) => e.type === 'repair-started'), detectS);
    await client.close();
    const heal = defaultConfig().heal;
    const floorS = await fsyncedWritesS(dir, Math.round(victimMiB / 4), (swarm.cells.length - 1) * heal.repairConcurrency);

    const mbs = (mib: number, s: number) => `${(mib / s).toFixed(1).padStart(7)} MB/s`;
    console.log(`bench:heal  4 cells, R=${p.replicas}, W=${p.writeQuorum}, ${FILE_MIB} MiB file, loopback, one disk`);
    console.log(`cp + sync of the file (baseline)    ${mbs(FILE_MIB, cpS)}`);
    console.log(`put (3 fsynced copies)              ${mbs(FILE_MIB, putS)}   ${(cpS / putS).toFixed(2)}x cp`);
    console.log(`get (verified)                      ${mbs(FILE_MIB, getS)}   ${(cpS / getS).toFixed(2)}x cp`);
    console.log(`SIGKILL of a cell holding ${victimMiB.toFixed(0)} MiB:`);
    console.log(`  detection (dead in a survivor's view)  ${detectS.toFixed(2)} s`);
    console.log(`  dead in every survivor's view          ${lastDetectS.toFixed(2)} s`);
    console.log(`  first repair started                   ${repairS.toFixed(2)} s`);
    console.log(`  SIGKILL -> every chunk at R (fsck)     ${cleanS.toFixed(2)} s`);
    console.log(`  death event -> every chunk at R        ${(cleanWallMs / 1000 - killedWallMs / 1000 - detectS).toFixed(2)} s (from the last survivor's: ${(cleanWallMs / 1000 - killedWallMs / 1000 - lastDetectS).toFixed(2)} s)`);
    console.log(`  repair rate (first repair to clean)    ${mbs(victimMiB, cleanS - repairS)} (limit ${heal.repairBytesPerSec / MiB} MiB/s per cell)`);
    console.log(`  the disk's floor: as many 4 MiB files fdatasynced, ${(swarm.cells.length - 1) * heal.repairConcurrency} at a time  ${floorS.toFixed(2)} s`);
  } finally {
    await run(CLI, ['swarm', 'down', '--home', home]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench:heal failed: ${(err as Error).message}`);
  process.exit(1);
});
