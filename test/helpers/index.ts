import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isProcessAlive } from '../../src/cell/index.js';
import { defaultConfig, isChunkKey } from '../../src/core/index.js';
import { defaultFsOptions } from '../../src/mount/fs/index.js';
import type { FsckReport } from '../../src/client/index.js';

/** The repository root (tests run from dist/test/...). */
export const ROOT = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const CLI = path.join(ROOT, 'bin', 'cellsync');

/** Inverts one byte of a file in place (a corruption on disk). */
export async function flipByte(file: string, at: number): Promise<void> {
  const fh = await open(file, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0]! ^= 0xff;
  await fh.write(b, 0, 1, at);
  await fh.close();
}

/** A fresh temp dir, removed when the test ends. */
export async function tmpDir(t: ExecutionContext, prefix = 'cellsync-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion in a child process, collecting its output (killed at the timeout). */
function runChild(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/**
 * A child process whose output is watched as it comes: waitFor resolves on the first output matching re
 * (an event, not a guessed delay), or rejects if the child exits first or the deadline passes.
 */
export interface Watched {
  child: ChildProcess;
  /** Everything written to stdout so far. */
  out(): string;
  err(): string;
  waitFor(re: RegExp, timeoutMs: number, what?: string): Promise<RegExpExecArray>;
  /** The exit, with everything written. */
  result: Promise<CliResult>;
}

/** Starts cmd (killed in teardown if still running) and watches its output; stdin stays open for `child.stdin`. */
export function watch(t: ExecutionContext, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Watched {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  const changed = () => listeners.forEach((l) => l());
  child.stdout!.on('data', (d) => {
    stdout += d;
    changed();
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
    changed();
  });
  const result = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr })));
  let closed = false;
  void result.then(() => {
    closed = true;
    changed();
  });
  const waitFor = (re: RegExp, timeoutMs: number, what = String(re)) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = re.exec(stdout);
        if (m || closed || Date.now() > deadline) {
          listeners.delete(check);
          clearTimeout(timer);
          if (m) resolve(m);
          else reject(new Error(`${closed ? `${cmd} exited` : `timed out after ${timeoutMs} ms`} before ${what}\n${stdout}\n${stderr}`));
        }
      };
      const deadline = Date.now() + timeoutMs;
      const timer = setTimeout(check, timeoutMs + 1);
      listeners.add(check);
      check();
    });
  return { child, out: () => stdout, err: () => stderr, waitFor, result };
}

/** Runs a bash script as watch() does. */
export function watchSh(t: ExecutionContext, script: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Watched {
  return watch(t, 'bash', ['-c', script], opts);
}

/** Resolves when the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** Runs bin/cellsync in a child process (never in-process: the CLI owns signals and exit codes). */
export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return runChild(CLI, args, opts);
}

/**
 * Polls until fn returns a truthy value, or throws after the deadline with the last value seen. The default
 * interval is short: most conditions are a file or a status answer on this machine, cheap to ask again.
 */
export async function eventually<T>(fn: () => Promise<T> | T, timeoutMs: number, what = 'condition', intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await fn();
      if (last) return last as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${String(last)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A process that exited but was not reaped (a zombie) counts as gone. */
export const isAlive = isProcessAlive;

/** Pids of every cell whose data dir lies under home/cells. */
export async function cellPids(home: string): Promise<number[]> {
  const swarm = JSON.parse(await readFile(path.join(home, 'swarm.json'), 'utf8').catch(() => '{"cells":[]}')) as {
    cells: { data: string }[];
  };
  const pids: number[] = [];
  for (const c of swarm.cells) {
    const pid = Number((await readFile(path.join(c.data, 'cell.pid'), 'utf8').catch(() => '')).trim());
    if (pid > 0) pids.push(pid);
  }
  return pids;
}

/**
 * `swarm up` with free ports in a temp home; teardown runs `swarm down` and
 * SIGKILLs anything still alive, so a failing test leaves no daemon behind.
 */
export async function swarmUp(t: ExecutionContext, cells: number, extra: string[] = [], at?: string): Promise<string> {
  const home = at ?? path.join(await tmpDir(t), 'home');
  t.teardown(() => swarmDown(home));
  await startSwarm(home, cells, extra);
  return home;
}

async function startSwarm(home: string, cells: number, extra: string[]): Promise<void> {
  // Most scenarios are about storage: pin it, unless the test says otherwise (differentiation tests pass --role or none).
  const role = extra.includes('--role') || extra.includes('--differentiate') ? [] : ['--role', 'storage'];
  const r = await cli(['swarm', 'up', '--home', home, '--cells', String(cells), '--base-port', '0', ...role, ...extra.filter((a) => a !== '--differentiate')]);
  if (r.code !== 0) throw new Error(`swarm up failed: ${r.stderr}`);
}

/** `swarm down`, then SIGKILL for any cell still alive. */
async function swarmDown(home: string): Promise<void> {
  const pids = await cellPids(home);
  await cli(['swarm', 'down', '--home', home]).catch(() => undefined);
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * One swarm for every test of a file, started before the first and stopped after the last: for tests that
 * only mount it and use files, each in a directory of its own (mountOwnDir), where a swarm each would cost
 * its start and stop. Call at the top of the test file; the function returned gives the swarm's home.
 */
export function sharedSwarm(cells: number, extra: string[] = []): () => string {
  let dir = '';
  test.before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cellsync-test-'));
    await startSwarm(path.join(dir, 'home'), cells, extra);
  });
  test.after.always(async () => {
    if (!dir) return;
    await swarmDown(path.join(dir, 'home'));
    await rm(dir, { recursive: true, force: true });
  });
  return () => path.join(dir, 'home');
}

/**
 * Mounts home as mountSwarm does, with mnt this test's own directory in it (made by the test's first mount,
 * found by the others): tests that share a swarm do not see each other's files.
 */
export async function mountOwnDir(t: ExecutionContext, home: string, env?: NodeJS.ProcessEnv, args: string[] = []): Promise<{ mnt: string; pid: number; mountPoint: string }> {
  const m = await mountSwarm(t, home, env, args);
  const mnt = path.join(m.mnt, `test-${createHash('sha256').update(t.title).digest('hex').slice(0, 12)}`);
  if (ownDirsMade.has(t.title)) await eventually(async () => (await stat(mnt)).isDirectory(), 10_000, `${mnt} seen by this mount`);
  else await mkdir(mnt);
  ownDirsMade.add(t.title);
  return { mnt, pid: m.pid, mountPoint: m.mnt };
}
const ownDirsMade = new Set<string>();

export interface SwarmCellEntry {
  name: string;
  data: string;
  host: string;
  port: number;
}

export async function swarmCells(home: string): Promise<SwarmCellEntry[]> {
  return (JSON.parse(await readFile(path.join(home, 'swarm.json'), 'utf8')) as { cells: SwarmCellEntry[] }).cells;
}

export async function pidOf(cell: SwarmCellEntry): Promise<number> {
  return Number((await readFile(path.join(cell.data, 'cell.pid'), 'utf8')).trim());
}

/** The chunk files a cell holds on disk. */
export async function chunkFiles(cell: SwarmCellEntry): Promise<string[]> {
  const root = path.join(cell.data, 'chunks');
  const out: string[] = [];
  for (const sub of await readdir(root)) for (const f of await readdir(path.join(root, sub))) if (isChunkKey(f)) out.push(path.join(root, sub, f));
  return out;
}

/** Everything the mounts of home have logged (each mount logs into home/mounts/). */
export async function mountLogs(home: string): Promise<string> {
  const dir = path.join(home, 'mounts');
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.log'));
  return (await Promise.all(files.map((f) => readFile(path.join(dir, f), 'utf8').catch(() => '')))).join('');
}

/** Waits until a mount of home logs a line matching re. */
export async function mountLogged(home: string, re: RegExp, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => re.test(await mountLogs(home)), timeoutMs, `the mount log to match ${re}`);
}

/**
 * How long a mount may answer from attributes and directory entries it cached: the kernel keeps them for
 * libfuse's default attr_timeout and entry_timeout (1 s, the mount sets neither), the mount for its own
 * attribute TTL (FsOptions.attrTtlMs, 1 s by default). A test of how stale another mount may be waits this
 * long, plus a margin for scheduling: that wait is the behaviour under test, not a guess at an event.
 */
export const ATTR_CACHE_MS = Math.max(1_000, defaultFsOptions(defaultConfig().placement).attrTtlMs);
/** Seconds (for `sleep` in a script) after which what a mount cached before has expired. */
export function attrCacheExpiredS(marginMs = 200): number {
  return (ATTR_CACHE_MS + marginMs) / 1000;
}

/** The cells holding at least one chunk: placement, not the list's order, decides which cells hold a file's few chunks. */
export async function holders(cells: SwarmCellEntry[]): Promise<SwarmCellEntry[]> {
  const held = await Promise.all(cells.map(async (c) => (await chunkFiles(c)).length > 0));
  return cells.filter((_, i) => held[i]);
}

/** A file of random bytes in dir. */
export async function randomFile(dir: string, name: string, bytes: number): Promise<string> {
  const file = path.join(dir, name);
  const { randomBytes } = await import('node:crypto');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(file, randomBytes(bytes));
  return file;
}

/** What `fsck --json` prints. */
export type FsckJson = FsckReport;

export async function fsckJson(home: string): Promise<{ code: number; report: FsckJson }> {
  const r = await cli(['fsck', '--home', home, '--json']);
  return { code: r.code, report: JSON.parse(r.stdout) as FsckJson };
}

/** Runs a bash script in a child process (how users touch a mount: never from the mount's own process). */
export function sh(script: string, opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return runChild('bash', ['-c', script], { timeoutMs: 120_000, ...opts });
}

function isMountedNow(dir: string): boolean {
  return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
}

/**
 * Mounts the swarm of home on a fresh directory with `cellsync mount --daemon`.
 * Teardown always detaches it (lazily if something still uses it, aborting
 * the connection if its process is gone) and kills the mount process.
 */
export async function mountSwarm(t: ExecutionContext, home: string, env?: NodeJS.ProcessEnv, args: string[] = []): Promise<{ mnt: string; pid: number }> {
  const mnt = path.join(await tmpDir(t, 'cellsync-mnt-'), 'mnt');
  await mkdir(mnt);
  let pid = 0;
  t.teardown(async () => {
    // A failed test shows why the mount answered as it did: its log says why each EIO was given.
    if (!t.passed) console.error(`--- the mount's log (last lines) ---\n${(await mountLogs(home)).split('\n').slice(-60).join('\n')}`);
    if (isMountedNow(mnt)) {
      const r = await cli(['umount', mnt]);
      if (r.code !== 0) await cli(['umount', '--lazy', mnt]);
    }
    if (pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  const r = await cli(['mount', '--home', home, mnt, '--daemon', ...args], { env });
  if (r.code !== 0) throw new Error(`mount failed: ${r.stderr}`);
  pid = Number(/pid (\d+)/.exec(r.stdout)?.[1]);
  return { mnt, pid };
}
