import os from 'node:os';
import { FixedHistogram } from '../metrics/index.js';

/** The answers that mean the mount could not do what was asked (the mount's log says why), as opposed to an errno that is an answer (ENOENT, ENODATA, EEXIST, ...). */
const FAILURE_ERRNOS = [-os.constants.errno.EIO, -os.constants.errno.ENOSPC];

/** Every FUSE operation the mount serves (ops.ts): the one label set of its op metrics, fixed, so that series cannot grow. */
export const FUSE_OPS = [
  'getattr', 'fgetattr', 'readdir', 'mkdir', 'mknod', 'rmdir', 'create', 'open', 'read', 'write', 'flush', 'fsync', 'release', 'truncate',
  'ftruncate', 'unlink', 'rename', 'symlink', 'readlink', 'link', 'chmod', 'chown', 'utimens', 'statfs', 'setxattr', 'getxattr', 'listxattr', 'removexattr',
] as const;
export type FuseOpName = (typeof FUSE_OPS)[number];

/**
 * Latency buckets of FUSE operations (s): from 50 µs, an answer from memory
 * (getattr, a cached read), through the milliseconds of a round trip to a
 * cell, to the seconds of a write-back that fails over; 17 buckets, about
 * 2.5x apart, as Prometheus' defaults are.
 */
export const FUSE_OP_SECONDS_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * What the mount counts of the FUSE requests it answers: each operation's
 * latency (a histogram by op, whose _count is the op count), its errors,
 * and the bytes read and written. Kept in typed arrays and plain numbers,
 * nothing allocated per request (fixed-histogram.ts); read when scraped.
 */
export class FuseOpMetrics {
  readonly latency = new FixedHistogram('cellsync_fuse_op_seconds', 'FUSE requests answered, by operation: time from the request to its answer, in seconds.', 'op', FUSE_OPS, FUSE_OP_SECONDS_BUCKETS);
  /** Requests answered with an errno, by op (the index in FUSE_OPS): ENOENT for a name that is not there counts. */
  readonly errors = new Float64Array(FUSE_OPS.length);
  /** Requests answered EIO or ENOSPC, by op: failures, each also a line in the mount's log. */
  readonly failures = new Float64Array(FUSE_OPS.length);
  bytesRead = 0;
  bytesWritten = 0;

  /** The op's index in FUSE_OPS (looked up once, when the op table is built); -1 for an op not in the list. */
  indexOf(name: string): number {
    return (FUSE_OPS as readonly string[]).indexOf(name);
  }

  /** An op answered with `errno` (0, or a negative errno): `startedMs` is performance.now() when it came. */
  answered(index: number, startedMs: number, errno: number): void {
    if (index < 0) return;
    this.latency.observe(index, (performance.now() - startedMs) / 1000);
    if (errno < 0) {
      this.errors[index]!++;
      if (errno === FAILURE_ERRNOS[0] || errno === FAILURE_ERRNOS[1]) this.failures[index]!++;
    }
  }

  /** Ops of this kind answered so far. */
  count(op: FuseOpName): number {
    return this.latency.count(FUSE_OPS.indexOf(op));
  }
}
