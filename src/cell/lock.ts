import { readFileSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
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
 * One live cell per data directory: the pid file is created exclusively; a
 * pid file left by a dead process is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = path.join(dataDir, PID_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o644);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return async () => {
        if ((await readPid(dataDir)) === process.pid) await unlink(file).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = await readPid(dataDir);
      if (pid !== null && pid !== process.pid && isProcessAlive(pid)) {
        throw new CellError('DATA_DIR_IN_USE', `data dir ${dataDir} is in use by a live cell (pid ${pid})`);
      }
      await unlink(file).catch(() => {});
    }
  }
  throw new CellError('DATA_DIR_IN_USE', `could not lock ${dataDir}`);
}
