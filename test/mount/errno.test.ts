import test from 'ava';
import { mountSwarm, sh, swarmUp } from '../helpers/index.js';

/** Each line: an operation in Python and the errno a local file system gives for it. */
const CASES: [string, string][] = [
  ['os.stat(M + "/missing")', 'ENOENT'],
  ['os.mkdir(M + "/dir")', 'EEXIST'],
  ['open(M + "/file/x", "w")', 'ENOTDIR'],
  ['open(M + "/dir", "w")', 'EISDIR'],
  ['os.unlink(M + "/dir")', 'EISDIR'],
  ['os.rmdir(M + "/full")', 'ENOTEMPTY'],
  ['os.rmdir(M + "/file")', 'ENOTDIR'],
  ['open(M + "/" + "n" * 256, "w")', 'ENAMETOOLONG'],
  ['os.rename(M + "/dir", M + "/dir/inside")', 'EINVAL'],
  ['os.rename(M + "/dir", M + "/file")', 'ENOTDIR'],
  ['os.rename(M + "/file", M + "/full")', 'EISDIR'],
  ['os.rename(M + "/empty2", M + "/full")', 'ENOTEMPTY'],
  ['os.link(M + "/dir", M + "/hard")', 'EPERM'],
  ['os.link(M + "/file", M + "/dir")', 'EEXIST'],
  ['os.link(M + "/missing", M + "/hard")', 'ENOENT'],
  ['os.readlink(M + "/file")', 'EINVAL'],
  ['os.getxattr(M + "/file", "user.none")', 'ENODATA'],
  ['os.symlink("x", M + "/file")', 'EEXIST'],
  ['os.setxattr(M + "/file", "user.a", b"2", os.XATTR_CREATE)', 'EEXIST'],
  ['os.setxattr(M + "/file", "user.none", b"2", os.XATTR_REPLACE)', 'ENODATA'],
  ['os.setxattr(M + "/file", "bogus.a", b"2")', 'ENOTSUP'],
];

test('errors are the errno a local file system gives', async (t) => {
  const home = await swarmUp(t, 3);
  const { mnt } = await mountSwarm(t, home);
  const py = `
import errno, os, sys
M = sys.argv[1]
os.mkdir(M + "/dir"); os.mkdir(M + "/full"); os.mkdir(M + "/empty2")
open(M + "/full/f", "w").close(); open(M + "/file", "w").close(); os.setxattr(M + "/file", "user.a", b"1")
for line in sys.stdin.read().splitlines():
    try:
        exec(line)
        print("OK")
    except OSError as e:
        print(errno.errorcode[e.errno])
`;
  const r = await sh(`python3 -c '${py.replace(/'/g, "'\\''")}' '${mnt}' <<'EOF'\n${CASES.map((c) => c[0]).join('\n')}\nEOF`);
  t.is(r.code, 0, r.stderr);
  const got = r.stdout.trim().split('\n');
  CASES.forEach(([op, want], i) => t.is(got[i], want, op));
});

test('permissions are enforced for other users (default_permissions): EACCES', async (t) => {
  const home = await swarmUp(t, 3);
  const { mnt } = await mountSwarm(t, home);
  const r = await sh(`
    chmod 755 "$(dirname "${mnt}")"
    echo secret > "${mnt}/private" && chmod 600 "${mnt}/private"
    echo open > "${mnt}/public" && chmod 644 "${mnt}/public"
    setpriv --reuid=65534 --regid=65534 --clear-groups cat "${mnt}/public"
    setpriv --reuid=65534 --regid=65534 --clear-groups cat "${mnt}/private" 2>&1 || true
    setpriv --reuid=65534 --regid=65534 --clear-groups sh -c 'echo x >> "${mnt}/public"' 2>&1 || true
  `);
  t.regex(r.stdout, /^open\n/);
  t.regex(r.stdout, /private: Permission denied/);
  t.regex(r.stdout, /public: Permission denied/);
});
