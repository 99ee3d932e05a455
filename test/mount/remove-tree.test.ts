import test from 'ava';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { attrCacheExpiredS, cli, eventually, fsckJson, mountSwarm, pidOf, sh, swarmCells, swarmUp, watchSh } from '../helpers/index.js';

/*
 * Removing and renaming whole trees through a real mount (issue 21, point 2):
 * rm -rf and mv of a directory with contents, seen from a second mount, and
 * rm -rf while a cell is SIGKILLed (decision 0042).
 */

/** A tree of `dirs` nested directories of `perDir` small files each (a few of them larger than inline, so they have chunks), made in `root`. */
function makeTree(root: string, dirs: number, perDir: number): string {
  return `mkdir -p "${root}"; d="${root}"
    for i in $(seq 1 ${dirs}); do d="$d/level$i"; mkdir -p "$d"
      for j in $(seq 1 ${perDir}); do echo "file $i $j" > "$d/f$j"; done
      head -c 70000 /dev/urandom > "$d/big"
    done`;
}

test.serial('rm -rf of a nested tree of a few hundred files leaves its parent empty, and another mount sees it gone', async (t) => {
  const home = await swarmUp(t, 5);
  const [a, b] = [await mountSwarm(t, home), await mountSwarm(t, home)];
  const made = await sh(`set -e; ${makeTree(`${a.mnt}/work/tree`, 6, 60)}; touch "${a.mnt}/work/.keep"`);
  t.is(made.code, 0, made.stderr);
  // The other mount lists it first, so that it holds the tree in its caches when it goes.
  const seen = await sh(`find "${b.mnt}/work/tree" -type f | wc -l`);
  t.is(seen.stdout.trim(), String(6 * 61));
  const removed = await sh(`rm -rf "${a.mnt}/work/tree" && ls -A "${a.mnt}/work"`);
  t.is(removed.code, 0, removed.stderr);
  t.is(removed.stdout.trim(), '.keep');
  // Close-to-open across mounts: the other mount's cached entries age out within the attribute cache's second.
  await eventually(async () => (await readdir(path.join(b.mnt, 'work'))).join(',') === '.keep', 5_000, 'the tree gone in the other mount');
  // Names it looked up before stay in its kernel's and its own caches for up to the attribute cache's second.
  const stat = await sh(`sleep ${attrCacheExpiredS()}; stat "${b.mnt}/work/tree/level1/f1" 2>&1; ls "${b.mnt}/work/tree" 2>&1`);
  t.regex(stat.stdout, /No such file or directory[\s\S]*No such file or directory/);
});

test.serial('mv of a directory with contents: every file readable under the new path, in this mount and another', async (t) => {
  const home = await swarmUp(t, 5);
  const [a, b] = [await mountSwarm(t, home), await mountSwarm(t, home)];
  const made = await sh(`set -e; ${makeTree(`${a.mnt}/src/tree`, 4, 50)}
    cd "${a.mnt}/src/tree" && find . -type f -exec sha256sum {} + | sort > /tmp/rmtree-want.$$ && echo /tmp/rmtree-want.$$`);
  t.is(made.code, 0, made.stderr);
  const want = made.stdout.trim();
  t.teardown(() => sh(`rm -f "${want}"`).then(() => undefined));
  const moved = await sh(`set -e; mkdir "${a.mnt}/dest"; mv "${a.mnt}/src/tree" "${a.mnt}/dest/renamed"
    test ! -e "${a.mnt}/src/tree"
    cd "${a.mnt}/dest/renamed" && find . -type f -exec sha256sum {} + | sort | cmp - "${want}"`);
  t.is(moved.code, 0, moved.stderr);
  await eventually(async () => (await sh(`cd "${b.mnt}/dest/renamed" && find . -type f -exec sha256sum {} + | sort | cmp - "${want}"`)).code === 0, 5_000, 'the moved tree whole in the other mount');
  t.is((await sh(`ls -A "${b.mnt}/src"`)).stdout.trim(), '');
});

test.serial('rm -rf while a cell is SIGKILLed: no file outside the tree is lost, and fsck reports nothing missing', async (t) => {
  const home = await swarmUp(t, 5);
  const { mnt } = await mountSwarm(t, home);
  const made = await sh(`set -e; ${makeTree(`${mnt}/doomed`, 6, 100)}
    mkdir "${mnt}/kept"; for i in $(seq 1 20); do head -c $((i * 7001)) /dev/urandom > "${mnt}/kept/k$i"; done
    cd "${mnt}/kept" && sha256sum k* > /tmp/rmtree-kept.$$ && echo /tmp/rmtree-kept.$$`);
  t.is(made.code, 0, made.stderr);
  const kept = made.stdout.trim();
  t.teardown(() => sh(`rm -f "${kept}"`).then(() => undefined));

  const keptFiles = JSON.parse((await cli(['fsck', '--home', home, '--json', '/kept'])).stdout) as { files: number };
  t.true(keptFiles.files > 0, 'some kept files have chunks');
  const cells = await swarmCells(home);
  const rm = watchSh(t, `rm -rf "${mnt}/doomed"`);
  // Once the removal is under way (the deepest directory is being emptied), a cell dies.
  const deepest = path.join(mnt, 'doomed', ...Array.from({ length: 6 }, (_, i) => `level${i + 1}`));
  await eventually(async () => (await readdir(deepest).catch(() => [])).length < 90, 30_000, 'rm -rf under way', 5);
  process.kill(await pidOf(cells[1]!), 'SIGKILL');
  const first = await rm.result;
  // A removal the dying cell failed is answered EIO and left (an error changes nothing): removing again finishes it.
  if (first.code !== 0) t.log(`rm -rf exited ${first.code}: ${first.stderr}`);
  const again = await sh(`rm -rf "${mnt}/doomed" && test ! -e "${mnt}/doomed"`);
  t.is(again.code, 0, again.stderr);

  const check = await sh(`cd "${mnt}/kept" && sha256sum -c --quiet "${kept}"`);
  t.is(check.code, 0, check.stdout + check.stderr);
  const { report } = await fsckJson(home);
  t.is(report.missing, 0);
  t.is(report.files, keptFiles.files, 'the kept files, and nothing of the removed tree');
  t.true(report.atRisk.every((f) => f.chunks.every((c) => c.copies > 0)), 'no chunk in use without a copy');
});
