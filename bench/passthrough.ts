/**
 * A minimal passthrough file system on fuse-native: every op maps straight to
 * node:fs on a backing directory. bench:mount's ceiling for any Node FUSE file
 * system (same binding, same mount options and read-ahead as CellSync's mount). It has no
 * extended attributes (node:fs has none), so the kernel stops asking for them;
 * CellSync answers a getxattr of security.capability before every write.
 * Usage: node passthrough.js <backing dir> <mount point>
 */
import Fuse from 'fuse-native';
import fs from 'node:fs';
import path from 'node:path';
import { setReadAhead } from '../src/mount/index.js';

const [backing, mnt] = process.argv.slice(2) as [string, string];
const p = (x: string) => path.join(backing, x);
type Cb = (code: number, ...v: unknown[]) => void;
const errno = (err: NodeJS.ErrnoException | null) => (err ? -(err.errno ? Math.abs(err.errno) : 5) : 0);
const done = (cb: Cb) => (err: NodeJS.ErrnoException | null) => cb(errno(err));

class TunedFuse extends Fuse {
  override _fuseOptions(): string {
    const base = super._fuseOptions();
    const extra = 'big_writes,max_write=131072,max_read=131072';
    return base ? `${base},${extra}` : `-o${extra}`;
  }
}

const ops = {
  getattr: (x: string, cb: Cb) => fs.lstat(p(x), (err, st) => (err ? cb(errno(err)) : cb(0, st))),
  fgetattr: (_x: string, fd: number, cb: Cb) => fs.fstat(fd, (err, st) => (err ? cb(errno(err)) : cb(0, st))),
  readdir: (x: string, cb: Cb) => fs.readdir(p(x), (err, names) => (err ? cb(errno(err)) : cb(0, names))),
  // O_DIRECT is the kernel's to honour (no page cache for this file on the mount); passed on to the backing
  // file it would fail every write (EINVAL), since FUSE hands the data over in a buffer that is not aligned.
  open: (x: string, flags: number, cb: Cb) => fs.open(p(x), flags & ~fs.constants.O_DIRECT, (err, fd) => (err ? cb(errno(err)) : cb(0, fd))),
  create: (x: string, mode: number, cb: Cb) => fs.open(p(x), 'w', mode, (err, fd) => (err ? cb(errno(err)) : cb(0, fd))),
  read: (_x: string, fd: number, buf: Buffer, len: number, pos: number, cb: Cb) => fs.read(fd, buf, 0, len, pos, (err, n) => cb(err ? errno(err) : n)),
  write: (_x: string, fd: number, buf: Buffer, len: number, pos: number, cb: Cb) => fs.write(fd, buf, 0, len, pos, (err, n) => cb(err ? errno(err) : n)),
  release: (_x: string, fd: number, cb: Cb) => fs.close(fd, done(cb)),
  flush: (_x: string, _fd: number, cb: Cb) => cb(0),
  fsync: (_x: string, _ds: number, fd: number, cb: Cb) => fs.fsync(fd, done(cb)),
  truncate: (x: string, size: number, cb: Cb) => fs.truncate(p(x), size, done(cb)),
  ftruncate: (_x: string, fd: number, size: number, cb: Cb) => fs.ftruncate(fd, size, done(cb)),
  unlink: (x: string, cb: Cb) => fs.unlink(p(x), done(cb)),
  mkdir: (x: string, mode: number, cb: Cb) => fs.mkdir(p(x), mode, done(cb)),
  rmdir: (x: string, cb: Cb) => fs.rmdir(p(x), done(cb)),
  rename: (a: string, b: string, cb: Cb) => fs.rename(p(a), p(b), done(cb)),
  chmod: (x: string, mode: number, cb: Cb) => fs.chmod(p(x), mode, done(cb)),
  utimens: (x: string, a: number, m: number, cb: Cb) => fs.utimes(p(x), new Date(a), new Date(m), done(cb)),
};

// The options CellSync's mount uses (src/mount/mount.ts): permissions checked by the kernel, other users allowed.
const fuse = new TunedFuse(mnt, ops, { force: true, mkdir: false, timeout: 60_000, defaultPermissions: true, allowOther: process.getuid?.() === 0 });
fuse.mount((err) => {
  if (err) {
    console.error(`passthrough: ${err.message}`);
    process.exit(1);
  }
  setReadAhead(mnt).then(() => console.log('mounted'));
});
const stop = () => fuse.unmount(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
