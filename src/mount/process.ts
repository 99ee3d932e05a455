import { GC_GRACE_DEFAULT_MS, collectGarbage, type SwarmClient } from '../client/index.js';
import { systemClock, type Clock } from '../core/index.js';
import { MetricsServer, type MetricsAddr } from '../metrics/index.js';
import { SwarmFs, type FsOptions } from './fs/index.js';
import { mountRegistry } from './metrics.js';
import { Mount } from './mount.js';
import { FuseOpMetrics } from './op-metrics.js';
import { rateLimited, whyOf } from './ops.js';

/** How often the mount process checks that it is still mounted (someone may have run umount). */
const MOUNTED_CHECK_MS = 1_000;
/** After finishing, the process is ended this long after (fuse-native's native thread can keep it alive). */
const EXIT_GRACE_MS = 200;

/** What a mount started in the background tells its daemonizing parent once it serves. */
export interface MountReady {
  ready: true;
  mountPoint: string;
  pid: number;
  /** Where its metrics are served (http://host:port/metrics), when it was given --metrics. */
  metrics?: string;
}

export interface MountProcessComponents {
  /** The mount's way to the swarm; the mount process closes it when it ends (or fails to start). */
  client: SwarmClient;
  /** Where lines for the mount's log go: EIO and ENOSPC answers, garbage collections. */
  report: (line: string) => void;
  clock?: Clock;
}

export interface MountProcessInit {
  /** The swarm's home, as the user named it (for what is printed). */
  home: string;
  /** Absolute path of the mount point. */
  mountPoint: string;
  fs: FsOptions;
  /** How often the mount collects garbage (ms); 0: never. */
  gcEveryMs: number;
  /** Where to serve Prometheus metrics over HTTP (`--metrics`); none when absent. */
  metrics?: MetricsAddr;
}

/**
 * The mount process: builds the file system on the client, mounts it, and
 * serves until unmounted (a signal here, or umount elsewhere). SIGUSR2
 * empties its caches. Tells a daemonizing parent (IPC) once it serves.
 */
export async function runMount(components: MountProcessComponents, init: MountProcessInit): Promise<void> {
  const { client, report } = components;
  const clock = components.clock ?? systemClock;
  const { home, mountPoint } = init;
  const fs = new SwarmFs({ swarm: client, clock }, init.fs);
  const opMetrics = init.metrics ? new FuseOpMetrics() : undefined;
  let mount: Mount;
  let metrics: MetricsServer | null = null;
  try {
    await fs.init();
    // Before mounting: a port that is taken fails the mount before anything is mounted.
    if (init.metrics) metrics = await MetricsServer.start(init.metrics, mountRegistry({ ops: opMetrics!, cache: () => fs.cacheStats(), wire: () => client.endpoint.counters }));
    mount = await Mount.mount({ mountPoint, fs, report, opMetrics });
  } catch (err) {
    await metrics?.stop();
    await client.close();
    throw err;
  }
  // Once it serves: a failure to start still ends the process, and says why.
  survivesStrayErrors(report);
  console.log(`mounted ${home} on ${mountPoint} (${process.send ? `cellsync umount ${mountPoint}` : 'Ctrl-C'} to unmount)`);
  if (metrics) console.log(`metrics on ${metrics.url}`);
  if (process.send) {
    process.send({ ready: true, mountPoint, pid: process.pid, ...(metrics ? { metrics: metrics.url } : {}) } satisfies MountReady);
    process.disconnect();
  }
  process.on('SIGUSR2', () => {
    fs.dropCaches();
    console.log(`SIGUSR2: caches of ${mountPoint} dropped`);
  });
  const stopGc = init.gcEveryMs > 0 ? collectEvery(client, clock, init.gcEveryMs, report) : () => undefined;
  // Unmounted: no more periodic work, and the metrics endpoint closes (with its connections).
  await serveUntilUnmounted(mount, client, async () => {
    stopGc();
    await metrics?.stop();
  });
}

/** Serves until unmounted: by a signal here (busy is reported, a second signal detaches lazily) or by umount elsewhere. */
function serveUntilUnmounted(mount: Mount, client: SwarmClient, stopPeriodic: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let finishing = false;
    const finish = async (code: number) => {
      if (finishing) return;
      finishing = true;
      clearInterval(watch);
      await stopPeriodic();
      await mount.flushAll().catch(() => undefined);
      await client.close().catch(() => undefined);
      process.exitCode = code;
      resolve();
      // fuse-native's native thread can keep the loop alive after an external unmount.
      setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
    };
    // A real timer, not unref'd: while mounted, this is what keeps the process alive.
    const watch = setInterval(async () => {
      if (!finishing && !(await mount.isMounted())) {
        console.log(`${mount.mountPoint} was unmounted`);
        await finish(0);
      }
    }, MOUNTED_CHECK_MS);
    let signals = 0;
    const onSignal = async (sig: NodeJS.Signals) => {
      signals++;
      try {
        await mount.unmount({ lazy: signals > 1 });
        console.log(`${sig}: unmounted ${mount.mountPoint}`);
        await finish(0);
      } catch (err) {
        console.error(`cellsync: ${(err as Error).message}; press Ctrl-C again to detach lazily`);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/**
 * The mount runs garbage collection now and then (as `cellsync gc`, with the
 * default grace), so that deleted and overwritten files free their space
 * without a cron job. Several mounts of one swarm may each run it: two
 * collections at once remove the same unused copies. A collection that
 * cannot run (a cell down) says why in the log and waits for the next time.
 */
function collectEvery(client: SwarmClient, clock: Clock, everyMs: number, log: (line: string) => void): () => void {
  let running = false;
  const timer = clock.setInterval(async () => {
    if (running) return;
    running = true;
    try {
      const r = await collectGarbage(client, { graceMs: GC_GRACE_DEFAULT_MS });
      if (r.copiesRemoved > 0) log(`gc: removed ${r.copiesRemoved} copies of ${r.garbage} unused chunks, freeing ${(r.bytesFreed / 2 ** 20).toFixed(1)} MiB`);
    } catch (err) {
      log(`gc skipped: ${(err as Error).message}`);
    } finally {
      running = false;
    }
  }, everyMs);
  return () => timer.clear();
}

/**
 * One user's request must not end the mount for every user: an exception
 * or a rejection that nothing handled (a bug: requests answer EIO for what
 * they throw, see ops.ts) is a line in the mount's log, and the mount goes
 * on. Node's default would end the process, and every process using the
 * mount would get ENOTCONN until someone remounts.
 */
export function survivesStrayErrors(report: (line: string) => void): void {
  const limited = rateLimited(report);
  process.on('uncaughtException', (err, origin) => limited(`internal error (${origin}), the mount goes on: ${whyOf(err)}`));
  process.on('unhandledRejection', (reason) => limited(`internal error (unhandled rejection), the mount goes on: ${whyOf(reason)}`));
}
