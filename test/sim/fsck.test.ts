import test, { type ExecutionContext } from 'ava';
import { truncate, writeFile as writeDiskFile } from 'node:fs/promises';
import path from 'node:path';
import { collectGarbage, fsck, putFile, type FsckReport } from '../../src/client/index.js';
import type { ChunkKey } from '../../src/core/index.js';
import { O, SIM_CHUNK_BYTES, mountSimFs, readFile, writeAll, writeFile, type SimMount } from '../helpers/sim-fs.js';
import { createSimSwarm, type SimSwarm } from '../helpers/sim-swarm.js';
import { tmpDir } from '../helpers/index.js';

/*
 * fsck on a simulated swarm: "missing" only for chunks of current files and
 * puts, old versions never; each file at risk named by its path (or put id)
 * with its chunks short of copies; fsck PATH checks one tree. And a cell
 * whose databases were damaged comes back whole.
 */

const CHUNK = SIM_CHUNK_BYTES;

async function swarmWithMount(t: ExecutionContext, seed: number): Promise<{ swarm: SimSwarm; m: SimMount }> {
  const swarm = await createSimSwarm(t, { cells: 4, seed });
  return { swarm, m: await mountSimFs(t, swarm) };
}

/** Every chunk some running cell holds. */
function held(swarm: SimSwarm): Set<ChunkKey> {
  return new Set(swarm.cells.flatMap((c) => [...c.store.keys()]));
}

/** The chunks that appeared while `write` ran: a file's chunks and its chunk map. */
async function chunksWritten(swarm: SimSwarm, write: () => Promise<void>): Promise<ChunkKey[]> {
  const before = held(swarm);
  await write();
  return [...held(swarm)].filter((k) => !before.has(k));
}

/** Removes a chunk from every running cell (or only from `cells` of them). */
async function removeEverywhere(swarm: SimSwarm, keys: ChunkKey[], cells = swarm.cells): Promise<void> {
  for (const c of cells) for (const k of keys) await c.store.delete(k);
}

/** Replaces a file's contents as `cat > file` does through FUSE: a truncate (the kernel's O_TRUNC), then open, write, close. */
async function overwrite(m: SimMount, file: string, data: Buffer): Promise<void> {
  await m.fs.truncate(file, 0);
  const fd = await m.fs.open(file, O.WRONLY);
  await writeAll(m.fs, fd, data);
  await m.fs.release(fd);
}

function check(swarm: SimSwarm, m: SimMount, path?: string): Promise<FsckReport> {
  return swarm.settle(fsck(m.client, { path }), 120_000);
}

test.serial('after files are overwritten and gc ran, fsck reports nothing missing: old versions are unused, never missing', async (t) => {
  const { swarm, m } = await swarmWithMount(t, 301);
  await m.fs.mkdir('/d', 0o755);
  const oldA = await chunksWritten(swarm, () => writeFile(m.fs, '/d/a', swarm.bytes(3 * CHUNK + 10)));
  const oldC = await chunksWritten(swarm, () => writeFile(m.fs, '/c', swarm.bytes(2 * CHUNK)));
  await writeFile(m.fs, '/d/b', swarm.bytes(2 * CHUNK + 1));
  const a = swarm.bytes(CHUNK + 7);
  const c = swarm.bytes(2 * CHUNK + 3);
  await overwrite(m, '/d/a', a);
  await overwrite(m, '/c', c);

  // As after a gc that removed the old versions' chunks but kept a copy of their chunk maps (younger than its
  // grace period somewhere): those maps name chunks no cell has. fsck used to count them missing.
  const oldMaps = await swarm.settle(Promise.all([...oldA, ...oldC].map(async (k) => ((await m.client.getChunk(k)).subarray(0, 1).toString() === '{' ? k : null))));
  const mapKeys = oldMaps.filter((k): k is ChunkKey => k !== null);
  t.is(mapKeys.length, 2, 'the two old chunk maps');
  await removeEverywhere(swarm, [...oldA, ...oldC].filter((k) => !mapKeys.includes(k)));
  const before = await check(swarm, m);
  t.like(before, { files: 3, missing: 0, underReplicated: 0, atRiskFiles: 0, atRisk: [] });
  t.is(before.healthy, before.chunks);
  t.is(before.unused, 2, 'the old chunk maps: unused, for gc');
  t.true((await readFile(m.fs, '/d/a')).equals(a));
  t.true((await readFile(m.fs, '/c')).equals(c));

  const gc = await swarm.settle(collectGarbage(m.client, { graceMs: 0 }), 120_000);
  t.true(gc.copiesRemoved >= 2 * swarm.config.placement.replicas);
  const after = await check(swarm, m);
  t.like(after, { files: 3, missing: 0, underReplicated: 0, unused: 0, atRiskFiles: 0 });
  t.is(after.healthy, after.chunks);
});

test.serial('fsck names each file at risk: its path (or put id), its chunks short of copies and how many each has; fsck PATH checks one tree', async (t) => {
  const { swarm, m } = await swarmWithMount(t, 302);
  const R = swarm.config.placement.replicas;
  await m.fs.mkdir('/d', 0o755);
  await m.fs.mkdir('/e', 0o755);
  await writeFile(m.fs, '/d/a', swarm.bytes(2 * CHUNK));
  const b = await chunksWritten(swarm, () => writeFile(m.fs, '/d/b', swarm.bytes(3 * CHUNK)));
  const c = await chunksWritten(swarm, () => writeFile(m.fs, '/e/c', swarm.bytes(2 * CHUNK)));
  const dir = await tmpDir(t);
  const onDisk = path.join(dir, 'put-me');
  await writeDiskFile(onDisk, swarm.bytes(2 * CHUNK));
  let id: ChunkKey | null = null;
  const putChunks = await chunksWritten(swarm, async () => {
    id = (await swarm.settle(putFile(m.client, onDisk, { replicas: R, writeQuorum: 2, chunkBytes: CHUNK }), 120_000)).id;
  });
  const putId = id!;
  // Copies of a put land on W cells first, the rest in the background: all R before the check.
  await swarm.until(() => putChunks.every((k) => swarm.holders(k).length === R), 60_000, 'the put at R copies');

  const clean = await check(swarm, m);
  t.like(clean, { files: 4, missing: 0, underReplicated: 0, atRiskFiles: 0 });

  // /d/b loses two data chunks on every cell; /e/c loses one copy of each chunk; the put loses one chunk.
  const bMap = await mapOf(swarm, m, b);
  const bLost = b.filter((k) => k !== bMap).slice(0, 2);
  await removeEverywhere(swarm, bLost);
  const cMap = await mapOf(swarm, m, c);
  const cData = c.filter((k) => k !== cMap);
  for (const k of cData) await removeEverywhere(swarm, [k], swarm.holders(k).slice(0, 1));

  const report = await check(swarm, m);
  t.is(report.missing, 2);
  t.is(report.underReplicated, cData.length);
  const atB = report.atRisk.find((f) => f.path === '/d/b');
  t.truthy(atB, JSON.stringify(report.atRisk));
  t.deepEqual(atB!.chunks.map((x) => x.key).sort(), [...bLost].sort());
  t.true(atB!.chunks.every((x) => x.copies === 0 && x.target === R));
  const atC = report.atRisk.find((f) => f.path === '/e/c');
  t.deepEqual(atC?.chunks.map((x) => x.copies), cData.map(() => R - 1));
  t.is(report.atRisk[0]!.path, '/d/b', 'files with a chunk lost come first');
  t.is(report.atRiskFiles, 2);

  const underD = await check(swarm, m, '/d');
  t.like(underD, { path: '/d', files: 2, missing: 2, underReplicated: 0, atRiskFiles: 1 });
  const underE = await check(swarm, m, '/e/');
  t.like(underE, { files: 1, missing: 0, underReplicated: cData.length, atRiskFiles: 1 });
  t.like(await check(swarm, m, '/d/a'), { files: 1, missing: 0, atRiskFiles: 0 });
  await t.throwsAsync(check(swarm, m, '/nowhere'), { code: 'NO_ENTRY' });

  const putChunk = putChunks.find((k) => k !== putId)!;
  await removeEverywhere(swarm, [putChunk]);
  const withPut = await check(swarm, m);
  const atPut = withPut.atRisk.find((f) => f.put === putId);
  t.deepEqual(atPut?.chunks, [{ key: putChunk, copies: 0, target: R }]);
  t.is(withPut.missing, 3);
});

/** Which of a file's chunks is its chunk map (a manifest: JSON). */
async function mapOf(swarm: SimSwarm, m: SimMount, keys: ChunkKey[]): Promise<ChunkKey> {
  for (const k of keys) if ((await swarm.settle(m.client.getChunk(k))).subarray(0, 1).toString() === '{') return k;
  throw new Error('no chunk map among the chunks');
}

test.serial('a cell restarted on a garbage records.lmdb and a truncated meta.lmdb starts, says so, and gets its records back from the other homes', async (t) => {
  const { swarm, m } = await swarmWithMount(t, 303);
  await m.fs.mkdir('/d', 0o755);
  for (let i = 0; i < 5; i++) await writeFile(m.fs, `/d/f${i}`, swarm.bytes(CHUNK + i));
  // A cell that holds records (every record group has R homes among the 4 cells).
  const victim = swarm.cells.find((c) => c.records.count > 0)!;
  const records = victim.records.count;
  const chunks = victim.store.stats().chunks;
  const slot = await swarm.crash(victim);
  await writeDiskFile(path.join(slot.dataDir, 'records.lmdb'), Buffer.alloc(3 * 4096, 0x5a));
  await truncate(path.join(slot.dataDir, 'meta.lmdb'), 6000);
  const back = await swarm.restart(slot);
  const repaired = back.repairs.join('\n');
  t.regex(repaired, /meta\.lmdb \(chunk metadata\) is truncated/);
  t.regex(repaired, /records\.lmdb \(namespace records\) is not an lmdb database/);
  t.is(back.store.stats().chunks, chunks, 'its chunks are still held');
  await swarm.until(() => back.records.count >= records, 120_000, 'records back by anti-entropy');
  const report = await check(swarm, m);
  t.like(report, { files: 5, missing: 0, underReplicated: 0 });
});
