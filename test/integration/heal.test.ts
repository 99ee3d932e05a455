import test from 'ava';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { watch } from 'node:fs';
import type { CellStatus } from '../../src/cell/index.js';
import type { SwarmClient } from '../../src/client/index.js';
import { connectSwarm } from '../../src/connect/index.js';
import { chunkKeyOf, defaultConfig } from '../../src/core/index.js';
import { placementOrder } from '../../src/placement/index.js';
import { chunkFiles, cli, eventually, fsckJson, holders, isAlive, pidOf, randomFile, swarmCells, swarmUp, tmpDir, type SwarmCellEntry } from '../helpers/index.js';

const MiB = 1024 * 1024;
/** Faster failure detection for the scenarios that are not about its default timing. */
const FAST = ['--heartbeat-ms', '500', '--failure-timeout-ms', '2000'];

const sha = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

async function put(home: string, file: string): Promise<string> {
  const r = await cli(['put', '--home', home, file]);
  if (r.code !== 0) throw new Error(`put failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function getSha(home: string, id: string, dir: string): Promise<string> {
  const out = path.join(dir, `out-${Date.now()}`);
  const r = await cli(['get', '--home', home, id, '-o', out]);
  if (r.code !== 0) throw new Error(`get failed: ${r.stderr}`);
  return sha(out);
}

async function statusClient(t: import('ava').ExecutionContext, home: string): Promise<SwarmClient> {
  const client = await connectSwarm({ swarmKey: await readFile(path.join(home, 'swarm.key')) });
  t.teardown(() => client.close());
  return client;
}

async function kill(cell: SwarmCellEntry): Promise<void> {
  process.kill(await pidOf(cell), 'SIGKILL');
}

test.serial('SIGKILL of a storage cell: fsck is clean again within detection plus a bounded heal, and get returns identical bytes', async (t) => {
  const dir = await tmpDir(t);
  const home = await swarmUp(t, 6);
  const file = await randomFile(dir, 'data', 32 * MiB);
  const id = await put(home, file);
  t.regex(id, /^[0-9a-f]{64}$/);
  const clean = await fsckJson(home);
  t.is(clean.code, 0);
  const chunks = (32 * MiB) / defaultConfig().placement.chunkBytes + 1; // and the manifest
  t.deepEqual(clean.report, { ...clean.report, chunks, healthy: chunks, underReplicated: 0, missing: 0, overReplicated: 0, files: 1 });

  const cells = await swarmCells(home);
  // Stopped first: a hung holder is not yet dead, so nothing is repaired while fsck, a new process, looks
  // (a SIGKILLed one is found dead and healed in about a second, often before fsck has started).
  const victim = (await holders(cells))[0]!;
  const victimPid = await pidOf(victim);
  process.kill(victimPid, 'SIGSTOP');
  t.teardown(() => isAlive(victimPid) && process.kill(victimPid, 'SIGCONT'));
  const right = await fsckJson(home);
  t.is(right.code, 1, 'fsck exits non-zero while a holder does not answer');
  t.true(right.report.underReplicated > 0);
  process.kill(victimPid, 'SIGKILL');
  const killedAt = Date.now();

  const m = defaultConfig().membership;
  const healBoundMs = 10_000;
  await eventually(async () => (await fsckJson(home)).code === 0, m.failureTimeoutMs + m.suspicionMs + healBoundMs, 'fsck clean', 250);
  t.log(`fsck clean ${Date.now() - killedAt} ms after SIGKILL`);
  const after = await fsckJson(home);
  t.is(after.report.healthy, chunks);
  t.is(await getSha(home, id, dir), await sha(file));
});

test.serial('two cells killed one after another, the second during the first repair: no data lost', async (t) => {
  const dir = await tmpDir(t);
  // A slow repair rate keeps the first repair going long enough to kill into it.
  const home = await swarmUp(t, 6, [...FAST, '--repair-rate', '1M']);
  const file = await randomFile(dir, 'data', 24 * MiB);
  const id = await put(home, file);
  const cells = await swarmCells(home);
  const client = await statusClient(t, home);
  const first = (await holders(cells))[0]!;
  await kill(first);
  // Wait until some survivor is repairing (its last repair event is a start), then kill another cell.
  const repairing = await eventually<SwarmCellEntry | null>(async () => {
    for (const c of cells.filter((x) => x !== first)) {
      const st = (await client.status([`${c.host}:${c.port}`]).catch(() => null)) as CellStatus | null;
      const last = st?.events.filter((e) => e.type.startsWith('repair-')).pop();
      if (last?.type === 'repair-started') return c;
    }
    return null;
  }, 15_000, 'a repair under way', 50);
  const second = cells.find((c) => c !== first && c !== repairing)!;
  await kill(second);
  t.log(`killed ${second.name} while ${repairing!.name} was repairing`);
  await eventually(async () => (await fsckJson(home)).code === 0, 90_000, 'fsck clean after two deaths', 500);
  const report = (await fsckJson(home)).report;
  t.is(report.missing, 0);
  t.is(report.underReplicated, 0);
  t.is(await getSha(home, id, dir), await sha(file));
});

test.serial('a killed cell that comes back: its surplus copies are removed, and no chunk ever has fewer than R copies', async (t) => {
  const dir = await tmpDir(t);
  const home = await swarmUp(t, 5, FAST);
  const file = await randomFile(dir, 'data', 16 * MiB);
  const id = await put(home, file);
  const cells = await swarmCells(home);
  const client = await statusClient(t, home);
  const victim = (await holders(cells))[0]!;
  await kill(victim);
  await eventually(async () => (await fsckJson(home)).code === 0, 20_000, 'healed without the victim', 250);
  const restart = await cli(['cell', 'start', '--home', home, '--data', victim.data, '--port', String(victim.port), '--daemon', ...FAST]);
  t.is(restart.code, 0, restart.stderr);
  // Watch the whole return: every sample must show every chunk with at least R copies.
  const deadline = Date.now() + 30_000;
  let removed = 0;
  for (;;) {
    const { code, report } = await fsckJson(home);
    t.is(report.missing + report.underReplicated, 0, `never below R: ${JSON.stringify(report)}`);
    t.is(code, 0);
    // The victim is home again for its chunks (same id, same placement): the cells that stood in for it drop theirs.
    const views = await Promise.all(cells.map((c) => client.status([`${c.host}:${c.port}`]).catch(() => null) as Promise<CellStatus | null>));
    removed = views.reduce((sum, st) => sum + (st?.heal.removed ?? 0), 0);
    if (removed > 0 && report.overReplicated === 0) break;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.true(removed > 0, 'the stand-in copies were dropped once the returning cell was confirmed to hold them');
  const final = (await fsckJson(home)).report;
  t.is(final.overReplicated, 0);
  t.is(final.healthy, final.chunks);
  t.is(await getSha(home, id, dir), await sha(file));
});

test.serial('get while a replica holder is SIGKILLed succeeds with identical bytes', async (t) => {
  const dir = await tmpDir(t);
  const home = await swarmUp(t, 4);
  const file = await randomFile(dir, 'data', 48 * MiB);
  const id = await put(home, file);
  const cells = await swarmCells(home);
  // The cell a reader asks first for the last chunk (placement order): the get will need it after the kill.
  const bytes = await readFile(file);
  const chunk = defaultConfig().placement.chunkBytes;
  const last = chunkKeyOf(bytes.subarray(Math.floor((bytes.length - 1) / chunk) * chunk));
  const ids = await Promise.all(cells.map(async (c) => (JSON.parse(await readFile(path.join(c.data, 'identity.json'), 'utf8')) as { id: string }).id));
  const victim = cells[ids.indexOf(placementOrder(last, ids.map((id) => ({ id, weight: 1 })))[0]!)]!;
  t.true((await chunkFiles(victim)).some((f) => path.basename(f) === last), 'the victim holds the last chunk');
  // The holder dies as the get starts (its output file appears): the get has asked for no chunk past the first
  // few, and must get the last one from another copy. Over the network, as from another machine: the dead
  // cell's files are not read in its place. The get's debug log names each cell that failed to answer.
  const out = path.join(dir, 'out');
  const victimPid = await pidOf(victim);
  const started = new Promise<void>((resolve) => {
    const w = watch(dir, (_event, name) => {
      if (name?.startsWith('.out.')) {
        w.close();
        resolve();
      }
    });
    t.teardown(() => w.close());
  });
  const getting = cli(['get', '--home', home, id, '-o', out], { env: { CELLSYNC_LOCAL: '0', DEBUG: 'cellsync:*' } });
  await started;
  process.kill(victimPid, 'SIGKILL');
  // Gone (renamed to out), the get would have finished before the kill.
  const partial = (await readdir(dir)).find((n) => n.startsWith('.out.'));
  const written = partial ? ((await stat(path.join(dir, partial)).catch(() => null))?.size ?? Infinity) : Infinity;
  t.true(written < 3 * chunk, `the get had written ${written} bytes: it had not yet asked for the last chunk`);
  const r = await getting;
  t.is(r.code, 0, r.stderr);
  // Either it asked the dead holder and went on to another copy, or its member view (pushed news, SWIM sees a
  // SIGKILL in well under a second) already held the holder dead and it never asked: both read every chunk.
  const askedDead = new RegExp(`get [0-9a-f]{8} from ${victim.host}:${victim.port} failed`).test(r.stderr);
  t.log(askedDead ? 'the get asked the dead holder and went on to another copy' : 'the get knew the holder dead before it asked it');
  t.is(await sha(out), await sha(file));
});

test.serial('put with only W cells alive succeeds; with fewer it fails with a clear message', async (t) => {
  const dir = await tmpDir(t);
  const home = await swarmUp(t, 3, FAST);
  const file = await randomFile(dir, 'data', 3 * MiB);
  const cells = await swarmCells(home);
  await kill(cells[0]!);
  await eventually(async () => {
    const r = await cli(['swarm', 'status', '--home', home, '--json']);
    return r.code === 0 && (JSON.parse(r.stdout) as { cells: { state: string }[] }).cells.filter((c) => c.state === 'dead').length === 1;
  }, 10_000, 'one dead');
  const id = await put(home, file);
  t.is(await getSha(home, id, dir), await sha(file));
  const f = await fsckJson(home);
  t.is(f.code, 1, 'under-replicated: only 2 of R=3 cells exist');
  t.is(f.report.missing, 0);

  await kill(cells[1]!);
  await eventually(async () => {
    const r = await cli(['swarm', 'status', '--home', home, '--json']);
    return r.code === 0 && (JSON.parse(r.stdout) as { cells: { state: string }[] }).cells.filter((c) => c.state === 'dead').length === 2;
  }, 10_000, 'two dead');
  const refused = await cli(['put', '--home', home, file]);
  t.is(refused.code, 1);
  t.is(refused.stderr.trim().split('\n').length, 1);
  t.regex(refused.stderr, /only 1 storage cell\(s\) reachable; 2 copies are needed/);
});

test.serial('swarm down and swarm up again with data: no copy made, none dropped', async (t) => {
  const dir = await tmpDir(t);
  // Frequent anti-entropy passes: a copy made by any of them would show.
  const home = await swarmUp(t, 4, ['--anti-entropy-ms', '1000']);
  const file = await randomFile(dir, 'data', 16 * MiB);
  const id = await put(home, file);
  await eventually(async () => (await fsckJson(home)).code === 0, 10_000, 'fsck clean', 250);
  const down = await cli(['swarm', 'down', '--home', home]);
  t.is(down.code, 0, down.stderr);
  const up = await cli(['swarm', 'up', '--home', home]);
  t.is(up.code, 0, up.stderr);
  const cells = await swarmCells(home);
  const client = await statusClient(t, home);
  const statuses = () => Promise.all(cells.map((c) => client.status([`${c.host}:${c.port}`]) as Promise<CellStatus>));
  // Every cell back, and each has run a few passes since.
  await eventually(async () => (await statuses().catch(() => [])).every((s) => s.heal.passes >= 3), 30_000, 'three passes on every cell', 250);
  const heal = (await statuses()).map((s) => s.heal);
  t.deepEqual(heal.map((h) => h.pushed), [0, 0, 0, 0], 'no copy made');
  t.deepEqual(heal.map((h) => h.removed), [0, 0, 0, 0], 'no copy dropped');
  t.is((await fsckJson(home)).code, 0);
  t.is(await getSha(home, id, dir), await sha(file));
});
