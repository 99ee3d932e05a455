import test from 'ava';
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { mountOwnDir, sh, sharedSwarm } from '../helpers/index.js';

/*
 * Special files and owners through a real mount: FIFOs, sockets and device
 * nodes (the kernel gives them their behaviour, the mount records them), and
 * new files owned by whoever made them. Making devices and acting as another
 * user need root (the tests run as root here; as anyone else they are skipped).
 */

const swarm = sharedSwarm(3);
const asRoot = process.getuid?.() === 0 ? test.serial : test.serial.skip;
/** Runs a command as nobody:nogroup (65534), with no supplementary groups. */
const NOBODY = 'setpriv --reuid=65534 --regid=65534 --clear-groups';

/** A test's own directory in a fresh mount, open to every user (the mount is allow_other when root). */
async function openDir(t: Parameters<typeof mountOwnDir>[0]): Promise<string> {
  const { mnt, mountPoint } = await mountOwnDir(t, swarm());
  await chmod(path.dirname(mountPoint), 0o755);
  await chmod(mnt, 0o777);
  return mnt;
}

test.serial('mkfifo, mknod and a unix socket bound in the mount: their types, and bytes through the FIFO from a writer to a reader', async (t) => {
  const mnt = await openDir(t);
  const r = await sh(`set -e; cd "${mnt}"
    mkfifo -m 640 fifo; mknod p2 p
    python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "${mnt}/sock"
    stat -c '%n %F %a' fifo p2 sock
    cat fifo > out & reader=$!
    seq 1 20000 > fifo
    wait $reader
    md5sum < out; seq 1 20000 | md5sum
    mv fifo fifo2; rm p2 sock; ls | paste -sd ' '`);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.deepEqual(lines.slice(0, 3), ['fifo fifo 640', 'p2 fifo 644', 'sock socket 755']);
  t.is(lines[3], lines[4], 'what the writer wrote came out of the reader');
  t.is(lines[5], 'fifo2 out');
});

asRoot('mknod of character and block devices: type and device numbers in stat, in a second mount too', async (t) => {
  const mnt = await openDir(t);
  const other = (await mountOwnDir(t, swarm())).mnt;
  const r = await sh(`set -e; mknod -m 600 "${mnt}/null" c 1 3; mknod "${mnt}/disk" b 259 65538
    stat -c '%n %F %a %t:%T' "${mnt}/null" "${mnt}/disk" | sed 's|.*/||'
    stat -c '%F %t:%T' "${other}/null" "${other}/disk"`);
  t.is(r.code, 0, r.stderr);
  // %t:%T: major and minor in hex (259 = 0x103, 65538 = 0x10002: a minor past 8 bits).
  t.deepEqual(r.stdout.trim().split('\n'), ['null character special file 600 1:3', 'disk block special file 644 103:10002', 'character special file 1:3', 'block special file 103:10002']);
});

asRoot('what another user makes belongs to them; in a setgid directory it takes the group; chown and chmod rules as on Linux', async (t) => {
  const mnt = await openDir(t);
  const r = await sh(`cd "${mnt}"
    ${NOBODY} sh -c 'umask 022; mkdir d; touch f; ln -s f l; mkfifo p; echo x > w'
    stat -c '%n %u %g %a' d f l p w
    mkdir -m 2777 sg; chgrp 100 sg; chmod 2777 sg
    ${NOBODY} sh -c 'umask 022; mkdir sg/d; touch sg/f; chmod 2755 sg/f'
    stat -c '%n %u %g %a' sg/d sg/f
    ${NOBODY} chown 0 f 2>/dev/null; echo "nobody chown to root: $?"
    ${NOBODY} chgrp 100 f 2>/dev/null; echo "nobody chgrp to a group it is not in: $?"
    touch s; chmod 6755 s; chown 65534:65534 s; stat -c '%n %u %g %a' s
    mkdir -m 6755 sd; chown 65534 sd; stat -c '%n %u %g %a' sd
    python3 -c 'import os; os.chown("s", -1, -1); os.chown("s", 0xfffffffe, -1); os.chown("s", -1, 0xfffffffe)'; stat -c '%n %u %g' s`);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), [
    'd 65534 65534 755',
    'f 65534 65534 644',
    'l 65534 65534 777',
    'p 65534 65534 644',
    'w 65534 65534 644',
    'sg/d 65534 100 2755',
    'sg/f 65534 100 755',
    'nobody chown to root: 1',
    'nobody chgrp to a group it is not in: 1',
    's 65534 65534 755',
    'sd 65534 0 6755',
    's 4294967294 4294967294',
  ]);
});
