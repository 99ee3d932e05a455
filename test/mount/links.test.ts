import test from 'ava';
import { attrCacheExpiredS, mountOwnDir, sh, sharedSwarm, tmpDir } from '../helpers/index.js';

/*
 * Link counts through a real mount: hard links made by ln and tar, st_nlink
 * as stat, ls and find show it, a directory's count of its subdirectories,
 * and what renameat2's flags answer (libfuse 2 does not pass them on).
 */

/** Every test mounts this swarm afresh and works in a directory of its own. */
const swarm = sharedSwarm(3);

test.serial('ln: both names count two links, share their bytes both ways, and one name removed leaves the file whole', async (t) => {
  const home = swarm();
  const { mnt } = await mountOwnDir(t, home);
  // libfuse 2 gives each name its own kernel inode: a count or size changed through one name shows through another
  // once the kernel's attributes of that name expire (the attribute cache); bytes of the same size at the next open.
  const r = await sh(`set -e; cd "${mnt}"
    echo first > a; ln a b; stat -c %h b; sleep ${attrCacheExpiredS()}; stat -c %h a
    echo other > a; cat b
    echo more >> b; sleep ${attrCacheExpiredS()}; cat a
    ls -l a b | awk '{print $2}'
    mkdir sub; ln b sub/c; sleep ${attrCacheExpiredS()}; find . -type f -links 3 | sort
    rm a; sleep ${attrCacheExpiredS()}; stat -c %h b sub/c; cat sub/c
    rm b sub/c; ls -A | tr '\\n' ' '; echo`);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), ['2', '2', 'other', 'other', 'more', '2', '2', './a', './b', './sub/c', '2', '2', 'other', 'more', 'sub']);
});

test.serial('ln refuses as ext4 does: a directory (EPERM), an existing name (EEXIST), a missing source (ENOENT)', async (t) => {
  const home = swarm();
  const { mnt } = await mountOwnDir(t, home);
  const r = await sh(`cd "${mnt}"; mkdir d; touch f g
    ln d d2 2>&1; ln f g 2>&1; ln missing h 2>&1; true`);
  t.regex(r.stdout, /hard link not allowed for directory/);
  t.regex(r.stdout, /'g': File exists/);
  t.regex(r.stdout, /'missing': No such file or directory/);
});

test.serial('a directory counts 2 + its subdirectories (stat, ls -ld, find -links)', async (t) => {
  const home = swarm();
  const { mnt } = await mountOwnDir(t, home);
  const r = await sh(`set -e; cd "${mnt}"
    mkdir -p top/a/deep top/b top/c; touch top/file; ln -s a top/link
    stat -c %h top top/a top/b
    rmdir top/c; mv top/b top/a/; stat -c %h top top/a
    ls -ld top | awk '{print $2}'
    find top -type d -links 2 | sort | tr '\\n' ' '; echo`);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), ['5', '3', '2', '3', '4', '3', 'top/a/b top/a/deep']);
});

test.serial('tar x of a tree with hard links makes them links in the mount: counts, and bytes shared', async (t) => {
  const src = await tmpDir(t);
  const home = swarm();
  const { mnt } = await mountOwnDir(t, home);
  const r = await sh(`set -e
    mkdir -p tree/x tree/y; head -c 300000 /dev/urandom > tree/x/big; ln tree/x/big tree/y/big2; ln tree/x/big tree/big3
    echo small > tree/s; ln tree/s tree/x/s2; echo alone > tree/alone
    tar cf t.tar tree
    tar xf t.tar -C "${mnt}"; sleep ${attrCacheExpiredS()}
    cd "${mnt}/tree"; stat -c '%n %h' x/big y/big2 big3 s x/s2 alone
    diff -r "${src}/tree" "${mnt}/tree" | grep -c . || true
    printf 'SMALL\\n' > s; cat x/s2`,
    { cwd: src },
  );
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), ['x/big 3', 'y/big2 3', 'big3 3', 's 2', 'x/s2 2', 'alone 1', '0', 'SMALL']);
});

test.serial('renameat2: RENAME_NOREPLACE and RENAME_EXCHANGE answer as libfuse 2 lets them (documented), and change nothing', async (t) => {
  const home = swarm();
  const { mnt } = await mountOwnDir(t, home);
  // x86_64 renameat2 is syscall 316. The kernel answers EEXIST and ENOENT itself; whatever reaches the file system
  // with a flag is EINVAL, as libfuse 2 speaks a FUSE protocol (7.19) older than rename flags (7.23).
  const r = await sh(`python3 - "${mnt}" <<'PY'
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(sys.argv[1])
def r2(a, b, flags):
    rc = libc.syscall(316, -100, a.encode(), -100, b.encode(), flags)
    return 'OK' if rc == 0 else errno.errorcode[ctypes.get_errno()]
for n in ['a', 'b']: open(n, 'w').write(n)
NOREPLACE, EXCHANGE = 1, 2
print(r2('a', 'b', NOREPLACE), r2('a', 'new', NOREPLACE), r2('a', 'b', EXCHANGE), r2('a', 'none', EXCHANGE), r2('a', 'c', 0))
print(sorted(os.listdir('.')), open('b').read())
PY
    cd "${mnt}"; mv -n c b; mv -n c d; ls | tr '\\n' ' '`);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), ['EEXIST EINVAL EINVAL ENOENT OK', "['b', 'c'] b", 'b d'], 'mv -n falls back to its own check after EINVAL');
});
