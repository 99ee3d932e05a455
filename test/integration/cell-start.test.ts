import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cli, eventually, isAlive, pidOf, swarmCells, swarmUp, tmpDir } from '../helpers/index.js';

const CHUNKS = 20_000;
const CORRUPT = 3;

/**
 * A cell's store written straight in its on-disk layout (store/layout.ts:
 * chunks/<first two hex digits>/<key>), small chunks, the last `corrupt` of
 * them with bytes that no longer match their name: 20,000 puts over the
 * network would take minutes, the layout seconds.
 */
async function writeStore(dataDir: string, chunks: number, corrupt: number): Promise<string[]> {
  const bad: string[] = [];
  const dirs = new Set<string>();
  for (let i = 0; i < chunks; i++) {
    const data = Buffer.from(`chunk ${i} of a large cell`);
    const key = createHash('sha256').update(data).digest('hex');
    const dir = path.join(dataDir, 'chunks', key.slice(0, 2));
    if (!dirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      dirs.add(dir);
    }
    if (i >= chunks - corrupt) {
      data[0]! ^= 0xff;
      bad.push(key);
    }
    await writeFile(path.join(dir, key), data);
  }
  return bad;
}

const logOf = (dataDir: string) => readFile(path.join(dataDir, 'cell.log'), 'utf8').catch(() => '');

test.serial(`a quarantined cell holding ${CHUNKS} chunks starts as a daemon, answers STATUS at once, and scrubs itself in the background`, async (t) => {
  const dir = await tmpDir(t, 'cellsync-large-');
  const home = path.join(dir, 'home');
  const data = path.join(dir, 'cell');
  t.is((await cli(['init', '--home', home])).code, 0);
  const bad = await writeStore(data, CHUNKS, CORRUPT);
  await writeFile(path.join(data, 'quarantined'), '1\n');
  t.teardown(async () => {
    const pid = Number((await readFile(path.join(data, 'cell.pid'), 'utf8').catch(() => '0')).trim());
    await cli(['cell', 'stop', '--home', home, '--data', data]);
    if (pid > 0 && isAlive(pid)) process.kill(pid, 'SIGKILL');
  });

  // 8 MiB/s, each small chunk counted as a 4 KiB block: the self-scrub takes 10 s at least, far longer than the start.
  const startedAt = Date.now();
  const start = await cli(['cell', 'start', '--home', home, '--data', data, '--daemon', '--role', 'storage', '--self-scrub-rate', '8M']);
  const startMs = Date.now() - startedAt;
  t.is(start.code, 0, start.stderr);
  t.regex(start.stdout, new RegExp(`serving on 127\\.0\\.0\\.1:\\d+ `));
  t.regex(start.stdout, new RegExp(`it was quarantined: its ${CHUNKS} chunks are re-read and verified in the background`));
  t.log(`cell start --daemon returned in ${startMs} ms${start.stderr ? `; progress: ${start.stderr.trim().split('\n').join(' | ')}` : ''}`);

  const statusAt = Date.now();
  const status = await cli(['swarm', 'status', '--home', home, '--json']);
  t.is(status.code, 0, status.stderr);
  t.log(`swarm status answered in ${Date.now() - statusAt} ms`);
  const cells = (JSON.parse(status.stdout) as { cells: { chunks: number; state: string }[] }).cells;
  t.is(cells[0]!.chunks, CHUNKS, 'it serves its whole index while it scrubs');
  t.is(cells[0]!.state, 'alive');
  const log = await logOf(data);
  t.regex(log, /self-scrub-started \w+ 20000 chunks/);
  t.notRegex(log, /self-scrub-finished/, 'STATUS was answered while the self-scrub still ran');

  const finished = await eventually(async () => /self-scrub-finished \w+ (\d+) chunks checked, (\d+) corrupt removed/.exec(await logOf(data)), 180_000, 'the self-scrub to finish', 500);
  t.is(Number(finished![1]), CHUNKS);
  t.is(Number(finished![2]), CORRUPT, 'the corrupt chunks found and removed');
  await t.throwsAsync(stat(path.join(data, 'quarantined')), undefined, 'the marker goes once the whole store was read');
  const aside = await readdir(path.join(data, 'corrupt'));
  for (const key of bad) t.true(aside.some((f) => f.startsWith(key)), `corrupt chunk ${key.slice(0, 8)} moved aside`);
  // Forgiven, not evidence: the rehabilitated cell raised no alert against itself.
  t.notRegex(await logOf(data), /alert-raised|corruption-detected/);
});

test.serial('cell rehab refuses a cell that is not quarantined (exit 2, the cell untouched); --force rehabilitates it; a failed rehab leaves no marker and no pid file', async (t) => {
  const home = await swarmUp(t, 2);
  const cell = (await swarmCells(home))[1]!;
  const pid = await pidOf(cell);
  const marker = path.join(cell.data, 'quarantined');

  const refused = await cli(['cell', 'rehab', '--home', home, '--data', cell.data]);
  t.is(refused.code, 2, refused.stderr);
  t.regex(refused.stderr, /cell-2 \(127\.0\.0\.1:\d+\) is not quarantined/);
  t.regex(refused.stderr, /--force/);
  t.notRegex(refused.stderr, /\n\s+at /, 'no stack trace');
  t.true(isAlive(pid), 'the cell still runs');
  t.is(await pidOf(cell), pid);
  await t.throwsAsync(stat(marker), undefined, 'no marker written');

  const forced = await cli(['cell', 'rehab', '--home', home, '--data', cell.data, '--force']);
  t.is(forced.code, 0, forced.stderr);
  t.regex(forced.stdout, /rehabilitated: serving on .* with a new incarnation/);
  t.false(isAlive(pid), 'the old process was stopped');
  await eventually(async () => /self-scrub-finished/.test(await logOf(cell.data)), 30_000, 'the self-scrub to finish');
  await eventually(async () => !(await stat(marker).then(() => true, () => false)), 5_000, 'the marker removed');

  // A rehab whose start fails (a damaged identity file): the cell is down, and nothing of the attempt stays behind.
  await writeFile(path.join(cell.data, 'identity.json'), 'not json');
  const failed = await cli(['cell', 'rehab', '--home', home, '--data', cell.data, '--force']);
  t.is(failed.code, 1, failed.stdout);
  t.regex(failed.stderr, /cell-2 was stopped and did not start again/);
  t.notRegex(failed.stderr, /\n\s+at /, 'no stack trace');
  await t.throwsAsync(stat(marker), undefined, 'no marker left');
  await t.throwsAsync(stat(path.join(cell.data, 'cell.pid')), undefined, 'no pid file left');
});
