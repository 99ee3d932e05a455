import Fuse from 'fuse-native';
import { execFile } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Caller, SwarmFs } from './fs/index.js';
import { CellError, logger } from '../core/index.js';
import type { FuseOpMetrics } from './op-metrics.js';
import { fuseOps } from './ops.js';

const log = logger('mount');
const run = promisify(execFile);

/** fuse-native builds its -o string from a fixed list: append what it cannot say (see native-notes/). */
class TunedFuse extends Fuse {
  override _fuseOptions(): string {
    const base = super._fuseOptions();
    // big_writes: 128 KiB writes instead of 4 KiB ones, a thirty-second of the round trips.
    // The source names the serving process: a mount process tells its own mount from a later one at the same path.
    // use_ino: st_ino is the file system's own (stable across mounts and renames), not libfuse's node counter.
    const extra = `big_writes,max_write=131072,max_read=131072,use_ino,fsname=${MOUNT_SOURCE},subtype=cellsync`;
    return base ? `${base},${extra}` : `-o${extra}`;
  }

  // The ops that make an inode pass on who asked, so that it belongs to them (trailing arguments of the rebuilt
  // binary: see scripts/patch-fuse-native.sh; the prebuilt one has none, and the mount's user owns what is made).
  override _op_create(signal: Cb, path: string, mode: number, ...caller: number[]): void {
    this.ops.create!(path, mode, callerOf(caller), (err: number, fd?: number) => signal(err, fd));
  }

  override _op_mkdir(signal: Cb, path: string, mode: number, ...caller: number[]): void {
    this.ops.mkdir!(path, mode, callerOf(caller), (err: number) => signal(err));
  }

  override _op_mknod(signal: Cb, path: string, mode: number, dev: number, ...caller: number[]): void {
    this.ops.mknod!(path, mode, dev, callerOf(caller), (err: number) => signal(err));
  }

  override _op_symlink(signal: Cb, target: string, path: string, ...caller: number[]): void {
    this.ops.symlink!(target, path, callerOf(caller), (err: number) => signal(err));
  }

  // fuse-native copies a value or a name list into libfuse's buffer without looking at its size: a list
  // longer than the buffer threw on the event loop and killed the mount, and a long value came back
  // cut short as EIO. A caller whose buffer is too small must get ERANGE (and then asks the size).
  override _op_getxattr(signal: Cb, path: string, name: string, valueBuf: Buffer, position: number): void {
    this.ops.getxattr!(path, name, position, (err: number, value?: Buffer) => {
      if (err) return signal(err, valueBuf.buffer);
      if (!value) return signal(-ERRNO.ENODATA!, valueBuf.buffer);
      if (valueBuf.length === 0) return signal(value.length, valueBuf.buffer);
      if (value.length > valueBuf.length) return signal(-ERRNO.ERANGE!, valueBuf.buffer);
      value.copy(valueBuf);
      return signal(value.length, valueBuf.buffer);
    });
  }

  override _op_listxattr(signal: Cb, path: string, listBuf: Buffer): void {
    this.ops.listxattr!(path, (err: number, list?: string[]) => {
      if (err || !list) return signal(err, listBuf.buffer);
      const names = Buffer.from(list.map((n) => `${n}\0`).join(''));
      if (listBuf.length === 0) return signal(names.length, listBuf.buffer);
      if (names.length > listBuf.length) return signal(-ERRNO.ERANGE!, listBuf.buffer);
      names.copy(listBuf);
      return signal(names.length, listBuf.buffer);
    });
  }
}

type Cb = (...args: any[]) => void;

/** The caller fuse-native passed after an op's own arguments (uid, gid, pid), if it did. */
function callerOf(args: number[]): Caller | undefined {
  const [uid, gid] = args;
  return typeof uid === 'number' && typeof gid === 'number' ? { uid, gid } : undefined;
}

const ERRNO = os.constants.errno as Record<string, number>;

export interface MountInit {
  mountPoint: string;
  fs: SwarmFs;
  /** Where a line about each EIO or ENOSPC answer goes (the mount's log). */
  report?: (line: string) => void;
  /** Where each FUSE request's latency and outcome are counted (the mount's metrics), if anywhere. */
  opMetrics?: FuseOpMetrics;
}

/** The mounts in /proc/mounts at a path (there may be a stale one from a killed process). */
export async function isMounted(mountPoint: string): Promise<boolean> {
  const target = path.resolve(mountPoint);
  const mounts = await readFile('/proc/mounts', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[1]?.replace(/\\040/g, ' ') === target);
}

/** Checks a mount point the way a user needs to hear about it: exists, is a directory, is empty, is not mounted. */
export async function checkMountPoint(mountPoint: string): Promise<void> {
  const err = await stat(mountPoint).then(() => null, (e: NodeJS.ErrnoException) => e);
  // A mount whose process died answers ENOTCONN (ECONNABORTED to a request caught in flight by its death, or after
  // an abort through /sys/fs/fuse/connections): it is there, and only umount clears it.
  if (err?.code === 'ENOTCONN' || err?.code === 'ECONNABORTED') throw new CellError('BAD_CONFIG', `${mountPoint} is a mount whose process is gone: cellsync umount ${mountPoint} first`);
  if (err) throw new CellError('BAD_CONFIG', `mount point ${mountPoint} does not exist (create it with mkdir)`);
  const st = await stat(mountPoint);
  if (!st.isDirectory()) throw new CellError('BAD_CONFIG', `mount point ${mountPoint} is not a directory`);
  if (await isMounted(mountPoint)) throw new CellError('BAD_CONFIG', `${mountPoint} is already mounted (cellsync umount ${mountPoint})`);
  if ((await readdir(mountPoint)).length > 0) throw new CellError('BAD_CONFIG', `mount point ${mountPoint} is not empty`);
}

/** This process's mounts show this as their source (df's "Filesystem"). */
const MOUNT_SOURCE = `cellsync:${process.pid}`;

/** The topmost mount at a path, from /proc/self/mountinfo: its device ("0:NN") and source. */
async function mountEntry(target: string): Promise<{ device: string; source: string } | null> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const fields = info
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[4]?.replace(/\\040/g, ' ') === target)
    .pop();
  if (!fields) return null;
  // After the optional fields: "-", the file system type, then the source.
  const dash = fields.indexOf('-');
  return { device: fields[2]!, source: fields[dash + 2] ?? '' };
}

/**
 * How far the kernel reads ahead of a sequential reader of the mount. Its
 * default for a FUSE mount is 128 KiB: one 128 KiB request (max_read) at a
 * time, each a round trip through libfuse and the event loop. At 512 KiB a
 * reader's requests overlap; more was slower again
 * (docs/decisions/0006-kernel-read-ahead-512kib.md).
 */
export const READ_AHEAD_KIB = 512;

/**
 * Sets the read-ahead of the FUSE mount at `mountPoint` (its bdi, named by
 * its device in /proc/self/mountinfo). Only root may: anyone else keeps
 * the kernel's default, which is slower but correct.
 */
export async function setReadAhead(mountPoint: string): Promise<void> {
  const device = (await mountEntry(path.resolve(mountPoint)))?.device;
  if (!device) return;
  await writeFile(`/sys/class/bdi/${device}/read_ahead_kb`, `${READ_AHEAD_KIB}\n`).catch((err: Error) => log('read-ahead left at the kernel default: %s', err.message));
}

/** A mounted swarm: unmount() writes back open files and detaches. */
export class Mount {
  private constructor(
    private readonly fuse: Fuse,
    readonly mountPoint: string,
    private readonly fs: SwarmFs,
  ) {}

  /** False once this mount is gone, whoever unmounted it (even if another process has mounted there since). */
  async isMounted(): Promise<boolean> {
    return (await mountEntry(this.mountPoint))?.source === MOUNT_SOURCE;
  }

  /** Writes back what is still buffered (open files, batched record copies): after an unmount done elsewhere. */
  async flushAll(): Promise<void> {
    await this.fs.closeAll();
  }

  static async mount(init: MountInit): Promise<Mount> {
    const mountPoint = path.resolve(init.mountPoint);
    await checkMountPoint(mountPoint);
    const fuse = new TunedFuse(mountPoint, fuseOps(init.fs, init.report, init.opMetrics), {
      force: false,
      mkdir: false,
      defaultPermissions: true,
      allowOther: process.getuid?.() === 0,
      // Answer well before the kernel gives up; a write-back that has to fail over may take seconds.
      timeout: 60_000,
    });
    await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(new CellError('BAD_CONFIG', `mount failed: ${err.message}`)) : resolve())));
    log('mounted on %s', mountPoint);
    await setReadAhead(mountPoint);
    return new Mount(fuse, mountPoint, init.fs);
  }

  /**
   * Unmounts; a busy mount point is reported (BUSY), not forced, unless lazy.
   * Once the kernel lets go, no handle is open; anything left is written back.
   */
  async unmount(opts: { lazy?: boolean } = {}): Promise<void> {
    await unmountPath(this.mountPoint, opts);
    await this.fs.closeAll();
    // fuse-native's own close runs `fusermount -uz` (already done: it fails harmlessly) and frees its thread.
    await new Promise<void>((resolve) => this.fuse.unmount(() => resolve()));
  }
}

/**
 * Unmounts a path, whoever mounted it: works on a mount whose process was
 * killed. Busy mounts fail with a clear message unless lazy.
 */
export async function unmountPath(mountPoint: string, opts: { lazy?: boolean } = {}): Promise<void> {
  const target = path.resolve(mountPoint);
  if (!(await isMounted(target))) throw new CellError('BAD_CONFIG', `${target} is not mounted`);
  const source = (await mountEntry(target))?.source ?? '';
  if (!source.startsWith('cellsync:')) throw new CellError('BAD_CONFIG', `${target} is not a CellSync mount (${source || 'unknown source'}): use umount`);
  try {
    await run('fusermount', opts.lazy ? ['-u', '-z', target] : ['-u', target]);
  } catch (err) {
    const msg = String((err as { stderr?: string }).stderr ?? (err as Error).message);
    if (/busy/i.test(msg)) throw new CellError('BUSY', `${target} is busy: a process is using it (close it, or unmount with --lazy)`);
    // A connection that no longer answers: abort it, then detach.
    await abortConnection(target);
    await run('umount', ['-l', target]).catch(() => undefined);
    if (await isMounted(target)) throw new CellError('BAD_CONFIG', `could not unmount ${target}: ${msg.trim()}`);
  }
}

/** Aborts the FUSE connection of one mount (found through /proc/self/mountinfo), never anyone else's. */
async function abortConnection(target: string): Promise<void> {
  const minor = (await mountEntry(target))?.device.split(':')[1];
  if (!minor) return;
  const conn = `/sys/fs/fuse/connections/${minor}`;
  const present = await stat(conn).catch(() => null);
  if (!present) await run('mount', ['-t', 'fusectl', 'none', '/sys/fs/fuse/connections']).catch(() => undefined);
  await run('sh', ['-c', `echo 1 > ${conn}/abort`]).catch(() => undefined);
}
