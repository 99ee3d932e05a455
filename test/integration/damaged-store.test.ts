import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CellStatus } from '../../src/cell/index.js';
import { connectSwarm } from '../../src/connect/index.js';
import { chunkFiles, cli, eventually, fsckJson, holders, isAlive, randomFile, swarmCells, swarmUp, tmpDir } from '../helpers/index.js';

/*
 * The store never lies, with real cells: damaged databases at start are
 * said in one line and rebuilt, never a segfault; a chunk file replaced by a
 * directory is flagged by fsck and the guards' scrub, and healed.
 */

const FAST = ['--heartbeat-ms', '500', '--failure-timeout-ms', '2000'];
const MiB = 1024 * 1024;

test.serial('a cell started on a truncated meta.lmdb and a garbage records.lmdb says why, one line each, rebuilds, and serves its chunks: no signal', async (t) => {
  const dir = await tmpDir(t);
  const home = await swarmUp(t, 3, FAST);
  const file = await randomFile(dir, 'data', 6 * MiB);
  const put = await cli(['put', '--home', home, file]);
  t.is(put.code, 0, put.stderr);
  const id = put.stdout.trim();
  await eventually(async () => (await fsckJson(home)).code === 0, 20_000, 'every chunk at R');
  const [victim] = await swarmCells(home);
  t.is((await cli(['cell', 'stop', '--home', home, '--data', victim!.data])).code, 0);
  await truncate(path.join(victim!.data, 'meta.lmdb'), 5000);
  await writeFile(path.join(victim!.data, 'records.lmdb'), randomBytes(64 * 1024));

  // Before: SIGSEGV, and --daemon printed the previous run's last log line.
  const start = await cli(['cell', 'start', '--home', home, '--data', victim!.data, '--daemon']);
  t.is(start.code, 0, start.stderr);
  // Progress lines (a start slower than a few seconds on a loaded machine says how far it got) are not the repairs.
  const lines = start.stderr.trim().split('\n').filter((l) => l.startsWith('cellsync: '));
  t.is(lines.length, 2, start.stderr);
  t.regex(lines[0]!, /^cellsync: .*meta\.lmdb \(chunk metadata\) is truncated \(5000 bytes.*\): moved to .*corrupt\/meta\.lmdb\.\d+; rebuilding it from the \d+ chunk files$/);
  t.regex(lines[1]!, /^cellsync: .*records\.lmdb \(namespace records\) is not an lmdb database .*: moved to .*; starting with no records/);
  t.regex(await readFile(path.join(victim!.data, 'cell.log'), 'utf8'), /store-repaired .*meta\.lmdb/, 'the log says it too');
  const aside = await readdir(path.join(victim!.data, 'corrupt'));
  t.true(aside.some((n) => /^meta\.lmdb\.\d+$/.test(n)) && aside.some((n) => /^records\.lmdb\.\d+$/.test(n)), 'both kept aside');

  // The cell serves what it holds: fsck counts its copies, and get reads the file back.
  await eventually(async () => (await fsckJson(home)).code === 0, 20_000, 'fsck clean with the rebuilt cell');
  const out = path.join(dir, 'out');
  t.is((await cli(['get', '--home', home, id, '-o', out])).code, 0);
  t.true((await readFile(out)).equals(await readFile(file)));
  // A second start finds the rebuilt databases sound: nothing to say.
  t.is((await cli(['cell', 'stop', '--home', home, '--data', victim!.data])).code, 0);
  const again = await cli(['cell', 'start', '--home', home, '--data', victim!.data, '--daemon']);
  t.is(again.code, 0, again.stderr);
  t.deepEqual(again.stderr.split('\n').filter((l) => l.startsWith('cellsync:')), [], 'no repair line (progress lines aside, on a slow machine)');
});

test.serial('cell start --daemon of a cell that dies before it serves says why from this start, not the log\'s stale last line', async (t) => {
  const home = await swarmUp(t, 1, FAST);
  const [cell] = await swarmCells(home);
  t.is((await cli(['cell', 'stop', '--home', home, '--data', cell!.data])).code, 0);
  // The chunk directory's place taken by a file: the store cannot open.
  await rm(path.join(cell!.data, 'chunks'), { recursive: true });
  await writeFile(path.join(cell!.data, 'chunks'), 'not a directory');
  const start = await cli(['cell', 'start', '--home', home, '--data', cell!.data, '--daemon']);
  t.not(start.code, 0);
  t.notRegex(start.stderr, /stopped/, 'not the last line of the previous run');
  t.regex(start.stderr, /chunks/);
});

test.serial('a chunk file replaced by a directory: flagged by the guard\'s scrub and by fsck, set aside, and healed', async (t) => {
  const dir = await tmpDir(t);
  const home = await swarmUp(t, 4, [...FAST, '--scrub-period-ms', '3000']);
  const guardData = path.join(home, 'cells', 'guard');
  const g = await cli(['cell', 'start', '--home', home, '--data', guardData, '--role', 'guard', '--daemon', ...FAST, '--scrub-period-ms', '3000']);
  t.is(g.code, 0, g.stderr);
  t.teardown(() => cli(['cell', 'stop', '--home', home, '--data', guardData]).then(() => undefined));
  const file = await randomFile(dir, 'data', 6 * MiB);
  const put = await cli(['put', '--home', home, file]);
  t.is(put.code, 0, put.stderr);
  const id = put.stdout.trim();
  await eventually(async () => (await fsckJson(home)).code === 0, 20_000, 'every chunk at R');
  const cells = await swarmCells(home);
  const victim = (await holders(cells))[0]!;
  const target = (await chunkFiles(victim))[0]!;
  const key = path.basename(target);
  await rm(target);
  await mkdir(target);

  // The guard's scrub lists the cell's chunks and fetches each: the directory is found, set aside and reported.
  const client = await connectSwarm({ swarmKey: await readFile(path.join(home, 'swarm.key')), seeds: cells.map((c) => `${c.host}:${c.port}`) });
  t.teardown(() => client.close());
  const status = async (): Promise<CellStatus[]> => (await Promise.all(cells.map((c) => client.status([`${c.host}:${c.port}`]).catch(() => null)))).filter((s): s is CellStatus => s !== null);
  const guard = cells.find((c) => c.data === guardData)!;
  const guardStatus = () => client.status([`${guard.host}:${guard.port}`]);
  await eventually(async () => (await status()).some((s) => s.events.some((e) => e.type === 'corruption-detected' && e.detail?.includes(key.slice(0, 12)))), 20_000, 'the corruption reported');
  await eventually(async () => (await guardStatus()).events.some((e) => e.type === 'alert-confirmed' && e.detail?.includes(key.slice(0, 12))), 20_000, 'the guard to confirm it');
  t.false((await stat(target).catch(() => null))?.isDirectory() ?? false, 'the directory is set aside');
  t.true((await readdir(path.join(victim.data, 'corrupt'))).some((n) => n.startsWith(key)), 'kept in corrupt/');
  // Healed: every chunk back at R, the file intact.
  await eventually(async () => (await fsckJson(home)).code === 0, 30_000, 'fsck clean again');
  const out = path.join(dir, 'out');
  t.is((await cli(['get', '--home', home, id, '-o', out])).code, 0);
  t.true((await readFile(out)).equals(await readFile(file)));
});

test.serial('fsck flags a chunk file replaced by a directory at once (under-replicated, exit 1), before any scrub', async (t) => {
  const dir = await tmpDir(t);
  const home = await swarmUp(t, 4, FAST);
  const put = await cli(['put', '--home', home, await randomFile(dir, 'data', 3 * MiB)]);
  t.is(put.code, 0, put.stderr);
  await eventually(async () => (await fsckJson(home)).code === 0, 20_000, 'every chunk at R');
  const victim = (await holders(await swarmCells(home)))[0]!;
  const target = (await chunkFiles(victim))[0]!;
  await rm(target);
  await mkdir(target);
  const right = await fsckJson(home);
  t.is(right.code, 1);
  t.is(right.report.underReplicated, 1);
  t.is(right.report.atRisk[0]?.put, put.stdout.trim());
  t.deepEqual(right.report.atRisk[0]?.chunks.map((c) => [c.key, c.copies]), [[path.basename(target), 2]]);
  await eventually(async () => (await fsckJson(home)).code === 0, 30_000, 'healed');
});

test.serial('meta.lmdb corrupted in place under a running cell: the cell does not go on pretending (it replaces and rebuilds the database, or dies), and fsck is clean again', async (t) => {
  const dir = await tmpDir(t);
  const home = await swarmUp(t, 1, [...FAST, '--replicas', '1']);
  const file = await randomFile(dir, 'data', 8 * MiB);
  // 4 KiB chunks: thousands of metadata entries, a database of many pages.
  const put = await cli(['put', '--home', home, '--replicas', '1', '--write-quorum', '1', '--chunk-size', '4K', file]);
  t.is(put.code, 0, put.stderr);
  const [cell] = await swarmCells(home);
  const meta = path.join(cell!.data, 'meta.lmdb');
  const pages = Math.floor((await stat(meta)).size / 4096);
  t.true(pages > 8, `${pages} pages`);
  const { open } = await import('node:fs/promises');
  const fh = await open(meta, 'r+');
  await fh.write(randomBytes((pages - 2) * 4096), 0, (pages - 2) * 4096, 2 * 4096);
  await fh.close();

  // fsck lists the cell's chunks with their metadata: the damage is met there.
  await cli(['fsck', '--home', home, '--json']);
  const log = path.join(cell!.data, 'cell.log');
  const pid = Number((await readFile(path.join(cell!.data, 'cell.pid'), 'utf8')).trim());
  await eventually(async () => !isAlive(pid) || /store-repaired .*meta\.lmdb \(chunk metadata\) failed in use/.test(await readFile(log, 'utf8')), 20_000, 'the damage said, or the cell gone');
  if (!isAlive(pid)) {
    t.log('the cell died in lmdb: its next start finds the damage');
    const start = await cli(['cell', 'start', '--home', home, '--data', cell!.data, '--daemon']);
    t.is(start.code, 0, start.stderr);
    t.regex(start.stderr, /meta\.lmdb \(chunk metadata\)/);
  }
  await eventually(async () => {
    const r = await fsckJson(home);
    return r.code === 0 && r.report.files === 1 && r.report.missing === 0;
  }, 60_000, 'fsck clean, the put found again once the metadata is rebuilt');
});
