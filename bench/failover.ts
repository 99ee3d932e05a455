/**
 * bench:failover — how long a read through a mount waits for a dead or a
 * hung replica. A mount using the network only (CELLSYNC_LOCAL=0) on 4
 * storage cells (R=3) holds a BENCH_FILE_MIB file; a reader process has the
 * mount drop its caches, opens, reads 4 KiB to BENCH_READ_KIB (128) at random and
 * closes, in a loop (bench/failover-reader.ts): every read reaches the cells. Three phases of
 * BENCH_PHASE_S seconds each: healthy; one cell SIGSTOPped (hung: no
 * answer, no ICMP), then SIGCONTed; another SIGKILLed (dead). The phases are
 * shorter than the failure detector's ~7 s, so reads must get around the
 * cell on their own. Prints the reads' median, p99 and longest per phase;
 * a read belongs to the phase it ended in.
 *
 * BENCH_BASELINE_ROOT=<dir of another build> runs the same first with that
 * build's CLI (cells and mount), for a before/after in one run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { ROOT, run } from './run.js';
import { connectSwarm } from '../src/connect/index.js';

const MiB = 1024 * 1024;
const FILE_MIB = Number(process.env.BENCH_FILE_MIB ?? 128);
/**
 * Largest read: one FUSE request (128 KiB). A larger one reaches the mount as several adjacent requests, which it takes for a
 * sequential reader and answers with whole chunks and 8 more read ahead: with caches dropped before each read, 36 MiB per read
 * (healthy reads of up to 1 MiB took over 1 s here).
 */
const READ_KIB = Number(process.env.BENCH_READ_KIB ?? 128);
const PHASE_MS = 1000 * Number(process.env.BENCH_PHASE_S ?? 5);
/** After SIGCONT, before the next phase: the hung cell catches up on what queued while it was stopped. */
const SETTLE_MS = 3_000;
const TARGET_MS = 500;

interface PhaseFigures {
  phase: string;
  reads: number;
  medianMs: number;
  p99Ms: number;
  longestMs: number;
}

/** What one build's run leaves to clean up, whatever happens. */
interface Running {
  home: string;
  mnt: string;
  cli: string;
  reader: ChildProcess | null;
  stopped: number | null;
  cellPids: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function cleanUp(r: Running): Promise<void> {
  // A stopped cell cannot die of SIGTERM, nor answer the swarm's going down: it goes on first.
  if (r.stopped !== null && alive(r.stopped)) process.kill(r.stopped, 'SIGCONT');
  r.stopped = null;
  if (r.reader && r.reader.exitCode === null) r.reader.kill('SIGKILL');
  await run(r.cli, ['umount', r.mnt]).catch(() => undefined);
  if ((await readFile('/proc/mounts', 'utf8')).includes(` ${r.mnt} `)) await run('fusermount', ['-u', '-z', r.mnt]).catch(() => undefined);
  await run(r.cli, ['swarm', 'down', '--home', r.home]).catch(() => undefined);
  for (const pid of r.cellPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
}

function figures(phase: string, samples: number[]): PhaseFigures {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { phase, reads: s.length, medianMs: at(0.5), p99Ms: at(0.99), longestMs: s[s.length - 1] ?? NaN };
}

/** One build: a swarm, a mount, the file, the reader through the three phases. */
async function measure(root: string, running: Running): Promise<PhaseFigures[]> {
  const cli = path.join(root, 'bin', 'cellsync');
  running.cli = cli;
  await mkdir(running.mnt);
  await run(cli, ['swarm', 'up', '--home', running.home, '--cells', '4', '--base-port', '0', '--role', 'storage']);
  const swarm = JSON.parse(await readFile(path.join(running.home, 'swarm.json'), 'utf8')) as { cells: { host: string; port: number }[] };
  const client = await connectSwarm({ swarmKey: await readFile(path.join(running.home, 'swarm.key')), seeds: swarm.cells.map((c) => `${c.host}:${c.port}`) });
  try {
    const mounted = await run(cli, ['mount', '--home', running.home, running.mnt, '--daemon'], { CELLSYNC_LOCAL: '0' });
    const mountPid = /\(pid (\d+)\)/.exec(mounted)?.[1];
    if (!mountPid) throw new Error(`no pid in: ${mounted}`);
    const file = path.join(running.mnt, 'big.bin');
    const fh = await open(file, 'w');
    for (let i = 0; i < FILE_MIB; i++) await fh.write(randomBytes(MiB));
    await fh.close();
    const members = (await client.members(true)).filter((m) => m.role === 'storage');
    running.cellPids = members.map((m) => m.pid);
    // Every copy of the file settled before the clock starts.
    await sleep(2_000);

    const ended: { atMs: number; ms: number }[] = [];
    const reader = spawn(process.execPath, [path.join(ROOT, 'dist', 'bench', 'failover-reader.js'), file, mountPid, String(READ_KIB * 1024)], { stdio: ['ignore', 'pipe', 'inherit'] });
    running.reader = reader;
    let partial = '';
    reader.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const l of lines) {
        const [at, ms] = l.split(' ').map(Number);
        ended.push({ atMs: at!, ms: ms! });
      }
    });
    const windows: { phase: string; fromMs: number; toMs: number }[] = [];
    const phase = async (name: string, start: () => void, end: () => void = () => undefined) => {
      const fromMs = Date.now();
      start();
      await sleep(PHASE_MS);
      windows.push({ phase: name, fromMs, toMs: Date.now() });
      end();
    };
    const [hung, dead] = [members[0]!, members[1]!];
    await sleep(1_000); // the reader under way
    await phase('healthy', () => undefined);
    await phase(
      'one replica hung (SIGSTOP)',
      () => {
        process.kill(hung.pid, 'SIGSTOP');
        running.stopped = hung.pid;
      },
      () => {
        process.kill(hung.pid, 'SIGCONT');
        running.stopped = null;
      },
    );
    await sleep(SETTLE_MS);
    await phase('one replica dead (SIGKILL)', () => process.kill(dead.pid, 'SIGKILL'));
    reader.kill('SIGTERM');
    await new Promise((r) => reader.once('exit', r));
    return windows.map((w) => figures(w.phase, ended.filter((e) => e.atMs >= w.fromMs && e.atMs < w.toMs).map((e) => e.ms)));
  } finally {
    await client.close();
  }
}

async function main(): Promise<void> {
  const builds: [string, string][] = [];
  if (process.env.BENCH_BASELINE_ROOT) builds.push(['before (baseline build)', path.resolve(process.env.BENCH_BASELINE_ROOT)]);
  builds.push(['this build', ROOT]);
  const results: [string, PhaseFigures[]][] = [];
  for (const [name, root] of builds) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cellsync-bench-failover-'));
    const running: Running = { home: path.join(dir, 'home'), mnt: path.join(dir, 'mnt'), cli: path.join(root, 'bin', 'cellsync'), reader: null, stopped: null, cellPids: [] };
    const onSignal = () => void cleanUp(running).finally(() => rm(dir, { recursive: true, force: true }).finally(() => process.exit(130)));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      process.stderr.write(`bench:failover: ${name}...\n`);
      results.push([name, await measure(root, running)]);
    } finally {
      await cleanUp(running);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await rm(dir, { recursive: true, force: true });
    }
  }
  const ms = (v: number) => `${v.toFixed(1)} ms`.padStart(11);
  console.log(`bench:failover  4 storage cells, R=3, a ${FILE_MIB} MiB file, mount with CELLSYNC_LOCAL=0; caches dropped + open + 4 KiB-${READ_KIB} KiB random read + close per read; ${PHASE_MS / 1000} s per phase`);
  for (const [name, phases] of results) {
    console.log(`${name}:`);
    console.log(`  ${'phase'.padEnd(30)}${'reads'.padStart(7)}${'median'.padStart(11)}${'p99'.padStart(11)}${'longest'.padStart(11)}`);
    for (const f of phases) console.log(`  ${f.phase.padEnd(30)}${String(f.reads).padStart(7)}${ms(f.medianMs)}${ms(f.p99Ms)}${ms(f.longestMs)}`);
    const worst = Math.max(...phases.slice(1).map((f) => f.longestMs));
    console.log(`  longest read with a replica dead or hung: ${worst.toFixed(0)} ms (target <= ${TARGET_MS} ms; healthy longest ${phases[0]!.longestMs.toFixed(0)} ms)`);
  }
}

main().catch((err) => {
  console.error(`bench:failover failed: ${(err as Error).message}`);
  process.exit(1);
});
