import test from 'ava';
import type { GcReport } from '../../src/client/index.js';
import { CLI, cli, eventually, fsckJson, mountSwarm, pidOf, sh, swarmCells, swarmUp, tmpDir } from '../helpers/index.js';

async function gc(home: string, ...args: string[]): Promise<GcReport> {
  const r = await cli(['gc', '--home', home, '--json', ...args]);
  if (r.code !== 0) throw new Error(`gc failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as GcReport;
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
  const { mnt } = await mountSwarm(t, home);
  const MiB = 1 << 20;
  const prep = await sh(
    `set -e; head -c ${3 * MiB} /dev/urandom > gone; head -c ${2 * MiB + 5} /dev/urandom > old; head -c ${2 * MiB} /dev/urandom > new
     head -c ${3 * MiB} /dev/urandom > kept; head -c ${2 * MiB} /dev/urandom > shared; echo small > small
     mkdir "${mnt}/d"; cp gone old kept shared small "${mnt}/d/"`,
    { cwd: src },
  );
  t.is(prep.code, 0, prep.stderr);
  // A file stored with put shares its chunks with a file in the mount that is then removed: put files are kept.
  const put = await cli(['put', '--home', home, `${src}/shared`]);
  t.is(put.code, 0, put.stderr);
  const id = put.stdout.trim();

  const before = await gc(home, '--grace', '0');
  t.is(before.garbage, 0, 'nothing is garbage while every file is in use');
  t.is(before.copiesRemoved, 0);

  const change = await sh(`set -e; rm "${mnt}/d/gone" "${mnt}/d/shared"; cp "${src}/new" "${mnt}/d/old"`);
  t.is(change.code, 0, change.stderr);
  const onDisk = await chunkBytesOnDisk(home);

  const dry = await gc(home, '--dry-run');
  // gone: 3 chunks and a chunk map; old: 3 chunks and a map; shared: its map (its chunks belong to the put file too).
  t.is(dry.garbage, 9);
  t.is(dry.copiesRemoved, 0);
  const young = await gc(home);
  t.is(young.copiesRemoved, 0, 'the default grace period (1 h) spares chunks stored moments ago');
  t.is(young.copiesKept, 9 * 3);
  t.is(await chunkBytesOnDisk(home), onDisk, 'nothing was removed');

  const swept = await gc(home, '--grace', '0');
  t.is(swept.garbage, 9);
  t.is(swept.copiesRemoved, 9 * 3);
  t.true(swept.bytesFreed >= 3 * (5 * MiB + 5), `freed ${swept.bytesFreed} bytes`);
  t.is(await chunkBytesOnDisk(home), onDisk - swept.bytesFreed, 'the freed bytes are gone from the cells’ disks');
  t.is((await gc(home, '--grace', '0')).garbage, 0, 'a second run finds nothing');

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

test.serial('cellsync gc refuses a bad --grace, and refuses while a cell is down, and goes on with --allow-dead once it is dead', async (t) => {
  const home = await swarmUp(t, 4);
  const bad = await cli(['gc', '--home', home, '--grace', 'soon']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /expected a duration such as/);
  const cells = await swarmCells(home);
  process.kill(await pidOf(cells[1]!), 'SIGKILL');
  const refused = await eventually(
    async () => {
      const r = await cli(['gc', '--home', home, '--grace', '0']);
      return r.code !== 0 && /(is|are) dead/.test(r.stderr) ? r : null;
    },
    30_000,
    'gc to see the cell dead',
    500,
  );
  t.regex(refused!.stderr, new RegExp(`${cells[1]!.host}:${cells[1]!.port}`), 'names the dead cell');
  t.regex(refused!.stderr, /--allow-dead/);
  const r = await cli(['gc', '--home', home, '--grace', '0', '--allow-dead', '--json']);
  t.is(r.code, 0, r.stderr);
  t.is((JSON.parse(r.stdout) as GcReport).cells, 3);
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
