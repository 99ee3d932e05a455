import test from 'ava';
import path from 'node:path';
import type { DirInfo, FileInfo } from '../../src/client/index.js';
import { chunkFiles, cli, eventually, mountSwarm, pidOf, sh, swarmCells, swarmUp, tmpDir, type FsckJson, type SwarmCellEntry } from '../helpers/index.js';

/*
 * `cellsync info`, `setr` and the user.cellsync.replicas xattr, as a user
 * checks them: real cells, a real mount, copies counted by info and on
 * the cells' disks.
 */

const MiB = 1 << 20;
/** Faster failure detection: these scenarios are about what info shows, not detection's default timing. */
const FAST = ['--heartbeat-ms', '500', '--failure-timeout-ms', '2000'];
/** A heal pass runs every 10 s (and at once on a death): enough for two. */
const HEAL_WAIT_MS = 45_000;

async function info(home: string, target: string): Promise<FileInfo | DirInfo> {
  const r = await cli(['info', '--home', home, '--json', target]);
  if (r.code !== 0) throw new Error(`info ${target} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as FileInfo | DirInfo;
}

async function fileInfo(home: string, target: string): Promise<FileInfo> {
  const i = await info(home, target);
  if (i.kind !== 'file') throw new Error(`${target} is not a file`);
  return i;
}

/** Copies of each of a file's chunks (its chunk map included), counted on the cells' disks. */
async function copiesOnDisk(cells: SwarmCellEntry[], keys: string[]): Promise<number[]> {
  const held = await Promise.all(cells.map(async (c) => new Set((await chunkFiles(c)).map((f) => path.basename(f)))));
  return keys.map((k) => held.filter((s) => s.has(k)).length);
}

const everyChunkHas = (f: FileInfo, n: number) => f.chunks.length > 0 && f.chunks.every((c) => c.copies === n);

/** info of a file, asked every half second (a CLI process each) until every chunk has n copies. */
async function copiesReached(home: string, target: string, n: number, timeoutMs: number, what: string): Promise<FileInfo> {
  let last: FileInfo | null = null;
  await eventually(async () => everyChunkHas((last = await fileInfo(home, target)), n), timeoutMs, what, 500);
  return last!;
}

/** getxattr / setxattr through the mount, as getfattr and setfattr would (python's os module: no attr package needed). */
function xattr(op: 'get' | 'set', file: string, value = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const py = op === 'get' ? `import os,sys; print(os.getxattr(sys.argv[1], 'user.cellsync.replicas').decode())` : `import os,sys; os.setxattr(sys.argv[1], 'user.cellsync.replicas', sys.argv[2].encode())`;
  return sh(`python3 -c "${py}" "${file}" "${value}"`);
}

test.serial('info of a file shows 3 copies, 2 after a holder dies (fsck names the file by path), and 3 again once heal copied to a new cell', async (t) => {
  const home = await swarmUp(t, 3, FAST);
  // Over UDP, not through the cells' files: a cell hashes what it is sent (what a writer on its machine hands it is trusted, checked at its first read or scrub).
  const { mnt } = await mountSwarm(t, home, { ...process.env, CELLSYNC_LOCAL: '0' }, ['--chunk-size', '1M']);
  t.is((await sh(`mkdir "${mnt}/docs" && head -c ${3 * MiB + 7} /dev/urandom > "${mnt}/docs/a"`)).code, 0);

  const healthy = await fileInfo(home, `${mnt}/docs/a`);
  t.like(healthy, { path: '/docs/a', replicas: 3, health: 'healthy', inline: false, size: 3 * MiB + 7 });
  t.is(healthy.chunks.length, 5, 'its chunk map and 4 chunks');
  t.true(everyChunkHas(healthy, 3), JSON.stringify(healthy.chunks));
  t.true(healthy.chunks.every((c) => c.holders.every((h) => h.state === 'alive' && h.role === 'storage' && h.verifiedAtMs !== null)), 'each copy was verified when stored');
  t.is(healthy.summary, 'healthy: 3 of 3 copies of every chunk');
  const plain = await cli(['info', '--home', home, `${mnt}/docs/a`, `${mnt}/docs`]);
  t.is(plain.code, 0, plain.stderr);
  t.regex(plain.stdout, /file \/docs\/a, .*R=3/);
  t.regex(plain.stdout, /chunk 3 +[0-9a-f]{12} {2}3 of 3: [0-9a-f]{8} \(127\.0\.0\.1:\d+, storage alive, verified \d+ s ago\)/);
  t.regex(plain.stdout, /directory \/docs, R not set .*\n {2}1 files, 0 directories, .*; 5 chunks, 0 at risk/);

  const cells = await swarmCells(home);
  const victim = cells[0]!;
  process.kill(await pidOf(victim), 'SIGKILL');
  // Two storage cells left: nowhere to make a third copy, so info says 2 until a cell joins.
  const atRisk = await copiesReached(home, `${mnt}/docs/a`, 2, 20_000, 'info to count 2 copies of every chunk');
  t.is(atRisk.health, 'at-risk');
  t.regex(atRisk.summary, /^at risk: (its chunk map|chunk \d) has 2 copies of 3 \(5 chunks short of copies\)$/);
  const dir = await info(home, `${mnt}/docs`);
  t.like(dir, { kind: 'dir', files: 1, chunks: 5, chunksAtRisk: 5, chunksLost: 0, filesAtRisk: 1, health: 'at-risk' });
  const fsck = await cli(['fsck', '--home', home]);
  t.is(fsck.code, 1);
  t.regex(fsck.stdout, /1 files at risk:\n {2}\/docs\/a: 5 chunks short of copies \(2\/3/);
  const fsckJson = JSON.parse((await cli(['fsck', '--home', home, '--json'])).stdout) as FsckJson;
  t.is(fsckJson.atRisk[0]?.path, '/docs/a');

  const joined = path.join(home, 'cells', 'joined');
  const start = await cli(['cell', 'start', '--home', home, '--data', joined, '--role', 'storage', '--daemon', ...FAST]);
  t.is(start.code, 0, start.stderr);
  const healed = await copiesReached(home, `${mnt}/docs/a`, 3, HEAL_WAIT_MS, 'heal to bring every chunk back to 3 copies');
  t.is(healed.health, 'healthy');
  const onDisk = await copiesOnDisk((await swarmCells(home)).filter((c) => c.data !== victim.data), healed.chunks.map((c) => c.key));
  t.deepEqual(onDisk, [3, 3, 3, 3, 3]);
  t.is((await cli(['fsck', '--home', home])).code, 0);
});

test.serial('setr on a directory: new files and directories under it get its R; heal brings existing files to a new R both ways; the xattr shows and sets it', async (t) => {
  const home = await swarmUp(t, 3, FAST);
  const { mnt } = await mountSwarm(t, home, undefined, ['--chunk-size', '1M']);
  t.is((await sh(`mkdir -p "${mnt}/p/sub" && head -c ${2 * MiB} /dev/urandom > "${mnt}/p/old"`)).code, 0);
  t.true(everyChunkHas(await fileInfo(home, `${mnt}/p/old`), 3));
  t.is((await xattr('get', `${mnt}/p/old`)).code !== 0, true, 'no R of its own yet: ENODATA');

  const set = await cli(['setr', '2', `${mnt}/p`, '--json']);
  t.is(set.code, 0, set.stderr);
  t.like(JSON.parse(set.stdout), { inodes: 3, chunks: 3, copies: 9, unreachableCells: [] });
  t.like(await info(home, `${mnt}/p`), { kind: 'dir', replicas: 2 });
  t.is((await xattr('get', `${mnt}/p`)).stdout.trim(), '2');

  // Made after setr: in p itself, and in a directory made in p after it (the R passes down).
  t.is((await sh(`head -c ${MiB + 3} /dev/urandom > "${mnt}/p/new" && mkdir "${mnt}/p/later" && head -c ${MiB + 3} /dev/urandom > "${mnt}/p/later/f"`)).code, 0);
  const cells = await swarmCells(home);
  for (const f of ['p/new', 'p/later/f']) {
    const made = await fileInfo(home, `${mnt}/${f}`);
    t.like(made, { replicas: 2, replicasFrom: 'file', health: 'healthy' }, f);
    t.true(everyChunkHas(made, 2), `${f}: ${JSON.stringify(made.chunks)}`);
    t.deepEqual(await copiesOnDisk(cells, made.chunks.map((c) => c.key)), made.chunks.map(() => 2), `${f} on the cells' disks`);
  }
  t.is((await xattr('get', `${mnt}/p/later`)).stdout.trim(), '2');

  // The file that was there: its R is 2 now, and heal frees the third copies (not at once: at a pass).
  const old = await copiesReached(home, `${mnt}/p/old`, 2, HEAL_WAIT_MS, 'heal to free the extra copies of p/old');
  t.like(old, { replicas: 2, health: 'healthy' });
  t.deepEqual(await copiesOnDisk(cells, old.chunks.map((c) => c.key)), old.chunks.map(() => 2));

  // Back up through the xattr on one file: heal makes the copies.
  t.is((await xattr('set', `${mnt}/p/old`, '3')).code, 0);
  t.is((await xattr('get', `${mnt}/p/old`)).stdout.trim(), '3');
  const raised = await copiesReached(home, `${mnt}/p/old`, 3, HEAL_WAIT_MS, 'heal to copy p/old to 3 cells again');
  t.like(raised, { replicas: 3, replicasFrom: 'file' });
  const bad = await xattr('set', `${mnt}/p/old`, 'many');
  t.not(bad.code, 0);
  t.regex(bad.stderr, /Invalid argument/);
});

test.serial('wrong use exits 2 and says what to do; a missing path reads as ENOENT', async (t) => {
  const home = await swarmUp(t, 3, FAST);
  const { mnt } = await mountSwarm(t, home);
  const local = await tmpDir(t);

  const noArgs = await cli(['setr', '--home', home]);
  t.is(noArgs.code, 2);
  t.regex(noArgs.stderr, /missing required argument/);
  const badR = await cli(['setr', 'x', `${mnt}`, '--home', home]);
  t.is(badR.code, 2);
  t.regex(badR.stderr, /R must be a whole number from 1 to 16, then the path: e\.g\. "cellsync setr 2 \/mnt\/cells\/photos"/);
  t.is((await cli(['setr', '17', mnt, '--home', home])).code, 2);
  t.is((await cli(['info', '--home', home])).code, 2);

  const relative = await cli(['info', '--home', home, 'some/file'], {});
  t.is(relative.code, 2);
  t.regex(relative.stderr, /some\/file: not in CellSync: .* is not under a CellSync mount/);
  const outside = await cli(['info', '--home', home, local]);
  t.is(outside.code, 2);
  t.regex(outside.stderr, /not in CellSync/);

  const missing = await cli(['info', '--home', home, `${mnt}/nothing-here`]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /nothing-here: no such file or directory \(ENOENT\)/);
  const missingInSwarm = await cli(['setr', '2', '/no/such/dir', '--home', home]);
  t.is(missingInSwarm.code, 1);
  t.regex(missingInSwarm.stderr, /\/no\/such\/dir: no such file or directory in the swarm \(ENOENT\)/);
  const unknownPut = await cli(['info', '--home', home, 'ab'.repeat(32)]);
  t.is(unknownPut.code, 1);
  t.regex(unknownPut.stderr, /no file with id/);
});

test.serial("a path under a mount finds the mount's swarm without --home; a put id takes info and setr", async (t) => {
  const home = await swarmUp(t, 3, FAST);
  const { mnt } = await mountSwarm(t, home);
  t.is((await sh(`echo small > "${mnt}/note"`)).code, 0);
  const elsewhere = { ...process.env, CELLSYNC_HOME: path.join(await tmpDir(t), 'no-such-home') };
  const viaMount = await cli(['info', '--json', `${mnt}/note`], { env: elsewhere });
  t.is(viaMount.code, 0, viaMount.stderr);
  t.like(JSON.parse(viaMount.stdout), { kind: 'file', path: '/note', inline: true, health: 'healthy', chunks: [] });
  t.regex((await cli(['info', `${mnt}/note`], { env: elsewhere })).stdout, /healthy: a small file, its bytes kept in its inode record/);

  const src = path.join(await tmpDir(t), 'big');
  t.is((await sh(`head -c ${5 * MiB} /dev/urandom > "${src}"`)).code, 0);
  const put = await cli(['put', '--home', home, src]);
  t.is(put.code, 0, put.stderr);
  const id = put.stdout.trim();
  const stored = await fileInfo(home, id);
  t.like(stored, { put: id, size: 5 * MiB, replicas: 3, replicasFrom: 'chunks', health: 'healthy' });
  t.is(stored.chunks.length, 3, 'its manifest and two 4 MiB chunks');
  t.is((await cli(['setr', '1', id, '--home', home])).code, 0);
  const lowered = await copiesReached(home, id, 1, HEAL_WAIT_MS, 'heal to free all but one copy of the put');
  t.like(lowered, { replicas: 1, health: 'healthy', summary: 'healthy: 1 of 1 copies of every chunk' });
});
