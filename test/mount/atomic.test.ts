import test from 'ava';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CellStatus } from '../../src/cell/index.js';
import { connectSwarm } from '../../src/connect/index.js';
import { cli, eventually, isAlive, mountLogs, mountSwarm, pidOf, sh, swarmCells, swarmUp, tmpDir } from '../helpers/index.js';

/*
 * Issue #17 point 5, as reported: with the swarm partly down, O_TRUNC,
 * truncate, rm and mv answered EIO, yet took effect once the cells came
 * back (fsynced files became empty). An operation that answers an error
 * changes nothing (docs/decisions/0029-failed-writes-change-nothing.md):
 * with the records merged straight into local cells' databases (the
 * default) and with everything over the network (CELLSYNC_LOCAL=0).
 */

const FILE_BYTES = 300_000;
/** Anti-entropy passes each cell runs after the restart before the files are checked (the first is a full one). */
const PASSES_AFTER = 2;

/** Opens with O_TRUNC and closes, in a child process, printing "ok" or the error code of whichever call failed. */
const O_TRUNC_CLOSE = `node -e "const fs = require('fs'); try { fs.closeSync(fs.openSync(process.argv[1], 'w')); console.log('ok'); } catch (e) { console.log(e.code); }"`;

for (const [how, env] of [
  ['records merged into local cells’ databases', undefined],
  ['everything over the network (CELLSYNC_LOCAL=0)', { CELLSYNC_LOCAL: '0' }],
] as const) {
  test.serial(`with 1 of 3 storage cells up, O_TRUNC, truncate, rm and mv answer EIO and change nothing once the others are back: ${how}`, async (t) => {
    const src = await tmpDir(t);
    const home = await swarmUp(t, 3);
    const m = await mountSwarm(t, home, env);
    const prep = await sh(
      `set -e; mkdir "${m.mnt}/dir"; for f in a b c d; do head -c ${FILE_BYTES} /dev/urandom > $f; dd if=$f of="${m.mnt}/$f" bs=${FILE_BYTES} conv=fsync status=none; done; sha256sum a b c d > sums`,
      { cwd: src },
    );
    t.is(prep.code, 0, prep.stderr);

    const cells = await swarmCells(home);
    const down = cells.slice(1);
    for (const c of down) {
      const pid = await pidOf(c);
      process.kill(pid, 'SIGKILL');
      await eventually(() => !isAlive(pid), 5_000, `${c.name} to die`);
    }
    // Until the mount sees them gone, a write still reaches their databases on disk and succeeds (and is
    // durable: they hold it when they start again). Probe with harmless writes until one answers EIO.
    const probe = await sh(`i=0; while mkdir "${m.mnt}/probe-$i" 2>/dev/null; do i=$((i+1)); [ $i -lt 300 ] || exit 1; sleep 0.1; done`);
    t.is(probe.code, 0, 'the mount to see the two cells gone');
    const ops = await sh(
      `cd "${m.mnt}"; echo "otrunc $(${O_TRUNC_CLOSE} a)"; truncate -s 0 b; echo "truncate $?"; rm c; echo "rm $?"; mv d dir/moved; echo "mv $?"`,
    );
    t.log(ops.stdout.trim().replace(/\n/g, '; '), '|', ops.stderr.trim().replace(/\n/g, '; '));
    t.regex(ops.stdout, /otrunc EIO/, 'open(O_TRUNC) + close answers EIO');
    for (const op of ['truncate', 'rm', 'mv']) t.regex(ops.stdout, new RegExp(`${op} [1-9]`), `${op} fails`);
    t.is((ops.stderr.match(/Input\/output error/g) ?? []).length, 3, 'truncate, rm and mv: EIO');

    for (const c of down) {
      const r = await cli(['cell', 'start', '--home', home, '--data', c.data, '--daemon']);
      t.is(r.code, 0, r.stderr);
    }
    // Anti-entropy runs on every cell (it would spread a half-applied write) before the files are checked.
    const status = await connectSwarm({ swarmKey: await readFile(path.join(home, 'swarm.key')) });
    t.teardown(() => status.close());
    const addrs = cells.map((c) => `${c.host}:${c.port}`);
    const passes = async () => ((await status.statusMany(addrs, 1_500, 1_000)) as CellStatus[]).map((s) => s.heal.passes);
    await eventually(async () => (await passes()).length === cells.length, 30_000, 'every cell answering');
    const first = await passes();
    await eventually(async () => (await passes()).every((p, i) => p >= first[i]! + PASSES_AFTER), 120_000, `${PASSES_AFTER} anti-entropy passes on every cell`, 1_000);

    // A fresh look through the mount (its caches expire in a second) and through a new mount.
    const again = await mountSwarm(t, home, env);
    for (const mnt of [m.mnt, again.mnt]) {
      const check = await sh(`sleep 1.5; cd "${mnt}" && sha256sum -c "${src}/sums" && ls dir`);
      t.is(check.code, 0, `${mnt}: ${check.stdout} ${check.stderr}`);
      t.is(check.stdout.split('\n').filter((l) => l.endsWith(': OK')).length, 4, 'every file whole');
      t.notRegex(check.stdout, /moved/, 'the failed mv left nothing in dir');
    }
    t.regex(await mountLogs(home), /nothing was written|cells answered for the namespace/, 'the mount logged why');
  });
}
