import test from 'ava';
import path from 'node:path';
import type { GcReport } from '../../src/client/index.js';
import { cli, eventually, fsckJson, mountSwarm, pidOf, sh, swarmCells, swarmUp, type SwarmCellEntry } from '../helpers/index.js';

/** Faster failure detection: the scenario is about what happens after a death, not its default timing. */
const FAST = ['--heartbeat-ms', '500', '--failure-timeout-ms', '2000'];
const R = 3;

/** Writes `count` files of 20 to 300 kB (all above the inline limit: their bytes are in chunks) into dir, from a process of its own. */
function makeFiles(dir: string, count: number): Promise<{ code: number; stderr: string }> {
  return sh(`set -e; mkdir -p "${dir}"; for i in $(seq ${count}); do head -c $(( (RANDOM % 280 + 20) * 1000 )) /dev/urandom > "${dir}/f$i"; done`);
}

/** Bytes of chunk files in the data directories of the swarm's cells (as swarm.json lists them now). */
async function storedBytes(home: string): Promise<number> {
  const dirs = (await swarmCells(home)).map((c) => `"${c.data}/chunks"`).join(' ');
  const r = await sh(`find ${dirs} -type f ! -name '*.leaves' -printf '%s\\n' | awk '{s+=$1} END {print s+0}'`);
  return Number(r.stdout.trim());
}

/** Makes every chunk file look stored two hours ago: older than gc's grace period. */
async function ageChunks(home: string): Promise<void> {
  const dirs = (await swarmCells(home)).map((c) => `"${c.data}/chunks"`).join(' ');
  const r = await sh(`find ${dirs} -type f -exec touch -d '2 hours ago' {} +`);
  if (r.code !== 0) throw new Error(r.stderr);
}

async function gc(home: string): Promise<GcReport> {
  const r = await cli(['gc', '--home', home, '--json']);
  if (r.code !== 0) throw new Error(`gc failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as GcReport;
}

async function startCell(home: string, data: string, role: string): Promise<void> {
  const r = await cli(['cell', 'start', '--home', home, '--data', data, '--role', role, '--daemon', ...FAST]);
  if (r.code !== 0) throw new Error(`cell start failed: ${r.stderr}`);
}

const addrOf = (c: SwarmCellEntry) => `${c.host}:${c.port}`;

test.serial('after cells join, die, are forgotten and change role while files are created and removed, gc brings the cells’ stored bytes back to R × what du of the mount shows', async (t) => {
  const home = await swarmUp(t, 4, FAST);
  const { mnt } = await mountSwarm(t, home, undefined, ['--chunk-size', '256K']);
  const first = await swarmCells(home);

  t.is((await makeFiles(`${mnt}/a`, 20)).code, 0, 'files written before any change');
  // Two storage cells join: the homes of many record groups and chunks move.
  const during = await Promise.all([
    startCell(home, path.join(home, 'cells', 'joined-1'), 'storage').then(() => startCell(home, path.join(home, 'cells', 'joined-2'), 'storage')),
    makeFiles(`${mnt}/b`, 20).then(async (made) => (made.code === 0 ? sh(`rm -rf "${mnt}/a"`) : made)),
  ]).then(([, r]) => r);
  t.is(during.code, 0, during.stderr);

  // One of the first cells dies and is forgotten; another becomes a guard (a cell that is no record's or chunk's home).
  const [victim, reroled] = [first[0]!, first[1]!];
  process.kill(await pidOf(victim), 'SIGKILL');
  await eventually(async () => (await cli(['cell', 'forget', '--home', home, addrOf(victim)])).code === 0, 30_000, 'the killed cell dead and forgotten', 250);
  t.is((await cli(['cell', 'stop', '--home', home, '--data', reroled.data])).code, 0);
  await startCell(home, reroled.data, 'guard');
  const after = await Promise.all([makeFiles(`${mnt}/c`, 15), sh(`rm -rf "${mnt}/b"; rm -f "${mnt}"/c/f1*`)]);
  t.deepEqual(
    after.map((r) => r.code),
    [0, 0],
    after.map((r) => r.stderr).join(''),
  );
  // Some files rewritten: their old chunks become garbage too.
  t.is((await sh(`set -e; for i in 2 3 4 5; do head -c 150000 /dev/urandom > "${mnt}/c/f$i"; done`)).code, 0);

  const du = Number((await sh(`du -sb "${mnt}" | cut -f1`)).stdout.trim());
  t.true(du > 1_000_000, `du of the mount: ${du} bytes`);
  // Records reach their new homes at once and leave the old ones once the storage cells have been steady for 10 s
  // (heal/healer.ts); until then gc keeps what a stale copy names.
  let last = { stored: 0, report: null as GcReport | null };
  await eventually(
    async () => {
      await ageChunks(home);
      const report = await gc(home);
      last = { stored: await storedBytes(home), report };
      return last.stored <= 1.1 * R * du;
    },
    45_000,
    'the stored bytes within 10% of R × du',
    1_000,
  ).catch(() => t.fail(`stored ${last.stored} bytes, R × du = ${R * du}; last gc: ${JSON.stringify(last.report)}`));
  t.log(`du ${du} bytes; stored ${last.stored} bytes on ${(await swarmCells(home)).length} cells (${(last.stored / du).toFixed(2)} × du)`);
  t.true(last.stored >= 0.9 * R * du, `nothing in use was freed: ${last.stored} bytes stored`);

  // Every file still there reads whole, and fsck finds every chunk of them.
  const read = await sh(`set -e; find "${mnt}" -type f -printf '%s\\n' | awk '{s+=$1} END {print s+0}'; cat "${mnt}"/c/* | wc -c`);
  t.is(read.code, 0, read.stderr);
  const [sizes, bytesRead] = read.stdout.trim().split('\n').map(Number);
  t.is(bytesRead, sizes, 'every file reads back whole');
  t.true(sizes! <= du && du - sizes! < 100_000, `du ${du} counts the files' ${sizes} bytes (and its directories)`);
  const { report } = await fsckJson(home);
  t.is(report.missing, 0);
});
