import test from 'ava';
import { attrCacheExpiredS, cli, mountOwnDir, sh, sharedSwarm, tmpDir } from '../helpers/index.js';

/*
 * Inode numbers through a real mount: the file system's own (use_ino), so
 * they stay while the file exists, whatever mount, remount or rename; and
 * trees copied in with tar, cp -a and rsync -a come back as they were.
 */

const swarm = sharedSwarm(3);

test.serial('an inode number stays: seconds apart, after a rename, after a remount, in a second mount; the root is 1; readdir d_ino is st_ino', async (t) => {
  const home = swarm();
  const a = await mountOwnDir(t, home);
  const ino = async (...paths: string[]) => {
    const r = await sh(`stat -c %i ${paths.map((p) => `"${p}"`).join(' ')}`);
    t.is(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n');
  };
  const made = await sh(`set -e; cd "${a.mnt}"; mkdir -p d/e; echo x > d/f; ln -s f d/l; mkfifo d/p`);
  t.is(made.code, 0, made.stderr);
  const names = ['d', 'd/e', 'd/f', 'd/l', 'd/p'];
  const first = await ino(...names.map((n) => `${a.mnt}/${n}`));
  t.is(new Set(first).size, names.length, 'all different');
  t.true(first.some((n) => BigInt(n) > 2n ** 32n), `64-bit numbers: ${first.join(' ')}`);
  t.deepEqual(await ino(a.mountPoint), ['1'], 'the root');
  await sh(`sleep ${attrCacheExpiredS(1_500)}`);
  t.deepEqual(await ino(...names.map((n) => `${a.mnt}/${n}`)), first, 'seconds later (libfuse forgot its nodes meanwhile)');
  const listed = await sh(`python3 -c 'import os, sys; print(*sorted(f"{e.name} {e.inode() == os.lstat(e.path).st_ino}" for e in os.scandir(sys.argv[1])))' "${a.mnt}/d"`);
  t.is(listed.stdout.trim(), 'e True f True l True p True');

  const moved = await sh(`set -e; cd "${a.mnt}"; mv d/f d/g; mv d d2`);
  t.is(moved.code, 0, moved.stderr);
  const renamed = ['d2', 'd2/e', 'd2/g', 'd2/l', 'd2/p'];
  t.deepEqual(await ino(...renamed.map((n) => `${a.mnt}/${n}`)), first, 'after renames');
  const b = await mountOwnDir(t, home);
  t.deepEqual(await ino(...renamed.map((n) => `${b.mnt}/${n}`)), first, 'in a second mount');
  t.is((await cli(['umount', a.mountPoint])).code, 0);
  const again = await mountOwnDir(t, home);
  t.deepEqual(await ino(...renamed.map((n) => `${again.mnt}/${n}`)), first, 'after a remount');
});

test.serial('tar x, cp -a and rsync -a of a tree with symlinks and empty directories: the same names, contents, links, owners, modes and times', async (t) => {
  const src = await tmpDir(t);
  const { mnt } = await mountOwnDir(t, swarm());
  const rsync = (await sh('command -v rsync')).code === 0;
  const made = await sh(`set -e; cd "${src}"; mkdir -p tree/a/b/empty tree/c tree/empty
    echo hello > tree/a/f; head -c 300000 /dev/urandom > tree/a/b/big; printf '' > tree/zero
    ln -s ../a/f tree/c/rel; ln -s /nowhere tree/dangling; ln -s a tree/dirlink; ln -s c/rel tree/chain
    chmod 750 tree/a; chmod 600 tree/a/f; chmod 1777 tree/empty; chown -h 65534:65534 tree/dangling tree/a/b/big
    touch -h -d '2001-02-03 04:05:06' tree/a/f tree/a/b/big tree/c/rel tree/dangling tree/a/b/empty tree/a/b tree/c tree/a tree/empty tree
    tar czf tree.tgz tree`);
  t.is(made.code, 0, made.stderr);
  /** Each path's name, type, mode, owner and mtime; symlinks not followed. */
  const listing = async (dir: string) => {
    const r = await sh(`cd "${dir}" && find . | LC_ALL=C sort | xargs stat -c '%n %F %a %u %g %Y'`);
    t.is(r.code, 0, r.stderr);
    return r.stdout;
  };
  // tar x sets mtime alone (atime UTIME_OMIT): libfuse 2 dropped that until patch-fuse-native.sh's one_time change.
  const copies: [string, string][] = [
    ['tar', `mkdir "${mnt}/tar" && tar xzf "${src}/tree.tgz" -C "${mnt}/tar"`],
    ['cp', `mkdir "${mnt}/cp" && cp -a "${src}/tree" "${mnt}/cp/"`],
  ];
  if (rsync) copies.push(['rsync', `mkdir "${mnt}/rsync" && rsync -a "${src}/tree" "${mnt}/rsync/"`]);
  else t.log('rsync not installed: not checked');
  for (const [name, copy] of copies) {
    const r = await sh(`set -e; ${copy}; diff -r --no-dereference "${src}/tree" "${mnt}/${name}/tree"`);
    t.is(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
    t.is(await listing(`${mnt}/${name}/tree`), await listing(`${src}/tree`), `${name}: types, modes, owners, times`);
  }
  const touched = await sh(`set -e; f="${mnt}/cp/tree/a/f"; touch -a -d '2011-01-01' "$f"; touch -m -d '2012-02-02' "$f"; stat -c '%X %Y' "$f"; date -d 2011-01-01 +%s; date -d 2012-02-02 +%s`);
  t.is(touched.code, 0, touched.stderr);
  const [times, atime, mtime] = touched.stdout.trim().split('\n');
  t.is(times, `${atime} ${mtime}`, 'touch -a and touch -m each change one time, and keep the other');
});
