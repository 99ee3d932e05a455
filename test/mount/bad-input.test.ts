import test, { type ExecutionContext } from 'ava';
import { readFile } from 'node:fs/promises';
import { isAlive, mountLogs, mountOwnDir, sh, sharedSwarm } from '../helpers/index.js';
import { FILE_BYTES_MAX } from '../../src/core/index.js';

/*
 * Bad input through a real mount, from other processes (shell tools and
 * python3 os calls, which hand the kernel raw bytes): each request answers
 * as ext4 does (the expectations are what ext4 answered on the same calls),
 * or EFBIG / ENAMETOOLONG / EINVAL, and the mount keeps serving afterwards.
 */

const swarm = sharedSwarm(3);

/** Runs a python3 script with the mount directory as argv[1]; each line it prints is "label result". */
async function py(mnt: string, script: string): Promise<Map<string, string>> {
  const r = await sh(`python3 - "${mnt}" <<'PY'
import errno, os, sys
d = sys.argv[1]
bd = os.fsencode(d)
def t(label, fn):
    try:
        r = fn()
        print(label, 'ok' if r is None else r)
    except OSError as e:
        print(label, errno.errorcode[e.errno])
${script}
PY`);
  if (r.code !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return new Map(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.lastIndexOf(' ')), l.slice(l.lastIndexOf(' ') + 1)]));
}

/** The mount still answers (a file written and read back, from another process) and logged no internal error. */
async function stillServes(t: ExecutionContext, mnt: string, pid: number): Promise<void> {
  const r = await sh(`echo alive > "${mnt}/after" && cat "${mnt}/after" && ls "${mnt}" >/dev/null`);
  t.is(r.stdout.trim(), 'alive', r.stderr);
  t.true(isAlive(pid), 'the mount process is alive');
  t.notRegex(await mountLogs(swarm()), /internal error/);
}

/** Resident memory of a process (bytes). */
async function rssOf(pid: number): Promise<number> {
  return Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
}

test.serial('sizes past the largest file answer EFBIG (truncate, dd seek=, pwrite); a write across it is shortened; a 16 TiB sparse file costs the mount what is written', async (t) => {
  const { mnt, pid } = await mountOwnDir(t, swarm());
  const rssBefore = await rssOf(pid);
  const r = await sh(`cd "${mnt}"; touch f
    truncate -s 999999999999999 f 2>&1; truncate -s 9223372036854775807 f 2>&1; stat -c %s f
    dd if=/dev/zero of=f bs=1 count=1 seek=4611686018427387904 conv=notrunc status=none 2>&1
    truncate -s ${FILE_BYTES_MAX} big && stat -c %s big; truncate -s ${FILE_BYTES_MAX + 1} big 2>&1
    printf head | dd of=big conv=notrunc status=none; printf 0123456789 | dd of=big bs=1 seek=${FILE_BYTES_MAX - 10} conv=notrunc status=none
    echo done`);
  t.deepEqual(r.stdout.trim().split('\n'), [
    "truncate: failed to truncate 'f' at 999999999999999 bytes: File too large",
    "truncate: failed to truncate 'f' at 9223372036854775807 bytes: File too large",
    '0',
    "dd: error writing 'f': File too large",
    String(FILE_BYTES_MAX),
    `truncate: failed to truncate 'big' at ${FILE_BYTES_MAX + 1} bytes: File too large`,
    'done',
  ]);
  const out = await py(
    mnt,
    `MAX = ${FILE_BYTES_MAX}
fd = os.open(d + '/big', os.O_RDWR)
t('pwrite at 2^62', lambda: os.pwrite(fd, b'x', 2**62))
t('pwrite at max', lambda: os.pwrite(fd, b'x', MAX))
t('pwrite across max', lambda: os.pwrite(fd, b'ABCDEFGH', MAX - 4))
t('ftruncate 2^63-1', lambda: os.ftruncate(fd, 2**63 - 1))
t('ftruncate -1', lambda: os.ftruncate(fd, -1))
os.close(fd)
fd = os.open(d + '/big', os.O_RDONLY)
t('tail', lambda: os.pread(fd, 100, MAX - 10).decode())
t('head', lambda: os.pread(fd, 4, 0).decode())
t('size', lambda: os.fstat(fd).st_size)
t('blocks', lambda: os.fstat(fd).st_blocks * 512 <= 2 * 4 * 2**20)
os.close(fd)`,
  );
  t.deepEqual(Object.fromEntries(out), {
    'pwrite at 2^62': 'EFBIG',
    'pwrite at max': 'EFBIG',
    'pwrite across max': '4',
    'ftruncate 2^63-1': 'EFBIG',
    'ftruncate -1': 'EINVAL',
    tail: '012345ABCD',
    head: 'head',
    size: String(FILE_BYTES_MAX),
    blocks: 'True',
  });
  // A dense list of the file's 4 million chunks would be ~300 MiB in the mount; of 238 million (999999999999999 bytes), its death.
  const grew = (await rssOf(pid)) - rssBefore;
  t.true(grew < 128 * 2 ** 20, `the mount grew ${(grew / 2 ** 20).toFixed(0)} MiB`);
  await stillServes(t, mnt, pid);
});

test.serial('names of 255 bytes work and of 256 answer ENAMETOOLONG; paths up to PATH_MAX work, longer ones answer ENAMETOOLONG', async (t) => {
  const { mnt, pid } = await mountOwnDir(t, swarm());
  const out = await py(
    mnt,
    `t('create 255', lambda: open(os.path.join(d, 'a' * 255), 'w').write('x'))
t('read 255', lambda: open(os.path.join(d, 'a' * 255)).read())
t('create 256', lambda: open(os.path.join(d, 'a' * 256), 'w').close())
t('mkdir 256', lambda: os.mkdir(os.path.join(d, 'b' * 256)))
t('rename to 256', lambda: os.rename(os.path.join(d, 'a' * 255), os.path.join(d, 'c' * 256)))
t('create 255 two-byte', lambda: open(os.path.join(d, 'é' * 127 + 'x'), 'w').close())
t('create 256 two-byte', lambda: open(os.path.join(d, 'é' * 128), 'w').close())
t('symlink 256', lambda: os.symlink('x', os.path.join(d, 'l' * 256)))
deep = d
while len(deep) < 3800:
    deep = os.path.join(deep, 'd' * 200)
    os.mkdir(deep)
t('path 4095', lambda: open(os.path.join(deep, 'x' * (4095 - len(deep) - 1)), 'w').close())
t('stat 4095', lambda: os.stat(os.path.join(deep, 'x' * (4095 - len(deep) - 1))).st_size)
t('path 4096', lambda: open(os.path.join(deep, 'x' * (4096 - len(deep) - 1)), 'w').close())
t('listdir', lambda: len(os.listdir(d)))`,
  );
  t.deepEqual(Object.fromEntries(out), {
    'create 255': '1',
    'read 255': 'x',
    'create 256': 'ENAMETOOLONG',
    'mkdir 256': 'ENAMETOOLONG',
    'rename to 256': 'ENAMETOOLONG',
    'create 255 two-byte': 'ok',
    'create 256 two-byte': 'ENAMETOOLONG',
    'symlink 256': 'ENAMETOOLONG',
    'path 4095': 'ok',
    'stat 4095': '0',
    'path 4096': 'ENAMETOOLONG',
    listdir: '3',
  });
  await stillServes(t, mnt, pid);
});

test.serial('names with invalid UTF-8 are refused (EINVAL) rather than stored as another name: create, mkdir, rename, symlink target, xattr name', async (t) => {
  const { mnt, pid } = await mountOwnDir(t, swarm());
  const out = await py(
    mnt,
    `t('create ff fe', lambda: open(bd + b'/bad\\xff\\xfe', 'w').write('one'))
t('create fe ff', lambda: open(bd + b'/bad\\xfe\\xff', 'w').write('two'))
t('read ff fe', lambda: open(bd + b'/bad\\xff\\xfe').read())
t('mkdir c3', lambda: os.mkdir(bd + b'/dir\\xc3'))
open(d + '/good', 'w').write('kept')
t('rename to 80', lambda: os.rename(d + '/good', bd + b'/bad\\x80'))
t('good kept', lambda: open(d + '/good').read())
t('symlink target ff', lambda: os.symlink(b'tar\\xff', bd + b'/ln'))
t('xattr name ff', lambda: os.setxattr(d + '/good', b'user.x\\xff', b'v'))
t('xattr ok', lambda: os.setxattr(d + '/good', b'user.x', b'v'))
t('names', lambda: ','.join(sorted(os.listdir(d))))`,
  );
  t.deepEqual(Object.fromEntries(out), {
    'create ff fe': 'EINVAL',
    'create fe ff': 'EINVAL',
    'read ff fe': 'ENOENT',
    'mkdir c3': 'EINVAL',
    'rename to 80': 'EINVAL',
    'good kept': 'kept',
    'symlink target ff': 'EINVAL',
    'xattr name ff': 'EINVAL',
    'xattr ok': 'ok',
    names: 'good',
  });
  await stillServes(t, mnt, pid);
});

test.serial('modes with every bit, uid and gid 0xFFFFFFFE: kept as ext4 keeps them', async (t) => {
  const { mnt, pid } = await mountOwnDir(t, swarm());
  const out = await py(
    mnt,
    `os.umask(0o022)
q = d + '/m'
open(q, 'w').close()
t('chmod 07777', lambda: os.chmod(q, 0o7777))
t('mode', lambda: oct(os.stat(q).st_mode))
t('chmod 0o177777', lambda: os.chmod(q, 0o177777))
t('mode again', lambda: oct(os.stat(q).st_mode))
t('mkdir 0o177777', lambda: os.mkdir(d + '/md', 0o177777))
t('mkdir mode', lambda: oct(os.stat(d + '/md').st_mode))
t('create 0o177777', lambda: os.close(os.open(d + '/mc', os.O_CREAT | os.O_WRONLY, 0o177777)))
t('create mode', lambda: oct(os.stat(d + '/mc').st_mode))
t('chown fffffffe', lambda: os.chown(q, 0xFFFFFFFE, 0xFFFFFFFE))
t('owner', lambda: '%d:%d' % (os.stat(q).st_uid, os.stat(q).st_gid))
t('chown -1', lambda: os.chown(q, -1, -1))
t('owner kept', lambda: '%d:%d' % (os.stat(q).st_uid, os.stat(q).st_gid))`,
  );
  t.deepEqual(Object.fromEntries(out), {
    'chmod 07777': 'ok',
    mode: '0o107777',
    'chmod 0o177777': 'ok',
    'mode again': '0o107777',
    'mkdir 0o177777': 'ok',
    'mkdir mode': '0o41755',
    'create 0o177777': 'ok',
    'create mode': '0o107755',
    'chown fffffffe': 'ok',
    owner: '4294967294:4294967294',
    'chown -1': 'ok',
    'owner kept': '4294967294:4294967294',
  });
  await stillServes(t, mnt, pid);
});
