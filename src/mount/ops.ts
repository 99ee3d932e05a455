import os from 'node:os';
import { inoNumberOf, typeBitsOf, type Caller, type FsStat, type SwarmFs } from './fs/index.js';
import type { Dirent } from '../namespace/index.js';
import { isCellError, logger } from '../core/index.js';
import { errnoOf } from './errno.js';
import type { FuseOpMetrics } from './op-metrics.js';

const log = logger('mount:ops');

type Callback = (code: number, ...values: unknown[]) => void;

function statOf(s: FsStat) {
  // st_ino in two halves: fuse-native as scripts/patch-fuse-native.sh rebuilds it takes inoHigh too; the prebuilt one 32 bits.
  const { low, high } = inoNumberOf(s.ino);
  return {
    ino: low,
    inoHigh: high,
    rdev: s.rdev,
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    size: s.size,
    nlink: s.nlink,
    blksize: 4096,
    // 512-byte units of whole 4 KiB blocks, as ext4 counts them; holes take none.
    blocks: Math.ceil(s.storedBytes / 4096) * 8,
    atime: new Date(s.atimeMs),
    mtime: new Date(s.mtimeMs),
    ctime: new Date(s.ctimeMs),
  };
}

/** What libfuse takes from a listed entry's stat: d_ino, and d_type from the mode's type bits. */
function direntStat(d: Dirent) {
  const { low, high } = inoNumberOf(d.ino);
  return { ino: low, inoHigh: high, mode: typeBitsOf(d.type) };
}

/**
 * fuse-native's op table over SwarmFs. Each handler starts an async call and
 * answers through the callback; nothing blocks the event loop. Errors become
 * negative errno values through the one table in errno.ts. No handler
 * throws: what a request throws, synchronously or not, and what answering
 * it throws (fuse-native converting a value), is answered with an errno
 * (EIO for a bug) and reported, as a throw on fuse-native's call would end
 * the mount for every user. With `metrics`, each answer is timed and
 * counted there (an index looked up once per op, no allocation per request).
 */
export function fuseOps(fs: SwarmFs, report: (line: string) => void = () => undefined, metrics?: FuseOpMetrics): Record<string, (...args: any[]) => void> {
  const m = metrics ?? null;
  const failures = failureReport(report);
  /** Answers the request with the errno of err (and reports EIO and ENOSPC); returns the errno. */
  const fail = (name: string, args: unknown[], err: unknown, cb: Callback): number => {
    const code = errnoOf(err, name);
    log('%s(%o) -> %d', name, args, code);
    failures(name, args[0], code, err);
    try {
      cb(code);
    } catch (again) {
      failures(name, args[0], code, again);
    }
    return code;
  };
  /** Answers through the callback; if answering throws (before fuse-native signalled), the request fails instead. */
  const answerWith = (name: string, args: unknown[], answer: (cb: Callback) => void, cb: Callback) => {
    try {
      answer(cb);
    } catch (err) {
      fail(name, args, err, cb);
    }
  };
  /** Wraps an async op: success answers (0, ...values) or the op's own return shape. */
  const op =
    <A extends unknown[]>(name: string, fn: (...args: A) => Promise<(cb: Callback) => void>) => {
      const index = m ? m.indexOf(name) : -1;
      return (...args: [...A, Callback]) => {
        const cb = args.pop() as Callback;
        const started = m || log.enabled ? performance.now() : 0;
        // Every fn is async: what it throws comes back as a rejection.
        fn(...(args as unknown as A)).then(
          (answer) => {
            if (log.enabled) log('%s %s %s ms', name, args[0], (performance.now() - started).toFixed(2));
            m?.answered(index, started, 0);
            answerWith(name, args, answer, cb);
          },
          (err: unknown) => {
            const code = fail(name, args, err, cb);
            m?.answered(index, started, code);
          },
        );
      };
    };
  const ok = (...values: unknown[]) => (cb: Callback) => cb(0, ...values);
  /**
   * An op answered at once from what the mount holds (`now`, a SwarmFs
   * ...Now method: undefined or null when it cannot), without a promise in
   * between; otherwise as `op`.
   */
  const nowOrLater =
    <A extends unknown[], V>(name: string, now: (...args: A) => V | null | undefined, answer: (v: V) => (cb: Callback) => void, asking: (...args: A) => Promise<V>) => {
      const slow = op(name, async (...args: A) => answer(await asking(...args)));
      const index = m ? m.indexOf(name) : -1;
      return (...args: [...A, Callback]) => {
        const cb = args[args.length - 1] as Callback;
        const started = m ? performance.now() : 0;
        let v: V | null | undefined;
        try {
          v = now(...(args.slice(0, -1) as unknown as A));
        } catch (err) {
          const code = fail(name, args.slice(0, -1), err, cb);
          m?.answered(index, started, code);
          return;
        }
        if (v === undefined || v === null) slow(...args);
        else {
          m?.answered(index, started, 0);
          answerWith(name, args.slice(0, -1), (c) => answer(v)(c), cb);
        }
      };
    };

  return {
    // What the mount holds is answered at once; the rest asks the swarm.
    getattr: nowOrLater('getattr', (path: string) => fs.getattrNow(path), (s: FsStat) => ok(statOf(s)), (path: string) => fs.getattr(path)),
    fgetattr: op('fgetattr', async (_path: string, fd: number) => ok(statOf(await fs.fgetattr(fd)))),
    readdir: op('readdir', async (path: string) => {
      const entries = await fs.readdirEntries(path);
      return ok(
        entries.map(([name]) => name),
        entries.map(([, d]) => direntStat(d)),
      );
    }),
    // `caller`: who asked, where fuse-native says (see mount.ts); undefined: the mount's user.
    mkdir: op('mkdir', async (path: string, mode: number, caller?: Caller) => ok(await fs.mkdir(path, mode, caller))),
    mknod: op('mknod', async (path: string, mode: number, rdev: number, caller?: Caller) => ok(await fs.mknod(path, mode, rdev, caller))),
    rmdir: op('rmdir', async (path: string) => ok(await fs.rmdir(path))),
    create: op('create', async (path: string, mode: number, caller?: Caller) => ok(await fs.create(path, mode, caller))),
    open: op('open', async (path: string, flags: number) => ok(await fs.open(path, flags))),
    // What is in memory is answered at once; the rest waits for its chunks.
    read: nowOrLater(
      'read',
      (_path: string, fd: number, buf: Buffer, len: number, pos: number) => fs.readNow(fd, buf, len, pos),
      (n: number) => {
        if (m) m.bytesRead += n;
        return (cb: Callback) => cb(n);
      },
      (_path: string, fd: number, buf: Buffer, len: number, pos: number) => fs.read(fd, buf, len, pos),
    ),
    write: op('write', async (_path: string, fd: number, buf: Buffer, len: number, pos: number) => {
      const n = await fs.write(fd, buf, len, pos);
      if (m) m.bytesWritten += n;
      return (cb: Callback) => cb(n);
    }),
    flush: op('flush', async (_path: string, fd: number) => ok(await fs.flush(fd))),
    fsync: op('fsync', async (_path: string, _datasync: number, fd: number) => ok(await fs.fsync(fd))),
    release: op('release', async (_path: string, fd: number) => ok(await fs.release(fd))),
    truncate: op('truncate', async (path: string, size: number) => ok(await fs.truncate(path, size))),
    ftruncate: op('ftruncate', async (_path: string, fd: number, size: number) => ok(await fs.ftruncate(fd, size))),
    unlink: op('unlink', async (path: string) => ok(await fs.unlink(path))),
    rename: op('rename', async (src: string, dest: string) => ok(await fs.rename(src, dest))),
    symlink: op('symlink', async (target: string, path: string, caller?: Caller) => ok(await fs.symlink(target, path, caller))),
    readlink: op('readlink', async (path: string) => ok(await fs.readlink(path))),
    link: op('link', async (src: string, dest: string) => ok(await fs.link(src, dest))),
    chmod: op('chmod', async (path: string, mode: number) => ok(await fs.chmod(path, mode))),
    chown: op('chown', async (path: string, uid: number, gid: number) => ok(await fs.chown(path, uid, gid))),
    utimens: op('utimens', async (path: string, atime: number | Date, mtime: number | Date) => {
      const now = Date.now();
      return ok(await fs.utimens(path, timeArg(atime, now), timeArg(mtime, now)));
    }),
    statfs: op('statfs', async () => {
      const s = await fs.statfs();
      return ok({
        bsize: s.blockBytes,
        frsize: s.blockBytes,
        blocks: s.blocks,
        bfree: s.blocksFree,
        bavail: s.blocksFree,
        files: s.files,
        ffree: s.filesFree,
        favail: s.filesFree,
        fsid: 0xce11,
        flag: 0,
        namemax: s.nameBytesMax,
      });
    }),
    setxattr: op('setxattr', async (path: string, name: string, value: Buffer, _position: number, flags: number) =>
      ok(await fs.setxattr(path, name, Buffer.from(value), flags)),
    ),
    getxattr: nowOrLater('getxattr', (path: string, name: string) => fs.getxattrNow(path, name), (v: Buffer) => ok(v), (path: string, name: string) => fs.getxattr(path, name)),
    listxattr: op('listxattr', async (path: string) => ok(await fs.listxattr(path))),
    removexattr: op('removexattr', async (path: string, name: string) => ok(await fs.removexattr(path, name))),
  };
}

/**
 * A utimens time from fuse-native as scripts/patch-fuse-native.sh rebuilds
 * it: ms since the epoch, or 2^53-1 for UTIME_OMIT (keep) and 2^53-2 for
 * UTIME_NOW. The prebuilt binary sends 1073 for both (0 s and their
 * nanosecond codes), taken as now. Null: keep the time as it is.
 */
export function timeArg(t: number | Date, now: number): number | null {
  const ms = +t;
  if (ms === 2 ** 53 - 1) return null;
  if (ms === 2 ** 53 - 2 || ms === 1073) return now;
  return ms;
}

/** Failures a user may want explained later, kept out of a log flooded by one bad moment. */
const REPORTED = new Map([
  [-os.constants.errno.EIO, 'EIO'],
  [-os.constants.errno.ENOSPC, 'ENOSPC'],
]);
const REPORTS_PER_MINUTE_MAX = 20;

/**
 * EIO and ENOSPC answers, each as one line (operation, path, and why) for the
 * mount's log: the program that got the error only saw the errno. A bug (not
 * a CellError) is told with where it was thrown.
 */
function failureReport(report: (line: string) => void): (op: string, path: unknown, code: number, err: unknown) => void {
  const limited = rateLimited(report);
  return (op, path, code, err) => {
    if (!REPORTED.has(code)) return;
    limited(`${op} ${typeof path === 'string' ? path : ''}: ${REPORTED.get(code)} (${whyOf(err)})`);
  };
}

/** An error as one line: a CellError's message; anything else (a bug) with the place it was thrown. */
export function whyOf(err: unknown): string {
  if (isCellError(err) || !(err instanceof Error)) return (err as Error)?.message ?? String(err);
  const at = err.stack?.split('\n').find((l) => l.trim().startsWith('at '));
  return `${err.name}: ${err.message}${at ? ` ${at.trim()}` : ''}`;
}

/**
 * The report at most REPORTS_PER_MINUTE_MAX lines a minute: one bad moment
 * does not flood the log; how many more there were is said after.
 */
export function rateLimited(report: (line: string) => void): (line: string) => void {
  let windowStartMs = 0;
  let inWindow = 0;
  let suppressed = 0;
  return (line) => {
    const now = Date.now();
    if (now - windowStartMs > 60_000) {
      if (suppressed > 0) report(`... and ${suppressed} more such lines in that minute`);
      windowStartMs = now;
      inWindow = 0;
      suppressed = 0;
    }
    if (++inWindow > REPORTS_PER_MINUTE_MAX) {
      suppressed++;
      return;
    }
    report(line);
  };
}
