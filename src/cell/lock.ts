import { readFileSync } from 'node:fs';
import { open, readdir, readFile, readlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import { CellError } from '../core/index.js';

export const PID_FILE = 'cell.pid';

/**
 * True if a process with this pid runs (signal 0 probes without killing). A
 * zombie counts as gone: a daemon's parent may never reap it.
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

export async function readPid(dataDir: string): Promise<number | null> {
  try {
    const pid = Number((await readFile(path.join(dataDir, PID_FILE), 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * The pid of the cell serving a data directory, or null. The pid file's
 * process must be alive and hold that file open (a cell keeps it open while
 * it runs): a pid reused by another process after a crash or a reboot is not
 * the cell, and must not be signalled or block a start. Where /proc cannot
 * be read, the pid file is trusted.
 */
export async function cellPid(dataDir: string): Promise<number | null> {
  const pid = await readPid(dataDir);
  if (pid === null || !isProcessAlive(pid)) return null;
  const file = path.resolve(dataDir, PID_FILE);
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return pid;
  }
  for (const fd of fds) if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === file) return pid;
  return null;
}

/**
 * One live cell per data directory: the pid file is created exclusively and
 * kept open while the cell runs (see cellPid); a pid file whose process is
 * gone, or is not that cell, is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = path.join(dataDir, PID_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o644);
      await fh.writeFile(`${process.pid}\n`);
      return async () => {
        await fh.close().catch(() => {});
        if ((await readPid(dataDir)) === process.pid) await unlink(file).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = await cellPid(dataDir);
      if (pid !== null && pid !== process.pid) {
        throw new CellError('DATA_DIR_IN_USE', `data dir ${dataDir} is in use by a live cell (pid ${pid})`);
      }
      await unlink(file).catch(() => {});
    }
  }
  throw new CellError('DATA_DIR_IN_USE', `could not lock ${dataDir}`);
}
