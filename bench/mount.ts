/**
 * bench:mount — one run, three targets side by side: a local directory, a
 * minimal passthrough FUSE file system in Node (the ceiling for any Node FUSE
 * file system), and CellSync (R=3 on 5 local cells). Sequential write and
 * read (caches dropped before reads, and CellSync remounted so that its chunk
 * cache is cold too), small files created and listed, random 4 KiB reads and
 * writes. Ratios are to the passthrough.
 *
 * The targets run in turn, BENCH_ROUNDS times (default 2), and each figure is
 * the mean of its rounds: this VM's speed drifts by tens of percent within
 * minutes, and a target measured only after the others would carry that
 * drift into its ratio.
 *
 * Every target first runs the workloads once untimed, smaller (a 64 MiB
 * file): the measured processes then run compiled code, as long-running
 * daemons do. Fresh cells took ~2,000 record writes to reach their speed
 * (creates went from ~300 to ~450 a second). BENCH_WARMUP=0 measures cold
 * processes instead.
 *
 * Directories: cold `ls -l` of the small files (caches dropped), `rm -rf` of
 * them, and a tree of BENCH_TREE_DIRS x BENCH_TREE_FILES small files (200 x
 * 100) walked cold by `find` + `stat` and by `du -s`. Writes in place:
 * buffered random 4 KiB writes with one fsync, and fio-style random 4 KiB
 * writes, QD1, O_DIRECT, into a BENCH_DIRECT_MIB file (256 MiB). Rates and
 * times both print as ratios where > 1 is CellSync faster. At the end, each
 * FUSE process's peak RSS (VmHWM).
 *
 * A quick run (a few minutes): BENCH_SEQ_MIB=64 BENCH_FILES=500
 * BENCH_RANDOM_OPS=500 BENCH_TREE_DIRS=20 BENCH_TREE_FILES=50
 * BENCH_DIRECT_MIB=64 BENCH_ROUNDS=1 BENCH_WARMUP=0.
 *
 * Before reads, the kernel's caches are dropped and CellSync's mount empties
 * its own (SIGUSR2: chunks, attributes, leaf hashes), as a running mount;
 * until session 10 it was remounted, and the reads measured a fresh process
 * (random reads at 0.49 of the passthrough then, 0.67 with SIGUSR2).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI, ROOT, run } from './run.js';

const SEQ_MIB = Number(process.env.BENCH_SEQ_MIB ?? 512);
const FILES = Number(process.env.BENCH_FILES ?? 2000);
const RANDOM_OPS = Number(process.env.BENCH_RANDOM_OPS ?? 1000);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));
const WARMUP = process.env.BENCH_WARMUP !== '0';
/** More options for CellSync's mount, e.g. BENCH_MOUNT_ARGS='--metrics 127.0.0.1:0' to measure it with its FUSE op metrics on. */
const MOUNT_ARGS = (process.env.BENCH_MOUNT_ARGS ?? '').split(' ').filter(Boolean);
const TREE_DIRS = Number(process.env.BENCH_TREE_DIRS ?? 200);
const TREE_FILES = Number(process.env.BENCH_TREE_FILES ?? 100);
const DIRECT_MIB = Number(process.env.BENCH_DIRECT_MIB ?? 256);
const WARMUP_SEQ_MIB = 64;
/** The warm-up's tree and O_DIRECT file: enough to compile the paths, small enough to cost seconds. */
const WARMUP_SIZES = { tree_dirs: 10, tree_files: 20, direct_mib: 64 };

interface Figures {
  seqWriteMBs: number;
  seqReadMBs: number;
  createFilesPerSec: number;
  randReadIops: number;
  randWriteIops: number;
  lsLongSec: number;
  rmRfSec: number;
  directWriteIops: number;
  findStatSec: number;
  duSec: number;
}

/** A row of the table: a figure where more is better (a rate) or less is (seconds). */
interface Row {
  key: keyof Figures;
  label: string;
  /** The issue's target for CellSync/passthrough (> 1 is CellSync faster), or null for none. */
  target: number | null;
  isSeconds: boolean;
}


/** Runs fsbench.py on a directory; `dropCmd` empties the file system's own caches where the kernel's are dropped. */
async function workload(dir: string, seqMiB: number, dropCmd: string | undefined, sizes = { tree_dirs: TREE_DIRS, tree_files: TREE_FILES, direct_mib: DIRECT_MIB }): Promise<Figures> {
  const args = [path.join(ROOT, 'bench', 'fsbench.py'), dir, String(seqMiB), String(FILES), String(RANDOM_OPS)];
  const env: Record<string, string> = {
    FSBENCH_TREE_DIRS: String(sizes.tree_dirs),
    FSBENCH_TREE_FILES: String(sizes.tree_files),
    FSBENCH_DIRECT_MIB: String(sizes.direct_mib),
  };
  if (dropCmd) env.FSBENCH_DROP_CMD = dropCmd;
  return JSON.parse(await run('python3', args, env)) as Figures;
}

/** Peak resident set of a process in MB (VmHWM), or null when it is gone. */
async function peakRssMB(pid: number | string): Promise<number | null> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return kb ? Number(kb) / 1024 : null;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cellsync-bench-mount-'));
  const local = path.join(dir, 'local');
  const backing = path.join(dir, 'backing');
  const pmnt = path.join(dir, 'passthrough');
  const cmnt = path.join(dir, 'cellsync');
  const home = path.join(dir, 'home');
  await Promise.all([local, backing, pmnt, cmnt].map((d) => mkdir(d)));
  const passthrough = spawn(process.execPath, [path.join(ROOT, 'dist', 'bench', 'passthrough.js'), backing, pmnt], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      passthrough.stdout.once('data', () => resolve());
      passthrough.once('exit', () => reject(new Error('passthrough mount failed')));
    });
    await run(CLI, ['swarm', 'up', '--home', home, '--cells', '5', '--base-port', '0']);
    const mounted = await run(CLI, ['mount', '--home', home, cmnt, '--daemon', ...MOUNT_ARGS]);
    const pid = /\(pid (\d+)\)/.exec(mounted)?.[1];
    if (!pid) throw new Error(`no pid in: ${mounted}`);

    // Reads must come from the cells, not from the chunk cache the mount filled while writing.
    const dropCaches = `kill -USR2 ${pid} && sleep 0.2`;
    const targets = [
      ['local disk', local, undefined],
      ['passthrough (Node FUSE)', pmnt, undefined],
      ['CellSync (R=3, 5 cells)', cmnt, dropCaches],
    ] as const;
    if (WARMUP) {
      for (const [name, target, dropCmd] of targets) {
        process.stderr.write(`bench:mount: warming up: ${name}...\n`);
        await mkdir(path.join(target, 'warmup'));
        await workload(path.join(target, 'warmup'), WARMUP_SEQ_MIB, dropCmd, WARMUP_SIZES);
      }
    }
    const rounds: Figures[][] = targets.map(() => []);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [i, [name, target, dropCmd]] of targets.entries()) {
        process.stderr.write(`bench:mount: round ${round} of ${ROUNDS}: ${name}...\n`);
        // Each round in a directory of its own: removing the last round's files would make ext4 (without a
        // journal, as here) scan past the freed inodes at every creation of the next round, for some targets only.
        const dir = path.join(target, `round-${round}`);
        await mkdir(dir);
        rounds[i]!.push(await workload(dir, SEQ_MIB, dropCmd));
      }
    }
    const mean = (figs: Figures[]): Figures => {
      const out = { ...figs[0]! };
      for (const k of Object.keys(out) as (keyof Figures)[]) out[k] = figs.reduce((sum, f) => sum + f[k], 0) / figs.length;
      return out;
    };
    const results: [string, Figures][] = targets.map(([name], i) => [name, mean(rounds[i]!)]);
    const base = results[1]![1];
    const treeFiles = TREE_DIRS * TREE_FILES;
    const rows: Row[] = [
      { key: 'seqWriteMBs', label: 'sequential write MB/s', target: 0.5, isSeconds: false },
      { key: 'seqReadMBs', label: 'sequential read MB/s', target: 0.8, isSeconds: false },
      { key: 'createFilesPerSec', label: `${FILES} files created+listed, files/s`, target: 0.55, isSeconds: false },
      { key: 'randReadIops', label: 'random 4 KiB read IOPS', target: 0.8, isSeconds: false },
      { key: 'randWriteIops', label: 'random 4 KiB writes + fsync, IOPS', target: 0.5, isSeconds: false },
      { key: 'directWriteIops', label: `O_DIRECT 4 KiB writes QD1 (${DIRECT_MIB} MiB), IOPS`, target: 0.75, isSeconds: false },
      { key: 'lsLongSec', label: `ls -l of ${FILES} files, cold, s`, target: 0.9, isSeconds: true },
      { key: 'rmRfSec', label: `rm -rf of ${FILES} files, s`, target: 1.0, isSeconds: true },
      { key: 'findStatSec', label: `find + stat of ${treeFiles} files, cold, s`, target: 0.8, isSeconds: true },
      { key: 'duSec', label: `du -s of ${treeFiles} files, cold, s`, target: null, isSeconds: true },
    ];
    // A ratio > 1 is CellSync faster, for rates and for times alike.
    const ratioOf = (row: Row, cellsync: Figures, passthrough: Figures): number =>
      row.isSeconds ? passthrough[row.key] / cellsync[row.key] : cellsync[row.key] / passthrough[row.key];
    console.log(
      `bench:mount  ${SEQ_MIB} MiB sequential, ${FILES} small files, ${RANDOM_OPS} random 4 KiB ops, a tree of ${TREE_DIRS} x ${TREE_FILES} files; ` +
        `means of ${ROUNDS} alternating round(s)${WARMUP ? ', after a warm-up' : ', cold processes'}`,
    );
    console.log(`${'workload'.padEnd(44)}${results.map(([n]) => n.padStart(26)).join('')}   CellSync/passthrough (target)`);
    for (const row of rows) {
      const vals = results.map(([, f]) => f[row.key].toFixed(row.isSeconds ? 2 : 1).padStart(26)).join('');
      const ratio = ratioOf(row, results[2]![1], base);
      const byRound = ROUNDS > 1 ? `   rounds: ${rounds[2]!.map((f, r) => ratioOf(row, f, rounds[1]![r]!).toFixed(2)).join(', ')}` : '';
      console.log(`${row.label.padEnd(44)}${vals}   ${ratio.toFixed(2)}${row.target === null ? '' : ` (>= ${row.target})`}${byRound}`);
    }
    const rss = async (p: number | string | undefined): Promise<string> => {
      const mb = p === undefined ? null : await peakRssMB(p);
      return mb === null ? '?' : `${mb.toFixed(0)} MB`;
    };
    console.log(`peak RSS (VmHWM): CellSync mount ${await rss(pid)}, passthrough ${await rss(passthrough.pid)}`);
  } finally {
    await run(CLI, ['umount', cmnt]).catch(() => run(CLI, ['umount', '--lazy', cmnt]).catch(() => undefined));
    await run(CLI, ['swarm', 'down', '--home', home]).catch(() => undefined);
    passthrough.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    if ((await readFile('/proc/mounts', 'utf8')).includes(` ${pmnt} `)) await run('fusermount', ['-u', '-z', pmnt]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench:mount failed: ${(err as Error).message}`);
  process.exit(1);
});
