import { Option, type Command } from 'commander';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { CellError, defaultConfig, isCellError } from '../../core/index.js';
import { checkMountPoint, defaultFsOptions, runMount, unmountPath, type MountReady } from '../../mount/index.js';
import { daemonLog, spawnDaemon } from '../daemon.js';
import { loadKey, openSwarmClient } from '../home.js';
import { describeHolders, mountHolders } from '../mount-holders.js';
import { metricsAddrFrom, metricsAllowRemoteOption, metricsOption, metricsArgs, type MetricsOptions } from '../metrics-options.js';
import { chunkSizeOption, homeOption, parseBytes, parseDuration, parseIntArg, resolveHome } from '../options.js';

interface MountOptions extends MetricsOptions {
  home: string;
  daemon?: boolean;
  replicas: number;
  writeQuorum: number;
  cacheSize: number;
  chunkSize: number;
  gcEvery: number;
}

/** How often a mount collects garbage unless told otherwise. */
const GC_EVERY_DEFAULT_MS = 3_600_000;

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
    .addOption(new Option('--cache-size <bytes>', 'verified chunks kept in memory for reads').argParser(parseBytes).default(defaultFsOptions(d).cacheBytesMax, '64M'))
    .addOption(
      new Option('--gc-every <duration>', 'run cellsync gc (1 h grace) this often, so that deleted files free their space; 0 = never (then run it from cron)')
        .argParser(parseDuration)
        .default(GC_EVERY_DEFAULT_MS, '1h'),
    )
    .addOption(metricsOption("the mount's"))
    .addOption(metricsAllowRemoteOption())
    .action(async (dir: string, opts: MountOptions) => {
      const home = resolveHome(opts);
      const metrics = metricsAddrFrom(opts);
      const mountPoint = path.resolve(dir);
      await checkMountPoint(mountPoint);
      await loadKey(home); // a home without a key fails here, with a clear message, before anything is spawned
      if (opts.daemon) {
        await mkdir(path.join(home, 'mounts'), { recursive: true });
        const args = ['mount', mountPoint, '--home', home, '--replicas', String(opts.replicas), '--write-quorum', String(opts.writeQuorum), '--cache-size', String(opts.cacheSize), '--chunk-size', String(opts.chunkSize), '--gc-every', `${opts.gcEvery}ms`, ...metricsArgs(opts)];
        const ready = await spawnDaemon<MountReady>(args, mountLogPath(home, mountPoint), `mount of ${mountPoint}`);
        console.log(`mounted ${home} on ${mountPoint} (pid ${ready.pid}); cellsync umount ${mountPoint} to detach`);
        if (ready.metrics) console.log(`metrics on ${ready.metrics}`);
        return;
      }
      const { client } = await openSwarmClient(home, mountPoint);
      await runMount(
        { client, report: daemonLog(mountLogPath(home, mountPoint)) },
        {
          home,
          mountPoint,
          fs: { ...defaultFsOptions({ ...d, replicas: opts.replicas, writeQuorum: opts.writeQuorum, chunkBytes: opts.chunkSize }), cacheBytesMax: opts.cacheSize },
          gcEveryMs: opts.gcEvery,
          metrics,
        },
      );
    });

  program
    .command('umount')
    .alias('unmount')
    .description('unmount a CellSync mount (also one whose mount process was killed)')
    .argument('<dir>', 'the mount point')
    .option('--lazy', 'detach now even if busy; it goes away when no longer used')
    .action(async (dir: string, opts: { lazy?: boolean }) => {
      const mountPoint = path.resolve(dir);
      await unmountPath(mountPoint, { lazy: opts.lazy }).catch(async (err: unknown) => {
        if (!isCellError(err, 'BUSY')) throw err;
        // Which processes hold it, so the user knows what to close.
        const holders = await mountHolders(mountPoint);
        if (holders.length === 0) throw err;
        throw new CellError('BUSY', `${mountPoint} is busy: used by ${describeHolders(holders)}; close those (or leave the directory), or unmount with --lazy`);
      });
      console.log(`unmounted ${mountPoint}`);
    });
}

/** A daemon mount's log: under the home, named by its mount point. */
function mountLogPath(home: string, mountPoint: string): string {
  return path.join(home, 'mounts', `${createHash('sha256').update(mountPoint).digest('hex').slice(0, 12)}.log`);
}
