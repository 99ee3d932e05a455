import test from 'ava';
import { inoNumberOf } from '../../src/mount/fs/index.js';
import { mountSimFs, readFile, writeFile } from '../helpers/sim-fs.js';
import { createSimSwarm } from '../helpers/sim-swarm.js';

/*
 * What a mount says an inode is and whose it is, through SwarmFs on a
 * simulated swarm: special files made by mknod, owners from the caller, and
 * inode numbers that do not change.
 */

const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFSOCK = 0o140000;
const S_IFREG = 0o100000;

test.serial('mknod: FIFOs, sockets and devices keep their type, mode, owner and device number, in another mount too; S_IFREG makes an empty file', async (t) => {
  const swarm = await createSimSwarm(t, { cells: 4, seed: 171 });
  const { fs } = await mountSimFs(t, swarm);
  const alice = { uid: 1001, gid: 1002 };
  await fs.mknod('/fifo', S_IFIFO | 0o640, 0, alice);
  await fs.mknod('/sock', S_IFSOCK | 0o755, 0);
  await fs.mknod('/chr', S_IFCHR | 0o600, 0x0107, alice);
  await fs.mknod('/blk', S_IFBLK | 0o660, 0x0803, alice);
  await fs.mknod('/reg', S_IFREG | 0o644, 0, alice);
  await t.throwsAsync(fs.mknod('/fifo', S_IFIFO | 0o644, 0), { code: 'ENTRY_EXISTS' });
  await t.throwsAsync(fs.mknod('/bad', 0o030644, 0), { code: 'INVALID_ARGUMENT' }, 'an unknown file type');
  const other = (await mountSimFs(t, swarm)).fs;
  for (const on of [fs, other]) {
    const st = async (p: string) => {
      const s = await on.getattr(p);
      return [s.type, s.mode, s.uid, s.gid, s.rdev, s.size];
    };
    t.deepEqual(await st('/fifo'), ['special', S_IFIFO | 0o640, 1001, 1002, 0, 0]);
    t.deepEqual(await st('/sock'), ['special', S_IFSOCK | 0o755, fs.opts.uid, fs.opts.gid, 0, 0], 'no caller: the mount user');
    t.deepEqual(await st('/chr'), ['special', S_IFCHR | 0o600, 1001, 1002, 0x0107, 0]);
    t.deepEqual(await st('/blk'), ['special', S_IFBLK | 0o660, 1001, 1002, 0x0803, 0]);
    t.deepEqual(await st('/reg'), ['file', S_IFREG | 0o644, 1001, 1002, 0, 0]);
    t.is((await readFile(on, '/reg')).length, 0);
  }
  await fs.chmod('/chr', 0o644);
  t.is((await fs.getattr('/chr')).mode, S_IFCHR | 0o644, 'chmod keeps the type bits');
  await fs.rename('/fifo', '/fifo2');
  t.is((await fs.getattr('/fifo2')).mode, S_IFIFO | 0o640);
  await fs.unlink('/sock');
  t.false((await other.readdir('/')).includes('sock'));
});

test.serial('new files, directories and symlinks belong to the caller; in a setgid directory they take its group', async (t) => {
  const swarm = await createSimSwarm(t, { cells: 4, seed: 172 });
  const { fs } = await mountSimFs(t, swarm);
  const bob = { uid: 65534, gid: 65533 };
  await fs.mkdir('/d', 0o755, bob);
  await fs.symlink('target', '/d/l', bob);
  await fs.release(await fs.create('/d/f', 0o644, bob));
  const owner = async (p: string) => {
    const s = await fs.getattr(p);
    return [s.uid, s.gid, s.mode & 0o7777];
  };
  t.deepEqual(await owner('/d'), [65534, 65533, 0o755]);
  t.deepEqual(await owner('/d/l'), [65534, 65533, 0o777]);
  t.deepEqual(await owner('/d/f'), [65534, 65533, 0o644]);
  await fs.mkdir('/g', 0o775);
  await fs.chown('/g', 0, 100);
  await fs.chmod('/g', 0o2775);
  await fs.mkdir('/g/sub', 0o755, bob);
  await fs.release(await fs.create('/g/f', 0o644, bob));
  await fs.mknod('/g/p', S_IFIFO | 0o644, 0, bob);
  t.deepEqual(await owner('/g/sub'), [65534, 100, 0o2755], 'a directory: the group, and setgid');
  t.deepEqual(await owner('/g/f'), [65534, 100, 0o644]);
  t.deepEqual(await owner('/g/p'), [65534, 100, 0o644]);
  await fs.chown('/g/f', 0xfffffffe, -1);
  t.deepEqual(await owner('/g/f'), [0xfffffffe, 100, 0o644], 'uid 0xFFFFFFFE is kept; gid -1 leaves the group');
});

test.serial('inode numbers: the same after a rename, in another mount, after the caches are dropped; the root is 1', async (t) => {
  const swarm = await createSimSwarm(t, { cells: 4, seed: 173 });
  const { fs } = await mountSimFs(t, swarm);
  await fs.mkdir('/a', 0o755);
  await writeFile(fs, '/a/f', Buffer.from('x'));
  await fs.symlink('f', '/a/l');
  const number = async (on: typeof fs, p: string) => inoNumberOf((await on.getattr(p)).ino);
  t.deepEqual(await number(fs, '/'), { low: 1, high: 0 });
  const before = [await number(fs, '/a'), await number(fs, '/a/f'), await number(fs, '/a/l')];
  t.is(new Set(before.map((n) => `${n.high}:${n.low}`)).size, 3, 'all different');
  await fs.rename('/a/f', '/a/g');
  await fs.rename('/a', '/b');
  const other = (await mountSimFs(t, swarm)).fs;
  fs.dropCaches();
  for (const on of [fs, other]) t.deepEqual([await number(on, '/b'), await number(on, '/b/g'), await number(on, '/b/l')], before);
});
