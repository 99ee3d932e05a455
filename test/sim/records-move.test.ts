import test, { type ExecutionContext } from 'ava';
import { RecordsClient, collectGarbage, countedInodes, decodeManifest } from '../../src/client/index.js';
import type { ChunkKey } from '../../src/core/index.js';
import type { Role } from '../../src/membership/index.js';
import { ROOT_INO, direntPrefix, placementKeyOf, type Dirent, type Inode, type RecordEnvelope } from '../../src/namespace/index.js';
import { O, mountSimFs, readFile, writeAll, writeFile, type SimMount } from '../helpers/sim-fs.js';
import { createSimSwarm, simSeeds, type SimCellSlot, type SimSwarm } from '../helpers/sim-swarm.js';

/** Storage cells at the start (R = 3), and membership changes in a history; files are written and removed between them. */
const CELLS = 4;
const STEPS = 10;
const DIRS = 3;
/** File sizes: below the inline limit, and of a few 64 KiB chunks. */
const SIZES = [200, 3_000, 70_000, 150_000];

/** Every record the running cells hold, with the cell holding it. */
function heldRecords(swarm: SimSwarm): { cell: string; r: RecordEnvelope }[] {
  return swarm.cells.flatMap((c) => c.records.scan('', null, 1_000_000).map((r) => ({ cell: c.id, r })));
}

const roleOf = (swarm: SimSwarm, id: string) => swarm.cells.find((c) => c.id === id)!.membership.members()[0]!.role;

/**
 * What must hold once records settled: only a record's homes hold it, each
 * home at the newest version any cell holds (a tombstone for a deleted
 * record, which then is live nowhere). A list of what does not hold, empty
 * when all does.
 */
function recordFaults(swarm: SimSwarm): string[] {
  const homes = swarm.placement();
  const held = heldRecords(swarm);
  const newest = new Map<string, RecordEnvelope>();
  for (const { r } of held) if (!newest.has(r.k) || r.v > newest.get(r.k)!.v) newest.set(r.k, r);
  const faults: string[] = [];
  for (const { cell, r } of held) {
    if (!homes(placementKeyOf(r.k)).includes(cell)) faults.push(`${r.k} (${r.d === null ? 'tombstone' : 'live'}) on ${cell.slice(0, 8)} (${roleOf(swarm, cell)}), not one of its homes`);
  }
  for (const [k, r] of newest) {
    for (const id of homes(placementKeyOf(k))) {
      const cell = swarm.cells.find((c) => c.id === id);
      if (cell && cell.records.get(k)?.v !== r.v) faults.push(`home ${id.slice(0, 8)} lacks the newest version of ${k}`);
    }
  }
  return faults;
}

/** The inodes reachable from the root, entry by entry as a mount reads them (quorum reads): the true set of live files and directories. */
async function reachable(swarm: SimSwarm, mount: SimMount): Promise<Set<string>> {
  const records = new RecordsClient(mount.client, swarm.config.placement.replicas);
  const out = new Set<string>([ROOT_INO]);
  for (const dirs = [ROOT_INO]; dirs.length > 0; ) {
    for (const e of await swarm.settle(records.scan(direntPrefix(dirs.pop()!)))) {
      const d = e.d as Dirent | null;
      if (!d) continue;
      out.add(d.ino);
      if (d.type === 'dir') dirs.push(d.ino);
    }
  }
  return out;
}

/** A random history of joins, crashes, restarts, forgets and role changes, with files written, rewritten and removed in between. */
async function history(t: ExecutionContext, swarm: SimSwarm, mount: SimMount, files: Map<string, Buffer>): Promise<string[]> {
  const R = swarm.config.placement.replicas;
  const rng = swarm.rng;
  const done: string[] = [];
  const forgotten = new Set<SimCellSlot>();
  const storage = () => swarm.cells.filter((c) => c.membership.members()[0]!.role === 'storage');
  const dirs = Array.from({ length: DIRS }, (_, i) => `/d${i}`);
  for (const d of dirs) await mount.fs.mkdir(d, 0o755);
  const writeSome = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const dir = dirs[rng.int(dirs.length)]!;
      const existing = [...files.keys()].filter((p) => p.startsWith(dir + '/'));
      // A third of the time, rewrite a file (its old chunk map and chunks become garbage).
      const data = swarm.bytes(SIZES[rng.int(SIZES.length)]!);
      if (existing.length > 0 && rng.int(3) === 0) {
        const path = existing[rng.int(existing.length)]!;
        await mount.fs.truncate(path, 0);
        const fd = await mount.fs.open(path, O.WRONLY);
        await writeAll(mount.fs, fd, data);
        await mount.fs.release(fd);
        files.set(path, data);
      } else {
        const path = `${dir}/f${rng.int(1e9)}`;
        await writeFile(mount.fs, path, data);
        files.set(path, data);
      }
    }
  };
  const removeSome = async (n: number) => {
    for (let i = 0; i < n && files.size > 0; i++) {
      const paths = [...files.keys()];
      const path = paths[rng.int(paths.length)]!;
      await mount.fs.unlink(path);
      files.delete(path);
    }
  };
  await writeSome(8);
  for (let step = 0; step < STEPS; step++) {
    const dead = swarm.slots.filter((s) => !s.cell && !forgotten.has(s));
    const choice = rng.int(6);
    if (choice === 0 || storage().length <= R) {
      const slot = await swarm.addSlot('storage');
      await swarm.start(slot);
      done.push(`join ${slot.id.slice(0, 8)}`);
    } else if (choice === 1) {
      const victim = storage()[rng.int(storage().length)]!;
      await swarm.crash(victim);
      done.push(`crash ${victim.id.slice(0, 8)}`);
      // Known dead before anything else changes (a write needs a majority of the homes the mount sees).
      const { failureTimeoutMs, suspicionMs, heartbeatIntervalMs } = swarm.config.membership;
      await swarm.until(() => swarm.cells.every((c) => c.membership.get(victim.id)?.state === 'dead'), failureTimeoutMs + suspicionMs + 5 * heartbeatIntervalMs, 'the crashed cell known dead');
    } else if (choice === 2 && dead.length > 0) {
      const slot = dead[rng.int(dead.length)]!;
      await swarm.restart(slot);
      done.push(`restart ${slot.id.slice(0, 8)}`);
    } else if (choice === 3 && dead.length > 0) {
      const slot = dead[rng.int(dead.length)]!;
      for (const c of swarm.cells) c.membership.forget(slot.id);
      // Retired for good: its data dir stays behind, never started again.
      forgotten.add(slot);
      done.push(`forget ${slot.id.slice(0, 8)}`);
    } else {
      // A role change while running: storage to guard or stem, or back to storage.
      const others = swarm.cells.filter((c) => c.membership.members()[0]!.role !== 'storage');
      const back = others.length > 0 && rng.int(2) === 0;
      const cell = back ? others[rng.int(others.length)]! : storage()[rng.int(storage().length)]!;
      const role: Role = back ? 'storage' : rng.int(2) === 0 ? 'guard' : 'stem';
      cell.membership.updateSelf({ role });
      done.push(`${cell.id.slice(0, 8)} becomes ${role}`);
    }
    // Every file stays visible while its records move (a read must never take a former home's "absent").
    for (const p of files.keys()) await mount.fs.getattr(p);
    await swarm.until(() => swarm.isConverged(), 30_000, 'membership convergence');
    for (const p of files.keys()) await mount.fs.getattr(p);
    await writeSome(1 + rng.int(4));
    await removeSome(rng.int(4));
    // Sometimes a whole directory goes, as rm -rf does it.
    if (rng.int(4) === 0) {
      const dir = dirs[rng.int(dirs.length)]!;
      for (const p of [...files.keys()].filter((x) => x.startsWith(dir + '/'))) {
        await mount.fs.unlink(p);
        files.delete(p);
      }
      await mount.fs.rmdir(dir);
      await mount.fs.mkdir(dir, 0o755);
      done.push(`rm -rf ${dir}`);
    }
    // Sometimes the next change comes before anti-entropy has moved anything.
    await swarm.run(rng.int(2) === 0 ? 0 : rng.int(20_000));
  }
  t.log(done.join('; '));
  return done;
}

for (const seed of simSeeds(4)) {
  test.serial(`records move with membership: after joins, crashes, forgets and role changes only homes hold records, each at the newest version, and gc frees all that no live file uses (seed ${seed})`, async (t) => {
    const swarm = await createSimSwarm(t, { cells: CELLS, seed });
    const mount = await mountSimFs(t, swarm);
    const files = new Map<string, Buffer>();
    await history(t, swarm, mount, files);

    // Anti-entropy runs on every membership change and periodically; one full sync more than the last change needs.
    const settleMs = swarm.config.heal.settleMs + 8 * swarm.config.heal.antiEntropyMs;
    let faults: string[] = [];
    await swarm
      .until(
        () => {
          faults = recordFaults(swarm);
          return faults.length === 0;
        },
        settleMs,
        'records on exactly their homes, at the newest version',
        500,
      )
      .catch((err: Error) => t.fail(`${err.message}: ${faults.length} faults, the first: ${faults.slice(0, 5).join('; ')}`));

    // gc's view of the live inodes is the true one: the inodes the mount reaches.
    const live = await reachable(swarm, mount);
    const counted = countedInodes(
      heldRecords(swarm).filter(({ r }) => r.k.startsWith('i/')).map(({ r }) => r),
      swarm.clock.wallNow(),
    );
    const countedLive = counted.filter((r) => r.d !== null).map((r) => r.k.slice(2));
    const unreachable = countedLive.filter((ino) => !live.has(ino));
    const copiesOf = (k: string) => heldRecords(swarm).filter(({ r }) => r.k === k).map(({ cell, r }) => `${cell.slice(0, 8)} ${r.v} ${r.d === null ? 'tombstone' : 'live'}`);
    t.deepEqual(countedLive.sort(), [...live].sort(), `the live inodes gc counts are those reachable from the root; ${unreachable.map((ino) => `i/${ino}: ${copiesOf(`i/${ino}`).join(', ')}`).join('; ')}`);

    // gc (no grace: everything is written and closed) frees every chunk but those of live files.
    const report = await swarm.settle(collectGarbage(mount.client, { graceMs: 0, allowDead: true }), 120_000);
    t.log(`gc: ${report.garbage} of ${report.chunks} chunks garbage, ${report.copiesRemoved} copies removed, ${report.copiesKept} kept`);
    const used = new Set<ChunkKey>();
    for (const r of counted) {
      const manifest = (r.d as Partial<Inode> | null)?.manifest;
      if (!manifest) continue;
      used.add(manifest);
      const holder = swarm.holders(manifest)[0];
      t.truthy(holder, `chunk map ${manifest} of ${r.k} held somewhere`);
      if (!holder) continue;
      for (const c of decodeManifest(await swarm.settle(holder.store.get(manifest)))!.chunks.keys()) used.add(c);
    }
    const held = new Set(swarm.cells.flatMap((c) => [...c.store.keys()]));
    t.deepEqual([...held].filter((k) => !used.has(k)), [], 'no chunk held that no live file uses');
    t.deepEqual([...used].filter((k) => !held.has(k)), [], 'every chunk a live file uses still held');

    // And nothing was lost: every file reads back as written.
    for (const [p, data] of files) t.true((await readFile(mount.fs, p)).equals(data), `${p} reads back`);
    t.is(live.size, files.size + 1 + DIRS, 'the root, the directories and every file written and not removed');
  });
}
