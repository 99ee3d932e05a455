import test from 'ava';
import { attrCacheExpiredS, mountOwnDir, sh, sharedSwarm } from '../helpers/index.js';

/*
 * Listing and stat on a real mount: what `ls -l` and `stat` show of a listed
 * directory's files (their attributes come in batches, see AttrBatches) is
 * what was written, here and by another mount, within the documented
 * freshness: 1 s for attributes, at once after an open (close-to-open).
 */

const swarm = sharedSwarm(3);

/** `name size mtime` lines of stat's output, as a map from name to [size, mtime s]. */
function statLines(out: string): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  for (const line of out.trim().split('\n')) {
    const [name, size, mtime] = line.split(' ');
    m.set(name!.split('/').pop()!, [Number(size), Number(mtime)]);
  }
  return m;
}

test.serial('ls -l and stat of a listed directory show sizes and times as written; another mount\'s change is seen after 1 s, and attributes read ahead are trusted half as long', async (t) => {
  const home = swarm();
  const a = await mountOwnDir(t, home);
  const b = await mountOwnDir(t, home);
  const made = await sh(`set -e
    mkdir "${a.mnt}/d"
    for i in $(seq 1 300); do head -c $i /dev/zero > "${a.mnt}/d/f$i"; done
    touch -m -d @978310801 "${a.mnt}/d/f7"`);
  t.is(made.code, 0, made.stderr);

  // b lists the directory (a fresh mount: nothing cached), then stats every file.
  const listed = await sh(`set -e; ls -l --time-style=+%s "${b.mnt}/d" | tail -n +2 | awk '{print $7, $5, $6}'`);
  t.is(listed.code, 0, listed.stderr);
  const fromLs = statLines(listed.stdout);
  t.is(fromLs.size, 300);
  for (let i = 1; i <= 300; i++) t.is(fromLs.get(`f${i}`)?.[0], i, `ls -l: size of f${i}`);
  t.is(fromLs.get('f7')?.[1], 978310801, 'ls -l: mtime set by touch in the other mount');
  const stats = await sh(`set -e; cd "${b.mnt}/d"; stat -c '%n %s %Y' *`);
  t.is(stats.code, 0, stats.stderr);
  const fromStat = statLines(stats.stdout);
  for (let i = 1; i <= 300; i++) t.is(fromStat.get(`f${i}`)?.[0], i, `stat: size of f${i}`);

  // Changes: b's own is seen at once; a's once what b's kernel and mount cached is 1 s old.
  const expired = attrCacheExpiredS();
  const after = await sh(`set -e
    ls -l "${b.mnt}/d" > /dev/null
    echo more >> "${b.mnt}/d/f1"; stat -c %s "${b.mnt}/d/f1"
    head -c 4000 /dev/zero > "${a.mnt}/d/f3"
    touch -m -d @978310802 "${a.mnt}/d/f3"
    head -c 5000 /dev/zero > "${a.mnt}/d/f4"
    sleep ${expired}
    stat -c '%s %Y' "${b.mnt}/d/f3"
    cat "${b.mnt}/d/f4" | wc -c`);
  t.is(after.code, 0, after.stderr);
  t.deepEqual(after.stdout.trim().split('\n'), ['6', '4000 978310802', '5000']);

  // Attributes read in a batch before anyone asked are trusted half as long (the kernel adds its own 1 s to what a
  // lookup answers): an open 0.6 s after a batch read f20 (the entry after f2; b's kernel has not looked it up since) sees
  // a's new content.
  await sh(`sleep ${expired}`);
  const primed = await sh(`set -e
    stat -c %s "${b.mnt}/d/f2"
    sleep 0.6
    head -c 6000 /dev/zero > "${a.mnt}/d/f20"
    cat "${b.mnt}/d/f20" | wc -c`);
  t.is(primed.code, 0, primed.stderr);
  t.deepEqual(primed.stdout.trim().split('\n'), ['2', '6000']);
});
