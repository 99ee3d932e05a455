import test from 'ava';
import { attrCacheExpiredS, mountOwnDir, sh, sharedSwarm, tmpDir } from '../helpers/index.js';
import { defaultConfig } from '../../src/core/index.js';

/** Every test mounts this swarm afresh and works in a directory of its own. */
const swarm = sharedSwarm(3);

test.serial('cp -p and cp -a keep mode and mtime; utime sets mtime apart from atime; du counts no holes or symlinks; a setgid directory passes on its group', async (t) => {
  const src = await tmpDir(t);
  const home = swarm();
  const { mnt } = await mountOwnDir(t, home);
  const r = await sh(
    `set -e; echo hello > s; chmod 754 s; touch -a -d '2001-01-01 00:00:01' s; touch -m -d '2002-02-02 00:00:02' s
     mkdir tree; echo x > tree/f; chmod 640 tree/f; chmod 751 tree; touch -d '2003-03-03 00:00:03' tree/f
     cp -p s "${mnt}/s"; cp -a tree "${mnt}/tree"
     stat -c '%a %Y' s "${mnt}/s" tree/f "${mnt}/tree/f"; stat -c '%a' tree "${mnt}/tree"
     python3 -c 'import os, sys; p = sys.argv[1] + "/u"; open(p, "w").close(); os.utime(p, (1e9, 1.2e9)); st = os.stat(p); print(int(st.st_atime), int(st.st_mtime))' "${mnt}"
     truncate -s 1G "${mnt}/sparse"; head -c 100000 /dev/urandom | dd of="${mnt}/sparse" bs=100000 seek=5000 conv=notrunc status=none
     du -k "${mnt}/sparse" | cut -f1
     mkdir "${mnt}/g"; chgrp 100 "${mnt}/g"; chmod 2775 "${mnt}/g"; mkdir "${mnt}/g/sub"; touch "${mnt}/g/f"
     stat -c '%g %a' "${mnt}/g/sub" "${mnt}/g/f"
     ln -s some/where "${mnt}/sl"; stat -c %b "${mnt}/sl"
     sleep 0.01 # the new file's time apart from the operations before it in the directory (the behaviour checked)
     echo x > "${mnt}/fresh"; find "${mnt}" -maxdepth 1 -newer "${mnt}/fresh" | wc -l`,
    { cwd: src },
  );
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.is(lines[1], lines[0], 'cp -p: the same mode and mtime (cp reading the source moves its atime)');
  t.is(lines[3], lines[2], 'cp -a: a file keeps mode and mtime');
  t.is(lines[5], lines[4], 'cp -a: a directory keeps its mode');
  t.is(lines[6], '1000000000 1200000000');
  const chunkKiB = defaultConfig().placement.chunkBytes / 1024;
  t.true(Number(lines[7]) <= 2 * chunkKiB, `du shows the one chunk written (${chunkKiB} KiB), not 1 GiB: ${lines[7]} KiB`);
  t.deepEqual(lines.slice(8, 10), ['100 2755', '100 644'], 'in a setgid directory: the group, and setgid on a new directory');
  t.is(lines[10], '0', 'a symlink takes no blocks (du)');
  t.is(lines[11], '0', 'find -newer a new file: its directory is not newer than it');
});

test.serial('many extended attributes: listed whole; a buffer too small gets ERANGE and the mount keeps serving', async (t) => {
  const home = swarm();
  const { mnt } = await mountOwnDir(t, home);
  const r = await sh(`python3 - "${mnt}" <<'PY'
import ctypes, errno, os, sys
p = sys.argv[1] + '/f'
open(p, 'w').write('x')
for i in range(40): os.setxattr(p, 'user.%d%s' % (i, 'k' * 60), b'1')
os.setxattr(p, 'user.big', b'v' * 1000)
print(len(os.listxattr(p)), len(os.getxattr(p, 'user.big')))
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(10)
print(libc.listxattr(p.encode(), buf, 10), errno.errorcode[ctypes.get_errno()])
print(libc.getxattr(p.encode(), b'user.big', buf, 10), errno.errorcode[ctypes.get_errno()])
print(open(p).read())
PY`);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), ['41 1000', '-1 ERANGE', '-1 ERANGE', 'x']);
});

test.serial('mkdir -p of the same path from two mounts at once, then a file from each: both files survive', async (t) => {
  const home = swarm();
  const a = await mountOwnDir(t, home);
  const b = await mountOwnDir(t, home);
  const r = await sh(`
    for r in $(seq 8); do
      (mkdir -p "${a.mnt}/z/d$r/sub" && echo 1 > "${a.mnt}/z/d$r/sub/a") & (mkdir -p "${b.mnt}/z/d$r/sub" && echo 2 > "${b.mnt}/z/d$r/sub/b") & wait
    done
    sleep ${attrCacheExpiredS()}   # what each mount cached of the other's directories has expired
    for r in $(seq 8); do cat "${a.mnt}/z/d$r/sub/a" "${a.mnt}/z/d$r/sub/b" "${b.mnt}/z/d$r/sub/a" "${b.mnt}/z/d$r/sub/b" | tr -d '\\n'; echo; done`);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), Array(8).fill('1212'));
});

test.serial('a file replaced by rename in one mount is read at once by another that had it cached (no stale ENOENT)', async (t) => {
  const home = swarm();
  const a = await mountOwnDir(t, home);
  const b = await mountOwnDir(t, home);
  const r = await sh(`
    mkdir "${a.mnt}/d"; echo v0 > "${a.mnt}/d/f"; cat "${b.mnt}/d/f" >/dev/null
    fails=0
    for i in $(seq 30); do
      echo v$i > "${a.mnt}/d/tmp"; mv "${a.mnt}/d/tmp" "${a.mnt}/d/f"
      cat "${b.mnt}/d/f" >/dev/null || fails=$((fails+1))
    done
    echo $fails`);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), '0');
});

test.serial('two mounts: an append lands at the end another mount made, and a file held open sees the other mount change it', async (t) => {
  const home = swarm();
  const a = await mountOwnDir(t, home);
  const b = await mountOwnDir(t, home);
  // Each sleep lets what the mounts cached expire (the attribute and entry TTL): the cases are about stale caches.
  const expired = attrCacheExpiredS();
  const r = await sh(`set -e
    printf 'line0\\n' > "${a.mnt}/log"; sleep ${expired}
    # b has the old size cached (stat) when a appends: the kernel would place b's append over a's line.
    for i in 1 2; do stat "${b.mnt}/log" > /dev/null; echo "A $i" >> "${a.mnt}/log"; echo "B $i" >> "${b.mnt}/log"; sleep ${expired}; done
    cat "${a.mnt}/log" | paste -sd ' '
    echo first > "${a.mnt}/f"; sleep ${expired}
    exec 9< "${b.mnt}/f"
    # The held file's attributes expire in the kernel and in b (read at the open): fstat asks the swarm.
    echo A1 >> "${a.mnt}/f"; sleep ${attrCacheExpiredS(500)}
    python3 -c 'import os; print(os.fstat(9).st_size)'
    echo B >> "${b.mnt}/f"
    exec 9<&-
    cat "${a.mnt}/f" | paste -sd ' '`);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), ['line0 A 1 B 1 A 2 B 2', '9', 'first A1 B'], 'no line lost; fstat of the held file shows the append');
});
