import { Option, type Command } from 'commander';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { GC_GRACE_DEFAULT_MS, collectGarbage, type SwarmClient } from '../../client/index.js';
import { defaultConfig, systemClock } from '../../core/index.js';
import { Mount, SwarmFs, checkMountPoint, defaultFsOptions, unmountPath } from '../../mount/index.js';
import { daemonLog, spawnDaemon } from '../daemon.js';
import { loadKey, openSwarmClient } from '../home.js';
import { chunkSizeOption, homeOption, parseBytes, parseDuration, parseIntArg, resolveHome } from '../options.js';

interface MountOptions {
  home: string;
  daemon?: boolean;
  replicas: number;
  writeQuorum: number;
  cacheSize: number;
  chunkSize: number;
  gcEvery: number;
}

interface MountReady {
  ready: true;
  mountPoint: string;
  pid: number;
}

/** How often a mount collects garbage unless told otherwise. */
const GC_EVERY_DEFAULT_MS = 3_600_000;

/** How often the mount process checks that it is still mounted (someone may have run umount). */
const MOUNTED_CHECK_MS = 1_000;

export function registerMount(program: Command): void {
  const d = defaultConfig().placement;
  program
    .command('mount')
    .description('mount the swarm as a directory (foreground; Ctrl-C unmounts)')
    .addHelpText(
      'after',
      '\nSignals to the mount process (its pid is in the mount table as cellsync:<pid>):\n' +
        '  SIGINT, SIGTERM  unmount (a busy mount stays; a second signal detaches it lazily)\n' +
        "  SIGUSR2          empty the mount's caches (verified chunks, attributes, leaf hashes), as\n" +
        "                   `echo 3 > /proc/sys/vm/drop_caches` does the kernel's; open files stay open",
    )
    .argument('<dir>', 'an existing, empty directory')
    .addOption(homeOption())
    .option('--daemon', 'run in the background (log in <home>/mounts/)')
    .addOption(new Option('--replicas <n>', 'copies of each chunk and record written through this mount (R)').argParser(parseIntArg(1, 16)).default(d.replicas))
    .addOption(new Option('--write-quorum <n>', 'chunk copies acknowledged before a write returns (W)').argParser(parseIntArg(1, 16)).default(d.writeQuorum))
    .addOption(chunkSizeOption('chunk size of files created through this mount, 4K..4M (smaller: less to rewrite per small random write, slower sequential writes)'))
    .addOption(new Option('--cache-size <bytes>', 'verified chunks kept in memory for reads').argParser(parseBytes).default(defaultFsOptions(d).cacheBytesMax, '256M'))
    .addOption(
      new Option('--gc-every <duration>', 'run cellsync gc (1 h grace) this often, so that deleted files free their space; 0 = never (then run it from cron)')
        .argParser(parseDuration)
        .default(GC_EVERY_DEFAULT_MS, '1h'),
    )
    .action(async (dir: string, opts: MountOptions) => {
      const home = resolveHome(opts);
      const mountPoint = path.resolve(dir);
      await checkMountPoint(mountPoint);
      await loadKey(home); // a home without a key fails here, with a clear message, before anything is spawned
      if (opts.daemon) {
        await mkdir(path.join(home, 'mounts'), { recursive: true });
        const args = ['mount', mountPoint, '--home', home, '--replicas', String(opts.replicas), '--write-quorum', String(opts.writeQuorum), '--cache-size', String(opts.cacheSize), '--chunk-size', String(opts.chunkSize), '--gc-every', `${opts.gcEvery}ms`];
        const ready = await spawnDaemon<MountReady>(args, mountLogPath(home, mountPoint), `mount of ${mountPoint}`);
        console.log(`mounted ${home} on ${mountPoint} (pid ${ready.pid}); cellsync umount ${mountPoint} to detach`);
        return;
      }
      const { client } = await openSwarmClient(home, mountPoint);
      const fs = new SwarmFs({ swarm: client, clock: systemClock }, { ...defaultFsOptions({ ...d, replicas: opts.replicas, writeQuorum: opts.writeQuorum, chunkBytes: opts.chunkSize }), cacheBytesMax: opts.cacheSize });
      let mount: Mount;
      try {
        await fs.init();
        mount = await Mount.mount({ mountPoint, fs, report: daemonLog(mountLogPath(home, mountPoint)) });
      } catch (err) {
        await client.close();
        throw err;
      }
      console.log(`mounted ${home} on ${mountPoint} (${process.send ? `cellsync umount ${mountPoint}` : 'Ctrl-C'} to unmount)`);
      if (process.send) {
        process.send({ ready: true, mountPoint, pid: process.pid } satisfies MountReady);
        process.disconnect();
      }
      process.on('SIGUSR2', () => {
        fs.dropCaches();
        console.log(`SIGUSR2: caches of ${mountPoint} dropped`);
      });
      const stopGc = opts.gcEvery > 0 ? collectEvery(client, opts.gcEvery, daemonLog(mountLogPath(home, mountPoint))) : () => undefined;
      await serveUntilUnmounted(mount, client, stopGc);
    });

  program
    .command('umount')
    .alias('unmount')
    .description('unmount a CellSync mount (also one whose mount process was killed)')
    .argument('<dir>', 'the mount point')
    .option('--lazy', 'detach now even if busy; it goes away when no longer used')
    .action(async (dir: string, opts: { lazy?: boolean }) => {
      const mountPoint = path.resolve(dir);
      await unmountPath(mountPoint, { lazy: opts.lazy });
      console.log(`unmounted ${mountPoint}`);
    });
}

/** Serves until unmounted: by a signal here (busy is reported, a second signal detaches lazily) or by umount elsewhere. */
function serveUntilUnmounted(mount: Mount, client: SwarmClient, stopGc: () => void): Promise<void> {
  return new Promise((resolve) => {
    let finishing = false;
    const finish = async (code: number) => {
      if (finishing) return;
      finishing = true;
      clearInterval(watch);
      stopGc();
      await mount.flushAll().catch(() => undefined);
      await client.close().catch(() => undefined);
      process.exitCode = code;
      resolve();
      // fuse-native's native thread can keep the loop alive after an external unmount.
      setTimeout(() => process.exit(code), 200).unref();
    };
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
function collectEvery(client: SwarmClient, everyMs: number, log: (line: string) => void): () => void {
  let running = false;
  const timer = setInterval(async () => {
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
  timer.unref();
  return () => clearInterval(timer);
}

/** A daemon mount's log: under the home, named by its mount point. */
function mountLogPath(home: string, mountPoint: string): string {
  return path.join(home, 'mounts', `${createHash('sha256').update(mountPoint).digest('hex').slice(0, 12)}.log`);
}
