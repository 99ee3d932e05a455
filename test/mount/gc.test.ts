import test from 'ava';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { GcReport } from '../../src/client/index.js';
import { CLI, cli, eventually, fsckJson, mountSwarm, pidOf, sh, swarmCells, swarmUp, tmpDir } from '../helpers/index.js';

async function gc(home: string, ...args: string[]): Promise<GcReport> {
  const r = await cli(['gc', '--home', home, '--json', ...args]);
  if (r.code !== 0) throw new Error(`gc failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as GcReport;
}

/** Makes every chunk file of the swarm look stored `ago` (by default two hours ago: older than gc's grace period). */
async function ageChunks(home: string, ago = '2 hours ago'): Promise<void> {
  const dirs = (await swarmCells(home)).map((c) => `"${c.data}/chunks"`).join(' ');
  const r = await sh(`find ${dirs} -type f -exec touch -d '${ago}' {} +`);
  if (r.code !== 0) throw new Error(r.stderr);
}

/** Bytes of chunk files in every cell's data directory. */
async function chunkBytesOnDisk(home: string): Promise<number> {
  const dirs = (await swarmCells(home)).map((c) => `"${c.data}/chunks"`).join(' ');
  const r = await sh(`find ${dirs} -type f ! -name '*.leaves' -printf '%s\\n' | awk '{s+=$1} END {print s+0}'`);
  return Number(r.stdout.trim());
}

test.serial('cellsync gc frees the chunks of deleted and overwritten files, after the grace period; what is still used reads back intact', async (t) => {
  const src = await tmpDir(t);
  const home = await swarmUp(t, 5);
  // 1 MiB chunks: the counts below are in MiB.
  const { mnt } = await mountSwarm(t, home, undefined, ['--chunk-size', '1M']);
  const MiB = 1 << 20;
  const prep = await sh(
    `set -e; head -c ${3 * MiB} /dev/urandom > gone; head -c ${2 * MiB + 5} /dev/urandom > old; head -c ${2 * MiB} /dev/urandom > new
     head -c ${3 * MiB} /dev/urandom > kept; head -c ${2 * MiB} /dev/urandom > shared; echo small > small
     mkdir "${mnt}/d"; cp gone old kept shared small "${mnt}/d/"`,
    { cwd: src },
  );
  t.is(prep.code, 0, prep.stderr);
  // A file stored with put shares its chunks with a file in the mount that is then removed: put files are kept.
  const put = await cli(['put', '--home', home, '--chunk-size', '1M', `${src}/shared`]);
  t.is(put.code, 0, put.stderr);
  const id = put.stdout.trim();

  await ageChunks(home);
  const before = await gc(home);
  t.is(before.garbage, 0, 'nothing is garbage while every file is in use');
  t.is(before.copiesRemoved, 0);

  const change = await sh(`set -e; rm "${mnt}/d/gone" "${mnt}/d/shared"; cp "${src}/new" "${mnt}/d/old"`);
  t.is(change.code, 0, change.stderr);
  // A write returns once a quorum holds its chunks; the last copies arrive after. Measure once all have.
  await eventually(async () => (await cli(['fsck', '--home', home])).code === 0, 60_000, 'every chunk in use at R copies');
  const onDisk = await chunkBytesOnDisk(home);

  const dry = await gc(home, '--dry-run');
  // gone: 3 chunks and a chunk map; old: 3 chunks and a map; shared: its map (its chunks belong to the put file too).
  t.is(dry.garbage, 9);
  t.is(dry.copiesRemoved, 9 * 3, 'a dry run says what a run would remove...');
  t.is(await chunkBytesOnDisk(home), onDisk, '...and removes nothing');
  const swept = await gc(home);
  t.is(swept.garbage, 9);
  t.is(swept.copiesRemoved, 9 * 3);
  t.true(swept.bytesFreed >= 3 * (5 * MiB + 5), `freed ${swept.bytesFreed} bytes`);
  t.is(await chunkBytesOnDisk(home), onDisk - swept.bytesFreed, 'the freed bytes are gone from the cells’ disks');
  t.is((await gc(home)).garbage, 0, 'a later run finds nothing');
  const young = await sh(`head -c ${2 * MiB} /dev/urandom > "${mnt}/d/young" && rm "${mnt}/d/young"`);
  t.is(young.code, 0, young.stderr);
  t.is((await gc(home, '--dry-run')).copiesRemoved, 0, 'a dry run sees the grace period too');
  const spared = await gc(home);
  t.is(spared.garbage, 3, 'the chunks and map of a file written and removed moments ago are garbage...');
  t.is(spared.copiesRemoved, 0, '...but younger than the grace period (1 h by default)');

  // Everything still in use reads back from a mount with nothing cached, and fsck finds every chunk.
  const reader = await mountSwarm(t, home);
  const check = await sh(`set -e; for f in old:new kept small; do cmp "${reader.mnt}/d/\${f%%:*}" "${src}/\${f#*:}"; done; ls "${reader.mnt}/d"`);
  t.is(check.code, 0, check.stderr);
  t.is(check.stdout.trim().split('\n').join(' '), 'kept old small');
  const get = await sh(`"${CLI}" get --home "${home}" ${id} | cmp - "${src}/shared"`);
  t.is(get.code, 0, get.stderr);
  const { code, report } = await fsckJson(home);
  t.is(code, 0);
  t.is(report.missing, 0);
});

test.serial('the old chunks of a rewritten file are freed 5 minutes after they were last stored, not after the hour; a file removed moments after its last write keeps the hour', async (t) => {
  const src = await tmpDir(t);
  const home = await swarmUp(t, 3);
  const { mnt } = await mountSwarm(t, home, undefined, ['--chunk-size', '1M']);
  const MiB = 1 << 20;
  const prep = await sh(`set -e; head -c ${3 * MiB} /dev/urandom > v1; head -c ${2 * MiB} /dev/urandom > v2; cp v1 "${mnt}/f"`, { cwd: src });
  t.is(prep.code, 0, prep.stderr);
  // Written ten minutes ago, rewritten now (as fsx or an editor does, over and over).
  await ageChunks(home, '10 minutes ago');
  const rewrite = await sh(`set -e; cp "${src}/v2" "${mnt}/f"; head -c ${2 * MiB} /dev/urandom > "${mnt}/young"; rm "${mnt}/young"`);
  t.is(rewrite.code, 0, rewrite.stderr);
  const swept = await gc(home);
  // f's first version: 3 chunks and its map; the young file's 2 chunks and map are garbage but within the hour.
  t.is(swept.garbage, 4 + 3);
  t.is(swept.superseded, 4, 'the replaced version is superseded');
  t.is(swept.copiesRemoved, 4 * 3, 'its copies are removed though stored within the hour');
  t.is(swept.copiesKept, 3 * 3, 'the removed young file is kept: it may be a write whose record is on its way');
  const reader = await mountSwarm(t, home);
  const check = await sh(`cmp "${reader.mnt}/f" "${src}/v2"`);
  t.is(check.code, 0, check.stderr + check.stdout);
  t.is((await fsckJson(home)).report.missing, 0);
});

test.serial('cellsync gc refuses a bad --grace, and refuses while a cell is down, and goes on with --allow-dead once it is dead', async (t) => {
  const home = await swarmUp(t, 4);
  const bad = await cli(['gc', '--home', home, '--grace', 'soon']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /expected a duration such as/);
  const short = await cli(['gc', '--home', home, '--grace', '30s']);
  t.is(short.code, 2);
  t.regex(short.stderr, /--grace must be at least 5m/);
  const cells = await swarmCells(home);
  process.kill(await pidOf(cells[1]!), 'SIGKILL');
  const refused = await eventually(
    async () => {
      const r = await cli(['gc', '--home', home]);
      return r.code !== 0 && /(is|are) dead/.test(r.stderr) ? r : null;
    },
    30_000,
    'gc to see the cell dead',
    500,
  );
  t.regex(refused!.stderr, new RegExp(`cell [0-9a-f]{8} \\(${cells[1]!.host}:${cells[1]!.port}\\) is dead`), 'names the dead cell');
  t.regex(refused!.stderr, /--allow-dead/);
  const r = await cli(['gc', '--home', home, '--allow-dead', '--json']);
  t.is(r.code, 0, r.stderr);
  t.is((JSON.parse(r.stdout) as GcReport).cells, 3);
});

test.serial('a mount editing a file that another mount replaced, whose old chunks gc then freed, fails its close with EIO; the replacement stays intact', async (t) => {
  const src = await tmpDir(t);
  const home = await swarmUp(t, 4);
  const a = await mountSwarm(t, home);
  const b = await mountSwarm(t, home);
  const prep = await sh(`set -e; head -c 10000000 /dev/urandom > first; head -c 2500000 /dev/urandom > second; cp first "${a.mnt}/f"`, { cwd: src });
  t.is(prep.code, 0, prep.stderr);
  // The editor is a process of its own that never forks while its descriptor is open: a child closing the
  // inherited descriptor (exec) would flush the edit at once.
  const editor = spawn('python3', ['-c', `
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.pwrite(fd, b'edited here!', 0)
print('written', flush=True)
sys.stdin.readline()
try:
    os.close(fd)
    print('closed', flush=True)
except OSError as e:
    print('close failed:', e.errno, flush=True)
`, `${b.mnt}/f`], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => editor.kill('SIGKILL'));
  const lines = createInterface({ input: editor.stdout })[Symbol.asyncIterator]();
  t.is((await lines.next()).value, 'written');
  const replace = await sh(`cp "${src}/second" "${a.mnt}/f"`);
  t.is(replace.code, 0, replace.stderr);
  await ageChunks(home);
  const swept = await gc(home);
  t.true(swept.copiesRemoved > 0);
  editor.stdin.end('\n');
  t.is((await lines.next()).value, 'close failed: 5', 'EIO: chunks the edit kept from the old version are gone');
  const reader = await mountSwarm(t, home);
  const check = await sh(`cmp "${reader.mnt}/f" "${src}/second"`);
  t.is(check.code, 0, check.stderr + check.stdout);
  t.is((await fsckJson(home)).report.missing, 0);
});

test.serial('a file kept open after a write is committed within ~30 s: another mount sees the bytes before the close', async (t) => {
  const home = await swarmUp(t, 3);
  const a = await mountSwarm(t, home);
  const b = await mountSwarm(t, home);
  // The writer keeps its descriptor open (no flush, no close) until the other mount has seen the bytes.
  const writer = sh(
    `python3 - "${a.mnt}/log" "${b.mnt}/log" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'x' * 3_000_000)
start = time.time()
while time.time() - start < 60:
    try:
        if os.path.getsize(sys.argv[2]) == 3_000_000: break
    except FileNotFoundError:
        pass
    time.sleep(0.5)
print(round(time.time() - start))
os.close(fd)
PY`,
    { timeoutMs: 90_000 },
  );
  const r = await writer;
  t.is(r.code, 0, r.stderr);
  const seconds = Number(r.stdout.trim());
  t.true(seconds < 45, `seen after ${seconds} s`);
});

test.serial('a mount runs gc itself (--gc-every): a deleted file frees its space without a cron job, and the mount log says so', async (t) => {
  const home = await swarmUp(t, 3);
  const { mnt } = await mountSwarm(t, home, undefined, ['--gc-every', '2s']);
  const made = await sh(`set -e; head -c 3000000 /dev/urandom > "${mnt}/gone"; echo kept > "${mnt}/kept"`);
  t.is(made.code, 0, made.stderr);
  const full = await chunkBytesOnDisk(home);
  t.true(full >= 3 * 3_000_000, `${full} bytes of chunks`);
  t.is((await sh(`rm "${mnt}/gone"`)).code, 0);
  await ageChunks(home);
  await eventually(async () => (await chunkBytesOnDisk(home)) < 100_000, 20_000, 'the mount to collect the removed file');
  t.is((await sh(`cat "${mnt}/kept"`)).stdout, 'kept\n');
  t.regex((await sh(`cat "${home}"/mounts/*.log`)).stdout, /Z gc: removed \d+ copies of \d+ unused chunks, freeing [\d.]+ MiB/);
});
