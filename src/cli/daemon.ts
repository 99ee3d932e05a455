import { spawn } from 'node:child_process';
import { closeSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CellError, makeDirs } from '../core/index.js';
import { PID_FILE, cellPid, isProcessAlive, readPid } from '../cell/index.js';

export const LOG_FILE = 'cell.log';
const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
/**
 * A daemon that has said nothing for this long while starting (neither
 * progress nor ready) is taken for hung, killed, and its start fails. Not a
 * limit on the whole start: a cell opening a large store says how far it
 * got about every second, and may take as long as it needs. Node's own
 * start on a loaded machine takes a few seconds before the first word.
 */
const START_SILENCE_MS_MAX = 30_000;
/**
 * A start that is over within this long after the child's first word prints
 * no progress (the usual case: a small cell, a mount; Node's own start before
 * that first word, seconds on a loaded machine, is not counted).
 */
const PROGRESS_QUIET_MS = 2_000;
/** Progress lines are printed at most this often, each the latest word. */
const PROGRESS_EVERY_MS = 1_000;
const STOP_TIMEOUT_MS = 10_000;

/** A daemon's log grows to this size, then the one before it is kept as <log>.1 and a new one starts. */
const LOG_BYTES_MAX = 4 * 1024 * 1024;

/**
 * How a daemon writes its log: lines stamped with the date and time, and the
 * file rotated at LOG_BYTES_MAX also while it runs (its inherited stdout keeps
 * the first file: only what escapes this log, a crash's stack, goes there).
 * In the foreground: stamped lines on stdout.
 */
export function daemonLog(logPath: string): (line: string) => void {
  const stamp = (line: string) => `${new Date().toISOString()} ${line}\n`;
  if (process.env.CELLSYNC_DAEMON_CHILD !== '1') return (line) => process.stdout.write(stamp(line));
  let fd = -1;
  let bytes = 0;
  return (line) => {
    try {
      if (fd < 0 || bytes > LOG_BYTES_MAX) {
        if (fd >= 0) {
          closeSync(fd);
          renameSync(logPath, `${logPath}.1`);
        }
        fd = openSync(logPath, 'a');
        bytes = statSync(logPath).size;
      }
      bytes += writeSync(fd, stamp(line));
    } catch {
      // A log that cannot be written (disk full) must not stop the cell.
    }
  };
}

/** What a cell started in the foreground tells its daemonizing parent once it serves. */
export interface ReadyMessage {
  ready: true;
  id: string;
  addr: string;
  pid: number;
  /** Damage the cell found in its store as it started and repaired, one line each (cellsync prints them). */
  repairs?: string[];
  /** Chunks the cell scrubs in the background (it was quarantined), if any. */
  selfScrubChunks?: number;
  /** Where its metrics are served (http://host:port/metrics), when it was given --metrics. */
  metrics?: string;
}

/** What a starting daemon tells its parent before it is ready: what it is doing (`Cell.start`'s onProgress). */
export interface ProgressMessage {
  progress: string;
}

/** What a daemon child sends its parent over IPC while it starts, then once it serves. */
export function tellParent(m: ProgressMessage | ReadyMessage | object): void {
  process.send?.(m);
}

/**
 * Prints a starting daemon's progress on stderr, as `<what>: <progress> (N s
 * since the spawn)`: nothing if the start is over within PROGRESS_QUIET_MS of
 * its first word, then the latest word at most every PROGRESS_EVERY_MS.
 */
export function progressPrinter(what: string, write: (line: string) => void = (l) => process.stderr.write(l)): (progress: string) => void {
  const startMs = Date.now();
  let firstWordMs = 0;
  let printedMs = 0;
  return (progress) => {
    const now = Date.now();
    firstWordMs ||= now;
    if (now - firstWordMs < PROGRESS_QUIET_MS || now - printedMs < PROGRESS_EVERY_MS) return;
    printedMs = now;
    write(`${what}: ${progress} (${Math.round((now - startMs) / 1000)} s)\n`);
  };
}

/**
 * Starts `cellsync cell start <args>` detached, with its output in
 * <data>/cell.log, and waits until it says it is serving (or fails), for as
 * long as it keeps saying how far it got (its progress goes to onProgress,
 * by default printed on stderr). A start that fails leaves no pid file.
 */
export async function spawnCellDaemon(dataDir: string, args: string[], onProgress?: (progress: string) => void): Promise<ReadyMessage> {
  await makeDirs(dataDir);
  const what = `cell in ${dataDir}`;
  try {
    return await spawnDaemon(['cell', 'start', ...args], path.join(dataDir, LOG_FILE), what, onProgress ?? progressPrinter(what));
  } catch (err) {
    // The child is gone (spawnDaemon waits for its exit): a pid file it left names a dead process.
    const pid = await readPid(dataDir);
    if (pid !== null && !isProcessAlive(pid)) await unlink(path.join(dataDir, PID_FILE)).catch(() => undefined);
    throw err;
  }
}

/**
 * V8 flags for every CellSync process (bin/cellsync passes the same): baseline
 * machine code for a function on its first call rather than interpreting it
 * until it is hot, so a freshly started mount or cell answers its first
 * thousands of requests at close to its usual speed.
 */
export const NODE_FLAGS = ['--always-sparkplug'];

/**
 * Runs `cellsync <args>` detached with its output appended to logPath, and
 * waits for the ready message it sends over IPC once it serves; if it exits
 * first, the last line of its log is the error. Progress messages it sends
 * meanwhile go to onProgress; one that stays silent for START_SILENCE_MS_MAX
 * is killed. Settles only once the child is ready or gone.
 */
export async function spawnDaemon<T = ReadyMessage>(args: string[], logPath: string, what: string, onProgress?: (progress: string) => void): Promise<T> {
  if (((await stat(logPath).catch(() => null))?.size ?? 0) > LOG_BYTES_MAX) await rename(logPath, `${logPath}.1`);
  const log = await open(logPath, 'a');
  // Only what this start writes can say why it failed: an earlier run's last line would be a stale answer.
  const logStart = (await log.stat()).size;
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN, ...args], {
    detached: true,
    stdio: ['ignore', log.fd, log.fd, 'ipc'],
    env: { ...process.env, CELLSYNC_DAEMON_CHILD: '1' },
  });
  await log.close();
  try {
    return await new Promise<T>((resolve, reject) => {
      let lastWord = 'nothing';
      let silent: Error | null = null;
      const onSilence = () => {
        silent = new CellError('TIMEOUT', `${what} said nothing for ${START_SILENCE_MS_MAX / 1000} s while starting (last: ${lastWord}), so it was stopped; see ${logPath}`);
        child.kill('SIGKILL');
      };
      let timer = setTimeout(onSilence, START_SILENCE_MS_MAX);
      child.on('message', (m: unknown) => {
        clearTimeout(timer);
        if (typeof m === 'object' && m !== null && typeof (m as ProgressMessage).progress === 'string') {
          lastWord = (m as ProgressMessage).progress;
          onProgress?.(lastWord);
          timer = setTimeout(onSilence, START_SILENCE_MS_MAX);
          return;
        }
        child.removeAllListeners('exit');
        resolve(m as T);
      });
      child.once('exit', async (code, signal) => {
        clearTimeout(timer);
        if (silent) return reject(silent);
        const written = (await readFile(logPath).catch(() => Buffer.alloc(0))).subarray(logStart).toString('utf8');
        const tail = written.trim().split('\n').slice(-1)[0] ?? '';
        const said = tail.replace(/^cellsync: /, '');
        if (signal) reject(new CellError('BAD_CONFIG', `${what} was killed by ${signal} before it served${said ? ` (its last line: ${said})` : ''}; see ${logPath}`));
        else reject(new CellError('BAD_CONFIG', said || `${what} exited with code ${code} before it served; see ${logPath}`));
      });
    });
  } finally {
    child.removeAllListeners();
    if (child.connected) child.disconnect();
    child.unref();
  }
}

/** SIGTERM the cell of a data dir and wait for it to exit (SIGKILL after a timeout). Returns its pid, or null if none ran. */
export async function stopCellDaemon(dataDir: string): Promise<number | null> {
  const pid = await cellPid(dataDir);
  if (pid === null) return null;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 200));
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return pid;
}
