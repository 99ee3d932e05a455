import { readdir, readFile, readlink } from 'node:fs/promises';

/** Processes named in a busy-umount message; the count says how many there are in all. */
const HOLDERS_NAMED_MAX = 10;

export interface MountHolder {
  pid: number;
  /** Its command name (/proc/<pid>/comm). */
  command: string;
  /** How it holds the mount: its working directory, its root, or an open file. */
  how: 'cwd' | 'root' | 'open file';
}

/**
 * The processes that keep a mount busy: their working directory, root or an
 * open file lies under it. Read from /proc's links, which name paths without
 * touching the file system behind them (a hung mount cannot hang this).
 * Processes we may not inspect are skipped.
 */
export async function mountHolders(mountPoint: string): Promise<MountHolder[]> {
  const under = (p: string) => p === mountPoint || p.startsWith(mountPoint + '/');
  const pids = (await readdir('/proc').catch(() => [])).filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid);
  const found: MountHolder[] = [];
  for (const pid of pids) {
    const how = await holds(pid, under);
    if (!how) continue;
    const command = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
    found.push({ pid: Number(pid), command, how });
  }
  return found;
}

async function holds(pid: string, under: (p: string) => boolean): Promise<MountHolder['how'] | null> {
  const link = (p: string) => readlink(p).catch(() => '');
  if (under(await link(`/proc/${pid}/cwd`))) return 'cwd';
  if (under(await link(`/proc/${pid}/root`))) return 'root';
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
  for (const fd of fds) if (under(await link(`/proc/${pid}/fd/${fd}`))) return 'open file';
  return null;
}

/** "pid 123 (bash, cwd), pid 456 (less, open file)", the first few. */
export function describeHolders(holders: MountHolder[]): string {
  const named = holders.slice(0, HOLDERS_NAMED_MAX).map((h) => `pid ${h.pid} (${h.command}, ${h.how})`);
  return named.join(', ') + (holders.length > HOLDERS_NAMED_MAX ? ` and ${holders.length - HOLDERS_NAMED_MAX} more` : '');
}
