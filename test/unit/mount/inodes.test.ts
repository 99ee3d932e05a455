import test from 'ava';
import { ROOT_INO, dirInoOf, newIno } from '../../../src/namespace/index.js';
import { inoNumberOf, mknodTypeOf, newInode } from '../../../src/mount/fs/inodes.js';

const asBig = ({ low, high }: { low: number; high: number }) => (BigInt(high) << 32n) | BigInt(low);

test('inoNumberOf: the root is 1; a file or directory ino gives its last 64 bits, the same every time', (t) => {
  t.deepEqual(inoNumberOf(ROOT_INO), { low: 1, high: 0 });
  const file = newIno('file', 'abcdef0112345678');
  t.is(asBig(inoNumberOf(file)), BigInt('0x' + file.slice(-16)));
  t.deepEqual(inoNumberOf(file), inoNumberOf(file));
  const dir = dirInoOf(ROOT_INO, 'd', null);
  t.is(asBig(inoNumberOf(dir)), BigInt('0x' + dir.slice(-16)));
  for (const half of Object.values(inoNumberOf('ffffffffffffffffffffffff'))) t.true(half >= 0 && half <= 0xffffffff);
});

test('inoNumberOf: an ino not ending in 16 hex digits, or ending in zeros, is hashed (never 0)', (t) => {
  const zeros = inoNumberOf('abcdef010000000000000000');
  t.not(asBig(zeros), 0n);
  t.deepEqual(inoNumberOf('not hex at all'), inoNumberOf('not hex at all'));
  t.notDeepEqual(inoNumberOf('not hex at all'), inoNumberOf('not hex at alm'));
});

test('mknodTypeOf: FIFOs, sockets and devices are special; S_IFREG or no type is a file; directories and unknown types none', (t) => {
  for (const type of [0o010000, 0o020000, 0o060000, 0o140000]) t.is(mknodTypeOf(type | 0o644), 'special');
  t.is(mknodTypeOf(0o100644), 'file');
  t.is(mknodTypeOf(0o644), 'file');
  t.is(mknodTypeOf(0o040755), null);
  t.is(mknodTypeOf(0o120777), null);
  t.is(mknodTypeOf(0o030644), null);
});

test('newInode: a special file keeps the type bits of its mode; the owner is whoever is given', (t) => {
  const fifo = newInode('special', 0o010640, { uid: 7, gid: 8 }, 5);
  t.like(fifo, { type: 'special', mode: 0o010640, uid: 7, gid: 8, size: 0 });
  t.is(newInode('file', 0o170644, { uid: 0, gid: 0 }, 5).mode, 0o100644, 'a file: S_IFREG whatever the mode says');
});
