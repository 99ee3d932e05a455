import { spawn } from 'node:child_process';
import { closeSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { open, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CellError, makeDirs } from '../core/index.js';
import { cellPid, isProcessAlive } from '../cell/index.js';

export const LOG_FILE = 'cell.log';
const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const READY_TIMEOUT_MS = 15_000;
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
  /** Where its metrics are served (http://host:port/metrics), when it was given --metrics. */
  metrics?: string;
}

/**
 * Starts `cellsync cell start <args>` detached, with its output in
 * <data>/cell.log, and waits until it says it is serving (or fails).
 */
export async function spawnCellDaemon(dataDir: string, args: string[]): Promise<ReadyMessage> {
  await makeDirs(dataDir);
  return spawnDaemon(['cell', 'start', ...args], path.join(dataDir, LOG_FILE), `cell in ${dataDir}`);
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
 * first, the last line of its log is the error.
 */
export async function spawnDaemon<T = ReadyMessage>(args: string[], logPath: string, what: string): Promise<T> {
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
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new CellError('TIMEOUT', `${what} did not start within ${READY_TIMEOUT_MS / 1000} s; see ${logPath}`));
      }, READY_TIMEOUT_MS);
      child.once('message', (m) => {
        clearTimeout(timer);
        resolve(m as T);
      });
      child.once('exit', async (code, signal) => {
        clearTimeout(timer);
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
